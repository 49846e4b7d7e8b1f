"""The mirage simulator (Schaeffer, Miranda & Koyejo 2023, "Are Emergent Abilities of Large
Language Models a Mirage?", Sec. 2 and 3).

A model family whose per-token cross-entropy falls as a power law in parameters ``N``
(Sec. 2, Eq. 1)::

    L_CE(N) = (N / c)^alpha,   c > 0, alpha < 0
    p(N)    = exp(-L_CE(N))                         probability of the right token

is scored on a target of ``L`` tokens, tokens independent (Sec. 2).  Per scale the simulator
returns, in expectation and as one finite sample of ``n`` test examples (Sec. 3: the
resolution is ``1/n``, so small models read exactly 0 unless ``n`` is large):

Generation task (one ``L``-token target per example)
    Each example draws its number of wrong tokens ``E ~ Binomial(L, 1 - p)`` (independent
    token errors).  **Exact match / accuracy** = ``1[E = 0]``, expectation ``p^L``
    (Schaeffer Eq. 2); the sample mean is therefore exactly ``Binomial(n, p^L) / n``.
    **Token edit distance** = ``E`` under a substitution-only model (a wrong token is one
    substitution; no insertions or deletions), expectation ``L (1 - p)`` (Schaeffer Eq. 3).
    Both metrics are computed from the same per-example draws, as they would be from the
    same model outputs.

Multiple-choice task (``k = n_choices`` answers, the right one ``L`` tokens long)
    Schaeffer et al. re-score BIG-bench but give no closed-form model for this case; the
    project's model (our choice, documented here and tested): the model's normalised
    choice probabilities for one example are ::

        pi = q * e_right + (1 - q) * D,    q = p^L,   D ~ Dirichlet(1, ..., 1) over all k choices

    i.e. the model puts the sequence probability of the exactly-right answer, ``q``, on the
    right choice and spreads the rest at random over all ``k`` choices (so a model with
    ``q = 0`` guesses: grade ``1/k``).  **Multiple choice grade** = ``1[argmax pi = right]``
    (a threshold, discontinuous); **Brier score** (multi-class, as in METHODS §4)
    ``sum_j (pi_j - 1[j = right])^2`` (continuous in ``pi``).  Closed forms, with
    ``s = q / (1 - q)`` and ``m = k - 1``:

        E[grade] = sum_{j=0}^{m} (-1)^j C(m, j) (1 - j s)_+^m / (1 + j)
        E[Brier] = (1 - q)^2 (1 - 2/k + 2/(k + 1))

    (derivation: given ``D_right = d`` the other shares are ``(1 - d)`` times a uniform
    spacing of ``m`` pieces, whose maximum has CDF ``sum_j (-1)^j C(m,j)(1 - j t)_+^{m-1}``;
    integrating over ``d ~ Beta(1, m)`` gives the sum.  ``Var(Brier) = (1-q)^4 (Var S + 4 Var D_0)``
    with ``S = sum D_j^2``; ``Cov(S, D_0) = 0`` by symmetry.)  ``E[grade] = 1`` as soon as
    ``q >= 1/2`` while the Brier score keeps improving until ``q = 1``: the grade is the
    sharper reading of the same probabilities.

Columns ``*_se`` are the standard errors of the ``n``-example mean implied by the expected
values (what the sample should scatter by).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.special import comb

from emergence.analysis.metrics import metric_class

__all__ = ["simulate", "long_form", "per_token_probability", "expected_metrics", "DEFAULTS", "log_scales", "SIM_METRICS",
           "SIM_PAIRS", "simulated_verdicts"]

def log_scales(min_scale: float, max_scale: float, n_scales: int) -> tuple[float, ...]:
    """``n_scales`` model sizes evenly spaced in log10 from ``min_scale`` to ``max_scale`` (ends included)."""
    return tuple(np.logspace(np.log10(min_scale), np.log10(max_scale), int(n_scales)).tolist())


#: The simulator's one set of defaults (``emergence simulate``, the dashboard's simulator and a link
#: without simulator parameters all start here).  Illustrative: per-token CE from ~1.6 nats at 1e7
#: parameters to ~0.05 at 1e12.  ``c = 10**7.7`` because the dashboard sets ``c`` on a log10 slider
#: (``log10c``), and share links made before the defaults were unified open at 7.7.
#: ``scales`` is ``log_scales(min_scale, max_scale, n_scales)``.
DEFAULTS = {"c": 10 ** 7.7, "log10c": 7.7, "alpha": -0.3, "length": 5, "n_choices": 4, "n_examples": 1000,
            "min_scale": 1e7, "max_scale": 1e12, "n_scales": 20, "seed": 0}
DEFAULTS["scales"] = log_scales(DEFAULTS["min_scale"], DEFAULTS["max_scale"], DEFAULTS["n_scales"])

#: Simulated metric -> canonical metric name (emergence.analysis.metrics) of the same quantity.
SIM_METRICS = {"accuracy": "exact_match", "edit_distance": "edit_distance",
               "multiple_choice_grade": "multiple_choice_grade", "brier_score": "brier_score"}

MAX_CHOICES = 26   # the alternating closed form loses digits beyond this many choices


def per_token_probability(scales, c: float, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-token cross-entropy ``(N/c)^alpha`` and ``p = exp(-CE)`` (Schaeffer et al. 2023, Eq. 1).

    Parameters
    ----------
    scales : array_like
        Parameter counts ``N > 0``.
    c : float
        Scale constant, ``> 0``.
    alpha : float
        Exponent (``< 0`` for a loss falling with scale).

    Returns
    -------
    (ce, p) : tuple of ndarray
    """
    n = np.asarray(scales, dtype=float)
    if n.ndim != 1 or n.size == 0 or not np.all(np.isfinite(n)) or np.any(n <= 0):
        raise ValueError(f"scales must be a non-empty 1-d array of finite values > 0; got {scales!r}")
    if not (np.isfinite(c) and c > 0):
        raise ValueError(f"c must be a finite number > 0; got {c!r}")
    if not np.isfinite(alpha):
        raise ValueError(f"alpha must be finite; got {alpha!r}")
    ce = (n / c) ** alpha
    return ce, np.exp(-ce)


