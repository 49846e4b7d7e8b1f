"""Power laws for loss-like metrics (lower is better): ``y = a N^(-b)`` and ``y = a N^(-b) + c``.

The pure power law is fitted as ``ln y = log_a - b ln N`` (multiplicative errors, the usual
scaling-law fit of Kaplan et al. 2020, Eq. 1.1); the form with an irreducible offset ``c``
(Hoffmann et al. 2022, Eq. 2, one variable) is fitted on ``y`` itself.
"""
from __future__ import annotations

import numpy as np
from scipy import optimize

from emergence.predictability.fits.base import FitError, ScalingFit

__all__ = ["PowerLawFit", "PowerLawOffsetFit"]


class PowerLawFit(ScalingFit):
    """``y = exp(log_a) * N^(-b)`` for ``y > 0``; least squares on ``ln y``.

    References
    ----------
    Kaplan, J. et al. (2020). Scaling Laws for Neural Language Models. Eq. (1.1):
    ``L(N) = (N_c / N)^alpha_N``.

    Examples
    --------
    >>> import numpy as np
    >>> N = np.array([1e7, 1e8, 1e9, 1e10])
    >>> round(PowerLawFit().fit(N, 50 * N ** -0.1).params_["b"], 6)
    0.1
    """

    linear = True
    name = "power_law"
    param_names = ("log_a", "b")
    formula = "y = exp(log_a) N^-b"
    reference = "Kaplan et al. 2020, Eq. 1.1"

    def _check_y(self, y):
        if np.any(y <= 0):
            raise ValueError(f"{self.name}: a power law needs y > 0; got {y[y <= 0].tolist()}")

    def _transform(self, y):
        return np.log(y)

    def _inverse(self, z):
        return np.exp(z)

    def _g(self, u, p):
        return p["log_a"] - p["b"] * u

    def _starts(self, u, z, y):
        slope, icpt = np.polyfit(u, z, 1) if np.ptp(u) > 0 else (0.0, float(np.mean(z)))
        return [{"log_a": icpt, "b": -slope}]


class PowerLawOffsetFit(ScalingFit):
    """``y = exp(log_a) * N^(-b) + c`` (irreducible term ``c``); least squares on ``y``.

    Solved by variable projection: for a given exponent ``b`` the model is linear in
    ``(A = exp(log_a), c)``, so ``b`` is found by a one-dimensional search (a log-spaced grid
    on ``b_range``, then bounded Brent refinement) with ``A > 0`` required.  An optimum at the
    edge of ``b_range`` (the data are as well fitted by a line in ``ln N``: ``b -> 0``, ``c -> -inf``)
    is reported as not converged.  Needs at least 4 points for one residual degree of freedom.

    References
    ----------
    Hoffmann, J. et al. (2022). Training Compute-Optimal Large Language Models. Eq. (2)
    (its size term ``E + A / N^alpha``).  Golub, G., Pereyra, V. (1973). The differentiation of
    pseudo-inverses and nonlinear least squares problems whose variables separate. SIAM J. Numer. Anal.
    """

    name = "power_law_offset"
    param_names = ("log_a", "b", "c")
    formula = "y = exp(log_a) N^-b + c"
    reference = "Hoffmann et al. 2022, Eq. 2 (size term)"
    b_range = (1e-3, 5.0)

    def _g(self, u, p):
        return np.exp(p["log_a"] - p["b"] * u) + p["c"]

    def _starts(self, u, z, y):   # used only when a parameter is held fixed
        lo, span = float(np.min(y)), float(np.ptp(y)) or 1.0
        starts = []
        for c in (lo - 1e-3 * span, lo - 0.1 * span, lo - span, 0.0):
            d = y - c
            if np.all(d > 0) and np.ptp(u) > 0:
                slope, icpt = np.polyfit(u, np.log(d), 1)
                starts.append({"log_a": icpt, "b": -slope, "c": c})
        return starts or [{"log_a": float(np.log(max(np.mean(np.abs(y)), 1e-12))), "b": 0.1, "c": 0.0}]

    def _project(self, b, u, z, sw):
        """Best (A, c) for a given b, and the weighted RSS (inf when A <= 0)."""
        col = np.exp(-b * (u - u.min()))              # rescaled column: A' = A exp(-b u_min)
        X = np.column_stack([col, np.ones_like(u)]) * sw[:, None]
        coef, *_ = np.linalg.lstsq(X, sw * z, rcond=None)
        if not coef[0] > 0:
            return coef, np.inf
        r = sw * z - X @ coef
        return coef, float(r @ r)

    def _solve(self, u, z, y, sw):
        if self.fixed:
            return super()._solve(u, z, y, sw)
        b_lo, b_hi = self.b_range
        grid = np.geomspace(b_lo, b_hi, 60)
        costs = np.array([self._project(b, u, z, sw)[1] for b in grid])
        if not np.isfinite(costs).any():
            raise FitError(f"{self.name}: no b in {self.b_range} gives a positive amplitude")
        i = int(np.argmin(costs))
        lo_b, hi_b = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
        res = optimize.minimize_scalar(lambda lb: self._project(np.exp(lb), u, z, sw)[1],
                                       bounds=(np.log(lo_b), np.log(hi_b)), method="bounded",
                                       options={"xatol": 1e-10})
        b = float(np.exp(res.x)) if np.isfinite(res.fun) and res.fun <= costs[i] else float(grid[i])
        coef, rss = self._project(b, u, z, sw)
        log_a = float(np.log(coef[0]) + b * u.min())
        at_edge = b <= b_lo * 1.0001 or b >= b_hi * 0.9999
        return np.array([log_a, b, float(coef[1])]), rss, not at_edge
