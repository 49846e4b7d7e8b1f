"""Sigmoid in log scale (Ruan et al. 2024, Observational Scaling Laws, Eq. 7 in one variable).

``y = a / (1 + exp(-w (ln N - x0))) + b``: ``b`` the floor (e.g. the random baseline),
``a + b`` the ceiling, ``x0`` the midpoint on the ``ln N`` axis, ``w`` the steepness
(negative for a metric that falls with scale).  Ruan et al. fix the floor and ceiling of an
accuracy (random-guess baseline and 1); pass ``fixed={"a": 1 - b0, "b": b0}`` to do the same.
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit

from emergence.predictability.fits.base import ScalingFit

__all__ = ["SigmoidFit"]


class SigmoidFit(ScalingFit):
    """``y = a * expit(w (ln N - x0)) + b``, least squares on ``y``.

    References
    ----------
    Ruan, Y., Maddison, C. J., Hashimoto, T. (2024). Observational Scaling Laws and the
    Predictability of Language Model Performance. Sec. 3 / Eq. 7 (sigmoidal link with
    floor and ceiling).

    Examples
    --------
    >>> import numpy as np
    >>> N = np.logspace(7, 12, 8)
    >>> y = 0.75 / (1 + np.exp(-1.5 * (np.log(N) - 23.0))) + 0.25
    >>> f = SigmoidFit(fixed={"a": 0.75, "b": 0.25}).fit(N, y)
    >>> round(f.params_["x0"], 4), round(f.params_["w"], 4)
    (23.0, 1.5)
    """

    name = "sigmoid"
    param_names = ("a", "w", "x0", "b")
    formula = "y = a / (1 + exp(-w (ln N - x0))) + b"
    reference = "Ruan et al. 2024 (Observational Scaling Laws), Eq. 7"

    #: steepest transition allowed, per unit of ln N: 50 means 10% -> 90% within a 9% change of N,
    #: a step at any realistic spacing of model sizes (an unbounded w never converges on a step)
    w_max = 50.0

    def _bounds(self, u):
        span = float(np.ptp(u)) or 1.0
        return {"w": (-self.w_max, self.w_max), "x0": (float(u.min()) - 2 * span, float(u.max()) + 2 * span)}

    def _g(self, u, p):
        return p["a"] * expit(p["w"] * (u - p["x0"])) + p["b"]

    def _dg(self, u, p):
        s = expit(p["w"] * (u - p["x0"]))
        ds = p["a"] * s * (1 - s)
        return {"a": s, "w": ds * (u - p["x0"]), "x0": -ds * p["w"], "b": np.ones_like(u)}

    def _starts(self, u, z, y):
        lo, hi = float(np.min(y)), float(np.max(y))
        a0 = self.fixed.get("a", (hi - lo) or 1.0)
        b0 = self.fixed.get("b", lo)
        # the sign of the trend, from the ends of the series
        order = np.argsort(u)
        sign = 1.0 if y[order[-1]] >= y[order[0]] else -1.0
        span = float(np.ptp(u)) or 1.0
        starts = []
        for x0 in np.quantile(u, [0.0, 0.25, 0.5, 0.75, 1.0]).tolist() + [u.max() + 0.5 * span]:
            for w in (0.5, 1.0, 2.0, 4.0, 8.0):
                starts.append({"a": a0, "w": sign * w / span * 4, "x0": x0, "b": b0})
        return starts