def _grade_expected(q: np.ndarray, k: int) -> np.ndarray:
    m = k - 1
    with np.errstate(divide="ignore"):
        s = np.where(q < 1, q / np.where(q < 1, 1 - q, 1.0), np.inf)
    out = np.zeros_like(q)
    for j in range(m + 1):
        base = np.clip(1.0 - j * s, 0.0, None) if j else np.ones_like(q)
        out += (-1) ** j * comb(m, j, exact=True) * base ** m / (1 + j)
    return np.clip(out, 0.0, 1.0)


def _dirichlet_moments(k: int) -> tuple[float, float]:
    """E and Var of ``1 - 2 D_0 + sum_j D_j^2`` for ``D ~ Dirichlet(1^k)``."""
    es = 2.0 / (k + 1)
    es2 = (4.0 * k + 20.0) / ((k + 1) * (k + 2) * (k + 3))
    var_d0 = (k - 1) / (k * k * (k + 1.0))
    return 1 - 2.0 / k + es, (es2 - es * es) + 4 * var_d0


def _check(length, n_choices, n_examples):
    for name, v, lo in (("length", length, 1), ("n_choices", n_choices, 2), ("n_examples", n_examples, 1)):
        if not (isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= lo):
            raise ValueError(f"{name} must be an integer >= {lo}; got {v!r}")
    if n_choices > MAX_CHOICES:
        raise ValueError(f"n_choices must be <= {MAX_CHOICES}; got {n_choices}")


def expected_metrics(p, length: int, n_choices: int) -> pd.DataFrame:
    """Expected per-example metrics given per-token probabilities ``p`` (no sampling).

    Returns
    -------
    DataFrame with columns ``accuracy`` (``p^L``), ``edit_distance`` (``L (1 - p)``),
    ``multiple_choice_grade``, ``brier_score`` and the per-example standard deviations
    ``*_sd`` of each.
    """
    _check(length, n_choices, 1)
    p = np.asarray(p, dtype=float)
    L, k = int(length), int(n_choices)
    q = p ** L                                     # Schaeffer Eq. 2
    ed = L * (1 - p)                               # Schaeffer Eq. 3 (substitution only)
    grade = _grade_expected(q, k)
    e_b, v_b = _dirichlet_moments(k)
    return pd.DataFrame({
        "accuracy": q, "accuracy_sd": np.sqrt(q * (1 - q)),
        "edit_distance": ed, "edit_distance_sd": np.sqrt(L * p * (1 - p)),
        "multiple_choice_grade": grade, "multiple_choice_grade_sd": np.sqrt(grade * (1 - grade)),
        "brier_score": (1 - q) ** 2 * e_b, "brier_score_sd": (1 - q) ** 2 * np.sqrt(v_b),
    })


