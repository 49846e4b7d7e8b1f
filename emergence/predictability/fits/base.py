"""One base for every scaling-law fit: fitting, prediction, intervals and summaries.

The pattern follows lifelines' parametric fitters: a form (one small module each) declares
only its parameter names, its functional form and the space in which residuals are taken;
everything else lives here once.

Conventions
-----------
* ``x`` is the scale axis in absolute units (parameters N, tokens or FLOPs), ``x > 0``.
  Every form is written in ``u = ln x`` (natural log), so parameters such as the exponent
  ``alpha`` of ``log(-log PU) = log c - alpha log N`` (Hu et al. 2023, Eq. 4) keep their
  published meaning.
* A form may fit in a transformed space ``z = T(y)`` (e.g. ``log(-log y)`` for the
  PassUntil law, ``log y`` for a pure power law): least squares on ``T(y) - g(u; theta)``.
* Uncertainty: ``Cov(theta) = s^2 (J^T J)^{-1}`` with ``s^2 = RSS / (n - k)`` (the usual
  nonlinear least-squares covariance, as ``scipy.optimize.curve_fit`` with
  ``absolute_sigma=False``); a prediction's standard error in z-space comes from the delta
  method ``se(z) = sqrt(j Cov j^T)``; the confidence interval of the mean curve is
  ``z +- t_{n-k} se(z)`` and the prediction interval of a new observation
  ``z +- t_{n-k} sqrt(se(z)^2 + s^2)``, both mapped back through ``T^{-1}`` (monotone).
  With zero degrees of freedom the fit is exact and every interval is NaN.
* Parameters can be held fixed (``fixed={"a": 1.0}``), e.g. a sigmoid's floor at the random
  baseline as in Ruan et al. (2024): only the free ones are estimated.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import optimize, stats

__all__ = ["ScalingFit", "FitError"]


class FitError(RuntimeError):
    """The optimiser did not find a finite solution for this form and data."""


class ScalingFit:
    """Base of every scaling-law form.

    Subclasses set ``name``, ``param_names``, ``formula`` and ``reference`` and implement
    :meth:`_g` (the model in the fitted space) and :meth:`_starts` (initial guesses); they may
    override :meth:`_transform`, :meth:`_inverse` and :meth:`_check_y` for a transformed
    fitting space, and ``bounds`` for box constraints.

    Parameters
    ----------
    fixed : dict, optional
        Parameter name -> value held fixed during the fit.

    Attributes (after :meth:`fit`)
    ------------------------------
    params_ : dict
        Every parameter (free and fixed) -> estimate.
    cov_ : pandas.DataFrame
        Covariance of the free parameters.
    se_ : dict
        Standard error of each free parameter (0 for fixed ones).
    n_, dof_ : int
        Number of points and residual degrees of freedom ``n - k``.
    s_ : float
        Residual standard deviation in the fitted space (NaN when ``dof_ == 0``).
    converged_ : bool
        False when the optimiser stopped at its evaluation limit (a flat or drifting optimum).
    """

    name: ClassVar[str] = "base"
    param_names: ClassVar[tuple[str, ...]] = ()
    formula: ClassVar[str] = ""
    reference: ClassVar[str] = ""
    bounds: ClassVar[dict[str, tuple[float, float]]] = {}
    #: how many of the best-ranked starting points are optimised (multi-start)
    n_polish: ClassVar[int] = 2
    #: True when g is linear in the free parameters: solved in closed form
    linear: ClassVar[bool] = False

    def __init__(self, fixed: dict | None = None):
        fixed = dict(fixed or {})
        unknown = sorted(set(fixed) - set(self.param_names))
        if unknown:
            raise ValueError(f"{self.name}: cannot fix unknown parameter(s) {unknown}; "
                             f"parameters are {list(self.param_names)}")
        self.fixed = {k: float(v) for k, v in fixed.items()}
        self.free = [p for p in self.param_names if p not in self.fixed]
        self.params_: dict | None = None

    # ---- what a form declares ------------------------------------------------------
    def _g(self, u: np.ndarray, p: dict) -> np.ndarray:   # pragma: no cover - abstract
        raise NotImplementedError

    def _starts(self, u: np.ndarray, z: np.ndarray, y: np.ndarray) -> list[dict]:   # pragma: no cover
        raise NotImplementedError

    #: optional analytic derivatives: (u, params) -> {param: d g / d param}; None = numerical
    _dg = None

    def _transform(self, y: np.ndarray) -> np.ndarray:
        return y

    def _inverse(self, z: np.ndarray) -> np.ndarray:
        return z

    def _check_y(self, y: np.ndarray) -> None:
        pass

    def _bounds(self, u: np.ndarray) -> dict:
        """Box constraints of the free parameters (default: the class's ``bounds``)."""
        return self.bounds

    def _prepare(self, u: np.ndarray) -> None:
        """Hook for data-dependent constants (e.g. a centring point); called before fitting."""

    # ---- fitting ---------------------------------------------------------------------
    def fit(self, x, y, weights=None) -> "ScalingFit":
        """Fit the form to points ``(x, y)`` by (weighted) least squares in the fitted space.

        Parameters
        ----------
        x : array_like
            Scale, absolute units, all ``> 0``.
        y : array_like
            Metric values in the form's domain.
        weights : array_like, optional
            Relative weights of the squared residuals (e.g. inverse variances); the
            covariance is rescaled by the residual variance either way.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Shapes differ, ``x <= 0``, non-finite values, ``y`` outside the form's domain,
            or fewer points than free parameters.
        FitError
            No finite optimum was found.
        """
        x = np.asarray(x, dtype=float).ravel()
        y = np.asarray(y, dtype=float).ravel()
        if x.shape != y.shape:
            raise ValueError(f"{self.name}: x and y differ in length ({x.size} vs {y.size})")
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            raise ValueError(f"{self.name}: x and y must be finite; got x={x.tolist()}, y={y.tolist()}")
        if np.any(x <= 0):
            raise ValueError(f"{self.name}: the scale x must be > 0; got {x[x <= 0].tolist()}")
        k = len(self.free)
        if x.size < k:
            raise ValueError(f"{self.name}: {x.size} point(s) cannot determine {k} free parameter(s) {self.free}")
        self._check_y(y)
        w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float).ravel()
        if w.shape != x.shape or np.any(~np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"{self.name}: weights must be finite, >= 0 and one per point; got {w.tolist()}")
        u = np.log(x)
        self._prepare(u)
        z = self._transform(y)
        sw = np.sqrt(w)

        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            theta, rss, converged = self._solve(u, z, y, sw)
        self.converged_ = bool(converged)   # False: the optimiser stopped at a limit (a flat or drifting optimum)
        self.params_ = self._full(theta)
        self.n_ = int(x.size)
        self.dof_ = int(x.size - k)
        self.rss_ = rss = float(rss)
        self.s_ = float(np.sqrt(rss / self.dof_)) if self.dof_ > 0 else float("nan")
        jac = self._jacobian(u, theta) * sw[:, None]
        jtj = jac.T @ jac
        cov = np.linalg.pinv(jtj) * (self.s_ ** 2) if self.dof_ > 0 else np.full((k, k), np.nan)
        self.cov_ = pd.DataFrame(cov, index=self.free, columns=self.free)
        self.se_ = {p: (float(np.sqrt(cov[i, i])) if cov[i, i] >= 0 else float("nan"))
                    for i, p in enumerate(self.free)}
        self.se_.update({p: 0.0 for p in self.fixed})
        self.x_, self.y_ = x, y
        return self

    def _solve(self, u, z, y, sw) -> tuple[np.ndarray, float, bool]:
        """Minimise ``sum sw^2 (z - g(u; theta))^2``: (theta, rss, converged).

        Forms linear in their free parameters (``linear = True``) are solved in closed form
        (ordinary / weighted least squares); others by multi-start trust-region least squares
        (:func:`scipy.optimize.least_squares`): every start from :meth:`_starts` is ranked by
        its cost and the best ``n_polish`` are optimised.
        """
        k = len(self.free)
        if self.linear:
            g0 = self._g(u, self._full(np.zeros(k)))
            jac = self._jacobian(u, np.zeros(k))
            theta, *_ = np.linalg.lstsq(jac * sw[:, None], sw * (z - g0), rcond=None)
            r = sw * (z - self._g(u, self._full(theta)))
            return theta, float(r @ r), True
        bounds = self._bounds(u)
        lo = np.array([bounds.get(p, (-np.inf, np.inf))[0] for p in self.free])
        hi = np.array([bounds.get(p, (-np.inf, np.inf))[1] for p in self.free])

        def resid(theta):
            return sw * (z - self._g(u, self._full(theta)))

        jac = "2-point"
        if self._dg is not None:
            def jac(theta):
                d = self._dg(u, self._full(theta))
                return -sw[:, None] * np.column_stack([d[p] for p in self.free])

        ranked = []
        for start in self._starts(u, z, y):
            theta0 = np.clip(np.array([start[p] for p in self.free], dtype=float), lo + 1e-12, hi - 1e-12)
            c0 = float(np.sum(resid(theta0) ** 2))
            if np.isfinite(c0):
                ranked.append((c0, len(ranked), theta0))
        ranked.sort(key=lambda t: (t[0], t[1]))
        best = None
        for _, _, theta0 in ranked[: self.n_polish]:
            try:
                res = optimize.least_squares(resid, theta0, jac=jac, bounds=(lo, hi), x_scale="jac",
                                             xtol=1e-9, ftol=1e-9, gtol=1e-9, max_nfev=100 * (k + 1))
            except (ValueError, FloatingPointError):
                continue
            if np.all(np.isfinite(res.x)) and np.isfinite(res.cost) and (best is None or res.cost < best.cost):
                best = res
        if best is None:
            raise FitError(f"{self.name}: no finite least-squares solution for u={u.tolist()}, z={z.tolist()}")
        return best.x, 2 * best.cost, best.status > 0

    def _full(self, theta) -> dict:
        p = dict(self.fixed)
        p.update(dict(zip(self.free, (float(t) for t in theta))))
        return p

    def _jacobian(self, u, theta) -> np.ndarray:
        """d g(u; theta) / d theta: unit differences for linear forms (exact), else central differences."""
        theta = np.asarray(theta, dtype=float)
        if self.linear:
            g0 = self._g(u, self._full(np.zeros(theta.size)))
            eye = np.eye(theta.size)
            return np.column_stack([self._g(u, self._full(e)) - g0 for e in eye]) if theta.size \
                else np.zeros((np.size(u), 0))
        cols = []
        for i in range(theta.size):
            h = 1e-6 * max(1.0, abs(theta[i]))
            tp, tm = theta.copy(), theta.copy()
            tp[i] += h
            tm[i] -= h
            cols.append((self._g(u, self._full(tp)) - self._g(u, self._full(tm))) / (2 * h))
        return np.column_stack(cols) if cols else np.zeros((np.size(u), 0))

    # ---- using a fit -----------------------------------------------------------------
    def _require_fit(self):
        if self.params_ is None:
            raise RuntimeError(f"{self.name}: call fit() first")

    def predict(self, x) -> np.ndarray:
        """The fitted curve at scale(s) ``x`` (absolute units), in the metric's own units."""
        self._require_fit()
        u = np.log(np.asarray(x, dtype=float))
        return self._inverse(self._g(u, self.params_))

    def _z_se(self, x) -> tuple[np.ndarray, np.ndarray]:
        u = np.log(np.atleast_1d(np.asarray(x, dtype=float)))
        theta = np.array([self.params_[p] for p in self.free])
        j = self._jacobian(u, theta)
        cov = self.cov_.to_numpy()
        se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", j, cov, j), 0.0))
        return self._g(u, self.params_), se

    def _interval(self, x, confidence: float, extra_var: float):
        self._require_fit()
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must be in (0, 1); got {confidence}")
        z, se = self._z_se(x)
        if self.dof_ <= 0:
            nan = np.full_like(z, np.nan)
            return nan, nan
        t = stats.t.ppf(0.5 + confidence / 2, self.dof_)
        half = t * np.sqrt(se ** 2 + extra_var)
        a, b = self._inverse(z - half), self._inverse(z + half)
        return np.minimum(a, b), np.maximum(a, b)

    def confidence_interval(self, x, confidence: float = 0.95):
        """Interval of the fitted mean curve at ``x`` (delta method, Student t): (lower, upper)."""
        return self._interval(x, confidence, 0.0)

    def prediction_interval(self, x, confidence: float = 0.95):
        """Interval for a new observation at ``x``: adds the residual variance ``s^2``: (lower, upper)."""
        return self._interval(x, confidence, self.s_ ** 2 if self.dof_ > 0 else 0.0)

    def summary(self, confidence: float = 0.95) -> pd.DataFrame:
        """One row per parameter: estimate, se, Wald-t interval, whether it was held fixed."""
        self._require_fit()
        t = stats.t.ppf(0.5 + confidence / 2, self.dof_) if self.dof_ > 0 else np.nan
        rows = []
        for p in self.param_names:
            est, se = self.params_[p], self.se_[p]
            fixed = p in self.fixed
            rows.append({"form": self.name, "param": p, "estimate": est, "se": se,
                         "lower": est if fixed else est - t * se, "upper": est if fixed else est + t * se,
                         "fixed": fixed})
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        if self.params_ is None:
            return f"<{type(self).__name__} (not fitted): {self.formula}>"
        ps = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        return f"<{type(self).__name__} n={self.n_}: {ps}>"
