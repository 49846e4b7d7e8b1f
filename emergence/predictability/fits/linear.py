"""Linear in log scale, ``y = a + b ln N``: the form-free baseline that fits every metric.

Used so that every series with enough scales gets one held-out prediction made the same
way, whatever its metric: the like-for-like comparison of predictability across metrics.
"""
from __future__ import annotations

import numpy as np

from emergence.predictability.fits.base import ScalingFit

__all__ = ["LinearLogFit"]


class LinearLogFit(ScalingFit):
    """``y = a + b ln N``, ordinary least squares.

    Examples
    --------
    >>> import numpy as np
    >>> N = np.array([1e6, 1e7, 1e8])
    >>> round(LinearLogFit().fit(N, 1 + 0.5 * np.log(N)).params_["b"], 6)
    0.5
    """

    linear = True
    name = "linear"
    param_names = ("a", "b")
    formula = "y = a + b ln N"
    reference = "baseline (no paper)"

    def _g(self, u, p):
        return p["a"] + p["b"] * u

    def _starts(self, u, z, y):
        slope, icpt = np.polyfit(u, z, 1) if np.ptp(u) > 0 else (0.0, float(np.mean(z)))
        return [{"a": icpt, "b": slope}]