def simulate(c: float = DEFAULTS["c"], alpha: float = DEFAULTS["alpha"], length: int = DEFAULTS["length"],
             n_choices: int = DEFAULTS["n_choices"], n_examples: int = DEFAULTS["n_examples"],
             scales=DEFAULTS["scales"], seed: int | None = DEFAULTS["seed"]) -> pd.DataFrame:
    """Simulate the mirage: one row per model scale, expected and finite-``n`` sampled metrics.

    Parameters
    ----------
    c, alpha : float
        Per-token loss power law ``L_CE(N) = (N/c)^alpha`` (Schaeffer et al. 2023, Eq. 1).
    length : int
        Target length ``L`` in tokens.
    n_choices : int
        Choices per multiple-choice question (2 .. 26).
    n_examples : int
        Test-set size ``n`` (resolution ``1/n``).
    scales : array_like
        Model sizes ``N`` (absolute parameter counts).
    seed : int or None
        Seed of ``numpy.random.default_rng``; equal seeds give equal samples.

    Returns
    -------
    pandas.DataFrame
        Columns ``params, per_token_ce, p_token, resolution`` and, for each metric in
        ``accuracy, edit_distance, multiple_choice_grade, brier_score``:
        ``<metric>_expected``, ``<metric>_sampled`` and ``<metric>_se`` (standard error of
        an ``n``-example mean).  Accuracy is exact match of the ``L``-token target.

    References
    ----------
    Schaeffer, R., Miranda, B., Koyejo, S. (2023). Are Emergent Abilities of Large Language
    Models a Mirage? NeurIPS 2023. Sec. 2 (Eqs. 1-3), Sec. 3 (test-set resolution).

    Examples
    --------
    >>> df = simulate(c=5e7, alpha=-0.3, length=5, n_choices=4, n_examples=100, scales=[1e8, 1e10], seed=0)
    >>> df["accuracy_expected"].round(4).tolist()
    [0.0172, 0.3605]
    """
    _check(length, n_choices, n_examples)
    ce, p = per_token_probability(scales, c, alpha)
    L, k, n = int(length), int(n_choices), int(n_examples)
    ex = expected_metrics(p, L, k)
    rng = np.random.default_rng(seed)
    S = p.size

    # generation task: per-example token errors, shared by exact match and edit distance
    errors = rng.binomial(L, (1 - p)[:, None], size=(S, n))
    acc_s = (errors == 0).mean(axis=1)
    ed_s = errors.mean(axis=1)

    # multiple-choice task: pi = q e_0 + (1 - q) D, D ~ Dirichlet(1^k) = E / sum(E), E iid exponential.
    # argmax pi = 0  <=>  E_0 + s * sum(E) > max_{j>0} E_j   (s = q / (1 - q));
    # Brier = (1 - q)^2 (1 - 2 D_0 + sum_j D_j^2).
    q = p ** L
    e = rng.standard_exponential(size=(S, n, k))
    tot = e.sum(axis=2)
    with np.errstate(divide="ignore"):
        s = np.where(q < 1, q / np.where(q < 1, 1 - q, 1.0), np.inf)[:, None]
    grade_s = (e[:, :, 0] + s * tot > e[:, :, 1:].max(axis=2)).mean(axis=1)
    d0 = e[:, :, 0] / tot
    sum_d2 = np.einsum("snk,snk->sn", e, e) / (tot * tot)
    brier_s = (1 - q) ** 2 * (1 - 2 * d0 + sum_d2).mean(axis=1)

    out = {"params": np.asarray(scales, dtype=float), "per_token_ce": ce, "p_token": p,
           "resolution": np.full(S, 1.0 / n)}
    sampled = {"accuracy": acc_s, "edit_distance": ed_s, "multiple_choice_grade": grade_s, "brier_score": brier_s}
    for m in SIM_METRICS:
        out[f"{m}_expected"] = ex[m].to_numpy()
        out[f"{m}_sampled"] = sampled[m]
        out[f"{m}_se"] = ex[f"{m}_sd"].to_numpy() / math.sqrt(n)
    return pd.DataFrame(out)


