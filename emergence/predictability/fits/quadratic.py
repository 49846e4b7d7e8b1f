"""Curvature of ``F(N) = log(-log PU(N))`` against ``ln N`` (Hu et al. 2023, Sec. 5).

A straight ``F`` is ordinary scaling (the law of :mod:`.loglog`); a convex ``F`` (bending
up: improvement slows) is sub-scaling; a concave ``F`` (bending down: improvement speeds up)
is super-scaling, Hu et al.'s "accelerated emergence".  We classify by the quadratic term of

    F = q0 + q1 (u - u0) + q2 (u - u0)^2,   u = ln N,  u0 = mean of u over the fitted points

(centring only conditions the fit; ``q2`` does not depend on ``u0``).  Decision rule (ours;
the paper reads the shape by eye): the two-sided ``confidence`` t-interval of ``q2``
(standard error from the fit covariance) covers 0 -> ``linear``; otherwise ``convex`` if
``q2 > 0`` and ``concave`` if ``q2 < 0``.  Needs at least 4 points (one residual degree of
freedom); with fewer the class is ``None``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import stats

from emergence.predictability.fits.loglog import LogLogFit

__all__ = ["LogLogQuadraticFit", "Curvature", "curvature_class", "CURVATURE_LABELS"]

CURVATURE_LABELS = {
    "linear": "ordinary scaling (log(-log PU) linear in log N)",
    "convex": "sub-scaling (improvement slows)",
    "concave": "super-scaling: accelerated emergence",
}


class LogLogQuadraticFit(LogLogFit):
    """``log(-log y) = q0 + q1 (ln N - u0) + q2 (ln N - u0)^2`` for proportions in (0, 1).

    References
    ----------
    Hu, S. et al. (2023). PassUntil, Sec. 5 ("accelerated emergence": concave ``F``).
    """

    name = "loglog_quadratic"
    param_names = ("q0", "q1", "q2")
    formula = "log(-log y) = q0 + q1 (ln N - u0) + q2 (ln N - u0)^2"
    reference = "Hu et al. 2023 (PassUntil), Sec. 5"

    def _prepare(self, u):
        self.u0_ = float(np.mean(u))

    def _g(self, u, p):
        v = u - self.u0_
        return p["q0"] + p["q1"] * v + p["q2"] * v * v

    def _starts(self, u, z, y):
        v = u - self.u0_
        q2, q1, q0 = np.polyfit(v, z, 2) if np.unique(u).size >= 3 else (0.0, 0.0, float(np.mean(z)))
        return [{"q0": q0, "q1": q1, "q2": q2}]


class Curvature(NamedTuple):
    """Result of :func:`curvature_class`."""

    label: str | None      # 'linear' | 'convex' | 'concave' | None (too few points)
    q2: float              # quadratic coefficient of log(-log y) in ln N
    se: float
    lower: float
    upper: float
    n: int


def curvature_class(x, y, confidence: float = 0.95) -> Curvature:
    """Classify the shape of ``log(-log y)`` against ``ln x`` by its quadratic term.

    Parameters
    ----------
    x : array_like
        Scales (> 0).
    y : array_like
        Proportions strictly inside (0, 1), one per scale (average ties first).
    confidence : float
        Level of the t-interval of ``q2``.

    Returns
    -------
    Curvature
        ``label`` is ``'linear'`` when the interval covers 0, else ``'convex'`` (``q2 > 0``,
        sub-scaling) or ``'concave'`` (``q2 < 0``, accelerated emergence); ``None`` with
        fewer than 4 points.

    Examples
    --------
    >>> import numpy as np
    >>> N = np.logspace(7, 11, 6)
    >>> u = np.log(N)
    >>> y = np.exp(-np.exp(1.0 - 0.2 * (u - 20) - 0.05 * (u - 20) ** 2))
    >>> curvature_class(N, y).label
    'concave'
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.size < 4 or np.unique(x).size < 4:
        return Curvature(None, float("nan"), float("nan"), float("nan"), float("nan"), int(x.size))
    f = LogLogQuadraticFit().fit(x, y)
    q2, se = f.params_["q2"], f.se_["q2"]
    t = stats.t.ppf(0.5 + confidence / 2, f.dof_)
    lo, hi = q2 - t * se, q2 + t * se
    if not np.isfinite(se):
        label = None
    elif lo <= 0 <= hi:
        label = "linear"
    else:
        label = "convex" if q2 > 0 else "concave"
    return Curvature(label, float(q2), float(se), float(lo), float(hi), int(x.size))
