"""Binomial proportion intervals: the project's one implementation of each.

Every confidence interval for a share ``k / n`` in the package comes from here: re-scored
exact match (:mod:`emergence.analysis.rescore`), PassUntil's fixed-n design (:mod:`emergence.predictability.passuntil`),
the calibration shares (:mod:`emergence.analysis.calibrate`), the replication table
(:mod:`emergence.analysis.replications`) and the error bars drawn by :mod:`emergence.app.figures`.

- :func:`wilson_interval`: the Wilson score interval (Wilson 1927, Eq. on p. 210; also Agresti and
  Coull 1998, Eq. 2), ``(p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)``.
- :func:`clopper_pearson_interval`: the exact interval (Clopper and Pearson 1934), from the Beta
  quantiles ``[B(a/2; k, n-k+1), B(1-a/2; k+1, n-k)]`` with 0 at ``k = 0`` and 1 at ``k = n``.

Both are vectorised over ``k`` and ``n`` and checked in ``tests/test_intervals.py`` against
:meth:`scipy.stats.binomtest(...).proportion_ci <scipy.stats._result_classes.BinomTestResult.proportion_ci>`.

References
----------
Wilson, E. B. (1927). Probable inference, the law of succession, and statistical inference.
JASA 22(158), 209-212.
Clopper, C. J., Pearson, E. S. (1934). The use of confidence or fiducial limits illustrated in
the case of the binomial. Biometrika 26(4), 404-413.
Agresti, A., Coull, B. A. (1998). Approximate is better than "exact" for interval estimation of
binomial proportions. The American Statistician 52(2), 119-126.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import stats

__all__ = ["WilsonInterval", "ProportionInterval", "wilson_interval", "clopper_pearson_interval", "z_two_sided"]


class WilsonInterval(NamedTuple):
    """A two-sided interval for a proportion: arrays ``low`` and ``high`` (NaN where ``n`` is unknown)."""

    low: np.ndarray
    high: np.ndarray


#: The same named pair, for intervals that are not Wilson's.
ProportionInterval = WilsonInterval


def z_two_sided(confidence: float) -> float:
    """The standard normal quantile ``z = Phi^-1(1/2 + confidence/2)`` (1.95996... at 95 %)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1); got {confidence!r}")
    return float(stats.norm.ppf(0.5 + confidence / 2))


def _check_counts(k: np.ndarray, n: np.ndarray) -> None:
    if (np.nan_to_num(k, nan=0) < 0).any() or (np.nan_to_num(k - n, nan=0) > 0).any():
        raise ValueError("need 0 <= k <= n")


def wilson_interval(k, n, confidence: float = 0.95) -> WilsonInterval:
    """Wilson score interval for a binomial proportion ``k / n`` (Wilson 1927).

    ``(p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)``, ``z`` the two-sided normal
    quantile (:func:`z_two_sided`).  Vectorised; NaN where ``n <= 0`` or unknown.  ``k`` need not
    be a whole number (a mean of 0/1 outcomes times ``n``).

    Examples
    --------
    0 successes in 10: the interval is [0, 0.2775] (not the degenerate [0, 0] of the Wald interval).

    >>> lo, hi = wilson_interval(0, 10)
    >>> round(float(lo), 4), round(float(hi), 4)
    (0.0, 0.2775)
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    z = z_two_sided(confidence)
    _check_counts(k, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        nn = np.where(n > 0, n, np.nan)
        p = k / nn
        denom = 1 + z ** 2 / nn
        centre = (p + z ** 2 / (2 * nn)) / denom
        half = z * np.sqrt(p * (1 - p) / nn + z ** 2 / (4 * nn ** 2)) / denom
    return WilsonInterval(np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1))


def clopper_pearson_interval(k, n, confidence: float = 0.95) -> ProportionInterval:
    """Exact (Clopper-Pearson 1934) interval for ``k`` successes in ``n`` whole trials.

    ``low = BetaPPF(a/2; k, n-k+1)`` (0 when ``k = 0``), ``high = BetaPPF(1-a/2; k+1, n-k)``
    (1 when ``k = n``), ``a = 1 - confidence``.  At ``k = 0`` the upper bound is
    ``1 - (a/2)^(1/n)``, about ``3.7 / n`` at 95 %.  The caller checks ``n >= 1``.

    Examples
    --------
    >>> lo, hi = clopper_pearson_interval(0, 10_000)
    >>> float(lo), round(float(hi) * 10_000, 2)
    (0.0, 3.69)
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1); got {confidence!r}")
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    _check_counts(k, n)
    a = 1 - confidence
    with np.errstate(invalid="ignore"):
        low = np.where(k > 0, stats.beta.ppf(a / 2, np.maximum(k, 1), n - k + 1), 0.0)
        high = np.where(k < n, stats.beta.ppf(1 - a / 2, k + 1, np.maximum(n - k, 1)), 1.0)
    return ProportionInterval(low, high)
