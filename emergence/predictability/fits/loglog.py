"""The PassUntil task scaling law (Hu et al. 2023, Eq. 4): ``log(-log y) = log c - alpha log N``.

Equivalently ``y = exp(-c N^(-alpha))``: a proportion in (0, 1) (a pass rate, an accuracy)
whose ``-log`` falls as a power law in scale.  A straight line in ``(ln N, log(-log y))``,
fitted there by least squares.
"""
from __future__ import annotations

import numpy as np

from emergence.predictability.fits.base import ScalingFit

__all__ = ["LogLogFit", "loglog_transform"]


def loglog_transform(y) -> np.ndarray:
    """``F = log(-log y)`` for proportions in (0, 1) (Hu et al. 2023, Sec. 4)."""
    y = np.asarray(y, dtype=float)
    return np.log(-np.log(y))


class LogLogFit(ScalingFit):
    """``y = exp(-exp(log_c - alpha ln N))``; fitted as ``log(-log y) = log_c - alpha ln N``.

    Parameters: ``log_c`` (natural log of Hu et al.'s ``c``) and ``alpha`` (> 0 when ``y``
    improves with scale).

    References
    ----------
    Hu, S. et al. (2023). Predicting Emergent Abilities with Infinite Resolution Evaluation
    (PassUntil). ICLR 2024. Eq. (4): ``PU(N) = exp(-c N^(-alpha))``.

    Examples
    --------
    >>> import numpy as np
    >>> N = np.array([1e8, 3e8, 1e9, 3e9])
    >>> y = np.exp(-np.exp(2.0 - 0.3 * np.log(N)))
    >>> round(LogLogFit().fit(N, y).params_["alpha"], 6)
    0.3
    """

    linear = True
    name = "loglog"
    param_names = ("log_c", "alpha")
    formula = "log(-log y) = log_c - alpha ln N"
    reference = "Hu et al. 2023 (PassUntil), Eq. 4"

    def _check_y(self, y):
        bad = (y <= 0) | (y >= 1)
        if bad.any():
            raise ValueError(f"{self.name}: log(-log y) needs 0 < y < 1; got {y[bad].tolist()} "
                             "(a 0 or 1 is censored at the metric's resolution, not a value of the law)")

    def _transform(self, y):
        return loglog_transform(y)

    def _inverse(self, z):
        return np.exp(-np.exp(z))

    def _g(self, u, p):
        return p["log_c"] - p["alpha"] * u

    def _starts(self, u, z, y):
        if u.size >= 2 and np.ptp(u) > 0:
            slope, icpt = np.polyfit(u, z, 1)
        else:
            slope, icpt = 0.0, float(np.mean(z))
        return [{"log_c": icpt, "alpha": -slope}]
