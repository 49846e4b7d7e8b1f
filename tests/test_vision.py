"""The vision experiment (Schaeffer et al. 2023, Sec. 5) on scikit-learn's digits."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emergence.analysis import vision
from emergence.analysis.vision import (DEFAULT_SEEDS, DEFAULT_WIDTHS, SHIPPED_RESULTS, load_results, reconstruction_errors,
                              summarise, thresholded_metric)


@pytest.fixture(scope="module")
def small_run():
    return reconstruction_errors(widths=(1, 8, 32), seeds=(0,))


def test_shape_and_determinism(small_run):
    assert list(small_run.columns) == ["seed", "width", "image", "sq_error"]
    assert len(small_run) == 3 * 450                                  # 25% of 1,797 digits held out
    again = reconstruction_errors(widths=(8,), seeds=(0,))
    assert np.array_equal(again["sq_error"].to_numpy(), small_run.loc[small_run["width"] == 8, "sq_error"].to_numpy())


def test_smooth_mse_and_sharp_threshold(small_run):
    s = summarise(small_run, cutoffs=(1.0,))
    mse = s[s["metric"] == "mse"].set_index("width")["value"]
    rec = s[s["metric"] == "reconstruction_c"].set_index("width")["value"]
    assert mse[1] > mse[8] > mse[32]
    assert rec[1] == 0.0 and rec[32] > 0.95                             # 0 -> ~1: the induced "emergence"


@pytest.mark.parametrize("errors,c,expected", [([0.5, 1.5, 2.5, 0.9], 1.0, 0.5), ([1.0, 1.0], 1.0, 0.0),
                                               ([0.1], 1.0, 1.0), ([3.0, 0.2, 0.3], 0.25, 1 / 3)])
def test_thresholded_metric_golden(errors, c, expected):
    assert thresholded_metric(errors, c) == pytest.approx(expected)


def test_thresholded_metric_rejects_empty():
    with pytest.raises(ValueError):
        thresholded_metric([], 1.0)


def test_cache_roundtrip(tmp_path, monkeypatch):
    a = load_results(widths=(2,), seeds=(1,), cache_dir=tmp_path)
    assert len(list(tmp_path.glob("vision_digits_*.csv"))) == 1

    def boom(*args, **kwargs):
        raise AssertionError("should have read the cache")

    monkeypatch.setattr(vision, "reconstruction_errors", boom)
    b = load_results(widths=(2,), seeds=(1,), cache_dir=tmp_path)
    assert np.allclose(a["sq_error"], b["sq_error"], rtol=1e-5)
    with pytest.raises(ValueError, match="unknown configuration"):
        load_results(widths=(2,), seeds=(1,), cache_dir=tmp_path, learning_rate=0.1)


def test_shipped_results_open_at_once_and_show_the_effect(monkeypatch):
    assert SHIPPED_RESULTS.exists(), "data/vision_digits.csv: run python -m emergence.analysis.vision"
    monkeypatch.setattr(vision, "reconstruction_errors", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    df = load_results()
    assert len(df) == len(DEFAULT_WIDTHS) * len(DEFAULT_SEEDS) * 450
    s = summarise(df, cutoffs=(1.0,)).groupby(["metric", "width"])["value"].mean()
    mse = s["mse"].to_numpy()
    assert np.all(np.diff(mse) < 0)                                    # smooth, monotone in width
    rec = s["reconstruction_c"]
    assert rec[1] == 0.0 and rec[48] > 0.99


def test_shipped_results_match_a_fresh_run(small_run):
    """Identical on the machine that wrote the file (up to the CSV's 6 significant digits); 5% leaves
    room for other BLAS builds, where 500 L-BFGS steps may end slightly elsewhere."""
    shipped = pd.read_csv(SHIPPED_RESULTS)
    for w in (1, 8, 32):
        ours = small_run[small_run["width"] == w]["sq_error"].mean()
        theirs = shipped[(shipped["seed"] == 0) & (shipped["width"] == w)]["sq_error"].mean()
        assert ours == pytest.approx(theirs, rel=0.05)