def long_form(sim: pd.DataFrame) -> pd.DataFrame:
    """Reshape :func:`simulate` output to one row per (scale, metric, kind) for plotting / CSV.

    Columns: ``params, p_token, metric`` (simulator name), ``canonical_metric``,
    ``metric_class`` (emergence.analysis.metrics taxonomy), ``higher_is_better``,
    ``kind`` (``expected`` | ``sampled``), ``value``, ``se``.
    """
    rows = []
    for m, canon in SIM_METRICS.items():
        for kind in ("expected", "sampled"):
            rows.append(pd.DataFrame({
                "params": sim["params"], "p_token": sim["p_token"], "metric": m, "canonical_metric": canon,
                "metric_class": metric_class(canon), "higher_is_better": m in ("accuracy", "multiple_choice_grade"),
                "kind": kind, "value": sim[f"{m}_{kind}"], "se": sim[f"{m}_se"]}))
    return pd.concat(rows, ignore_index=True)


#: the simulator's pairs: a thresholded metric and the continuous one read from the same outputs
SIM_PAIRS = (("accuracy", "edit_distance"), ("multiple_choice_grade", "brier_score"))


def simulated_verdicts(sim: pd.DataFrame, n_examples: int, n_choices: int) -> pd.DataFrame:
    """The store's own verdict and detection scale on each simulated metric's sampled curve.

    Accuracy and the grade are proportions of ``n_examples`` (binomial noise; the grade's chance
    level is ``1 / n_choices``, exact match has none); edit distance and the Brier score are means
    with their standard errors (``<metric>_se``).  One series alone has no pool: the scatter comes
    from its own residuals.  Per pair (:data:`SIM_PAIRS`) the thresholded metric's row carries the
    detection lead in decades (``>`` when it is never detected).

    Returns
    -------
    pandas.DataFrame
        One row per simulated metric: ``metric, metric_class, verdict, reason, width_decades,
        detect_x, lead_decades, lead_text, lead_over`` (the continuous metric the lead is over).
    """
    from emergence.analysis.scores import detection_scale
    from emergence.analysis.verdict import sharp_onset
    x = sim["params"].to_numpy(dtype=float)
    rows = {}
    for m, canon in SIM_METRICS.items():
        y = sim[f"{m}_sampled"].to_numpy(dtype=float)
        prop = m in ("accuracy", "multiple_choice_grade")       # higher is better; the others lower
        se = sim[f"{m}_se"].to_numpy(dtype=float)
        if prop:
            v = sharp_onset(x, y, n_examples=n_examples, metric=canon)
            d = detection_scale(x, y, n_examples=n_examples, proportion=True,
                                chance=1.0 / n_choices if m == "multiple_choice_grade" else None)
        else:
            v = sharp_onset(x, y, stderr=se, metric=canon, higher_is_better=False)
            d = detection_scale(x, y, stderr=se, metric=canon, higher_is_better=False)
        rows[m] = {"metric": m, "metric_class": metric_class(canon), "verdict": v.state, "reason": v.reason,
                   "width_decades": v.width, "detect_x": d.x, "lead_decades": np.nan, "lead_text": "",
                   "lead_over": ""}
    for a, b in SIM_PAIRS:
        da, db = rows[a]["detect_x"], rows[b]["detect_x"]
        rows[a]["lead_over"] = b
        if np.isfinite(da) and np.isfinite(db):
            rows[a]["lead_decades"] = float(np.log10(da) - np.log10(db))
            rows[a]["lead_text"] = f"{rows[a]['lead_decades']:.2g}"
        elif np.isfinite(db):
            rows[a]["lead_decades"] = float(np.log10(x.max()) - np.log10(db))
            rows[a]["lead_text"] = f"> {rows[a]['lead_decades']:.2g}"
    return pd.DataFrame(list(rows.values()))
