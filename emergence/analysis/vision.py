"""The vision experiment, for real (Schaeffer, Miranda & Koyejo 2023, Sec. 5).

Schaeffer et al. induce "emergence" in shallow nonlinear autoencoders (CIFAR-100) by scoring
reconstructions with a thresholded metric, ``reconstruction_c = (1/N) sum_n 1[||x_n - xhat_n||^2 < c]``,
while the mean squared error falls smoothly with model size.  We repeat it on an image set
that ships offline with scikit-learn (``sklearn.datasets.load_digits``: 1,797 8x8 digits).

Set-up (our choices, documented and fixed by the defaults)
    * pixels scaled to [0, 1] (divided by 16); a fixed train/test split (75/25,
      ``random_state=0``): 1,347 training and 450 test images, the same for every run;
    * one autoencoder per hidden width ``w``: ``MLPRegressor(hidden_layer_sizes=(w,),
      activation="tanh", solver="lbfgs", max_iter=500)`` trained to map ``x -> x`` (one
      nonlinear hidden layer, linear output); the seed sets the initial weights; the same
      fixed training budget at every width (not every width converges within it);
    * per test image the squared reconstruction error ``||x - xhat||^2`` (sum over 64 pixels).
      From these: ``mse`` (mean over images and pixels: smooth) and ``reconstruction_c`` for
      any cutoff ``c`` (sharp).  Errors are kept per image so the cutoff can be a slider.
    * BLAS is limited to one thread while fitting: faster on small matrices, and repeatable.

Results ship in ``data/vision_digits.csv`` (the default run: widths
:data:`DEFAULT_WIDTHS`, seeds :data:`DEFAULT_SEEDS`), regenerated with::

    python -m emergence.analysis.vision --out data/vision_digits.csv

Other configurations are computed on demand and cached under ``data/cache/`` (git-ignored).

References
----------
Schaeffer, R., Miranda, B., Koyejo, S. (2023). Are Emergent Abilities of Large Language
Models a Mirage? NeurIPS 2023. Sec. 5 ("Inducing emergent abilities in networks on vision
tasks"), the reconstruction_c metric.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["DEFAULT_WIDTHS", "DEFAULT_SEEDS", "DEFAULT_CUTOFFS", "SHIPPED_RESULTS", "CACHE_DIR", "load_images",
           "reconstruction_errors", "thresholded_metric", "summarise", "load_results", "main"]

REPO = Path(__file__).resolve().parents[2]
SHIPPED_RESULTS = REPO / "data" / "vision_digits.csv"
CACHE_DIR = REPO / "data" / "cache"
DEFAULT_WIDTHS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
DEFAULT_SEEDS = (0, 1, 2)
DEFAULT_CUTOFFS = (0.5, 1.0, 2.0, 4.0)
DEFAULT_CONFIG = {"activation": "tanh", "max_iter": 500, "test_size": 0.25, "split_seed": 0}
ERROR_COLUMNS = ["seed", "width", "image", "sq_error"]


def load_images() -> np.ndarray:
    """scikit-learn's digits (1,797 x 64), pixels scaled to [0, 1]."""
    from sklearn.datasets import load_digits
    return load_digits().data / 16.0


def reconstruction_errors(widths=DEFAULT_WIDTHS, seeds=DEFAULT_SEEDS, activation: str = "tanh",
                          max_iter: int = 500, test_size: float = 0.25, split_seed: int = 0,
                          progress=None) -> pd.DataFrame:
    """Train one shallow autoencoder per (seed, width); squared error of every test image.

    Parameters
    ----------
    widths : sequence of int
        Hidden-layer widths (the "model size").
    seeds : sequence of int
        Initialisation seeds (``MLPRegressor(random_state=seed)``).
    activation : {"tanh", "relu", "logistic"}
        Hidden nonlinearity.
    max_iter : int
        L-BFGS iterations per model.
    test_size : float
        Held-out share of the images (split with ``random_state=split_seed``).
    progress : callable, optional
        Called with a message per model.

    Returns
    -------
    DataFrame with ``seed, width, image`` (row index in ``load_digits()``) and ``sq_error``
    (``||x - xhat||^2`` summed over the 64 pixels).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPRegressor
    from threadpoolctl import threadpool_limits

    widths = [int(w) for w in widths]
    seeds = [int(s) for s in seeds]
    if not widths or min(widths) < 1:
        raise ValueError(f"widths must be positive integers; got {widths}")
    if not seeds:
        raise ValueError("seeds must not be empty")
    x = load_images()
    idx = np.arange(len(x))
    tr, te = train_test_split(idx, test_size=test_size, random_state=split_seed)
    frames = []
    total, i = len(seeds) * len(widths), 0
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for seed in seeds:
            for w in widths:
                i += 1
                if progress:
                    progress(f"[{i}/{total}] autoencoder width {w}, seed {seed}")
                model = MLPRegressor(hidden_layer_sizes=(w,), activation=activation, solver="lbfgs",
                                     max_iter=max_iter, random_state=seed)
                model.fit(x[tr], x[tr])
                err = ((x[te] - model.predict(x[te])) ** 2).sum(axis=1)
                frames.append(pd.DataFrame({"seed": seed, "width": w, "image": te, "sq_error": err}))
    return pd.concat(frames, ignore_index=True)[ERROR_COLUMNS]


def thresholded_metric(sq_errors, c: float) -> float:
    """``reconstruction_c = (1/N) sum_n 1[||x_n - xhat_n||^2 < c]`` (Schaeffer et al. 2023, Sec. 5)."""
    e = np.asarray(sq_errors, dtype=float)
    if e.size == 0:
        raise ValueError("no reconstruction errors given")
    if not np.isfinite(c):
        raise ValueError(f"cutoff c must be finite; got {c!r}")
    return float(np.mean(e < c))


def summarise(errors: pd.DataFrame, cutoffs=DEFAULT_CUTOFFS, n_pixels: int = 64) -> pd.DataFrame:
    """Per (seed, width): the smooth and the thresholded metric, in long form.

    Returns
    -------
    DataFrame with ``seed, width, metric, cutoff, value``: ``metric = "mse"`` (mean squared
    error per pixel, ``cutoff`` NaN) and ``metric = "reconstruction_c"`` for each cutoff.
    """
    rows = []
    for (seed, w), g in errors.groupby(["seed", "width"], sort=True):
        e = g["sq_error"].to_numpy()
        rows.append({"seed": seed, "width": w, "metric": "mse", "cutoff": np.nan, "value": float(e.mean() / n_pixels)})
        for c in cutoffs:
            rows.append({"seed": seed, "width": w, "metric": "reconstruction_c", "cutoff": float(c),
                         "value": thresholded_metric(e, c)})
    return pd.DataFrame(rows)


def _config_key(widths, seeds, config) -> str:
    blob = json.dumps({"widths": list(map(int, widths)), "seeds": list(map(int, seeds)), **config}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _read(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path)
    if list(df.columns) != ERROR_COLUMNS:
        raise ValueError(f"{path}: expected columns {ERROR_COLUMNS}; got {list(df.columns)}")
    return df


def load_results(widths=DEFAULT_WIDTHS, seeds=DEFAULT_SEEDS, *, recompute: bool = False,
                 cache_dir: Path | str | None = None, progress=None, **config) -> pd.DataFrame:
    """Per-image reconstruction errors, from the shipped file, the cache, or a fresh run.

    The default configuration is read from ``data/vision_digits.csv`` (committed); any other is
    looked up in ``cache_dir`` (default ``data/cache/``) under a key of its configuration, and
    computed and written there when absent.  ``recompute=True`` always trains.

    Returns
    -------
    DataFrame as :func:`reconstruction_errors`.
    """
    cfg = {**DEFAULT_CONFIG, **config}
    unknown = set(cfg) - set(DEFAULT_CONFIG)
    if unknown:
        raise ValueError(f"unknown configuration keys {sorted(unknown)}; allowed {sorted(DEFAULT_CONFIG)}")
    default = tuple(widths) == DEFAULT_WIDTHS and tuple(seeds) == DEFAULT_SEEDS and cfg == DEFAULT_CONFIG
    if default and not recompute and SHIPPED_RESULTS.exists():
        return _read(SHIPPED_RESULTS)
    cache = Path(cache_dir) if cache_dir is not None else CACHE_DIR
    path = cache / f"vision_digits_{_config_key(widths, seeds, cfg)}.csv"
    if path.exists() and not recompute:
        return _read(path)
    df = reconstruction_errors(widths, seeds, progress=progress, **cfg)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    df.to_csv(tmp, index=False, float_format="%.6g")
    tmp.replace(path)
    return _read(path)


def main(argv=None) -> int:
    """``python -m emergence.analysis.vision --out data/vision_digits.csv``: regenerate the shipped results."""
    ap = argparse.ArgumentParser(prog="python -m emergence.analysis.vision", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=SHIPPED_RESULTS, help="CSV to write (default: the shipped file)")
    ap.add_argument("--widths", type=int, nargs="+", default=list(DEFAULT_WIDTHS))
    ap.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    args = ap.parse_args(argv)
    t0 = time.time()
    df = reconstruction_errors(args.widths, args.seeds, progress=lambda m: print(f"{time.time() - t0:6.1f}s {m}"),
                               **DEFAULT_CONFIG)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False, float_format="%.6g")
    print(f"wrote {len(df)} rows to {args.out} in {time.time() - t0:.1f}s")
    print(summarise(df).groupby(["width", "metric", "cutoff"], dropna=False)["value"].mean()
          .unstack(["metric", "cutoff"]).round(3).to_string())
    return 0


if __name__ == "__main__":   # pragma: no cover
    raise SystemExit(main())
