"""Scaling-law fits: recovery of planted parameters, reference implementations, intervals, errors."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

from emergence.predictability.fits import (FORMS, LinearLogFit, LogLogFit, LogLogQuadraticFit, PowerLawFit, PowerLawOffsetFit,
                            SigmoidFit, curvature_class)

N = np.logspace(7, 11, 9)
U = np.log(N)


def _noise(seed, sd, n=N.size):
    return np.random.default_rng(seed).normal(0, sd, n)


# (form, fixed, planted params, y from u, noise sd (additive in the fitted space), tolerance)
PLANTED = [
    (LogLogFit, None, {"log_c": 3.0, "alpha": 0.2}, lambda u, p: np.exp(-np.exp(p["log_c"] - p["alpha"] * u)), 0.02, 0.02),
    (PowerLawFit, None, {"log_a": 4.0, "b": 0.15}, lambda u, p: np.exp(p["log_a"] - p["b"] * u), 0.01, 0.02),
    (PowerLawOffsetFit, None, {"log_a": 5.0, "b": 0.3, "c": 1.7},
     lambda u, p: np.exp(p["log_a"] - p["b"] * u) + p["c"], 0.002, 0.05),
    (SigmoidFit, {"a": 0.75, "b": 0.25}, {"a": 0.75, "w": 1.5, "x0": 21.0, "b": 0.25},
     lambda u, p: p["a"] / (1 + np.exp(-p["w"] * (u - p["x0"]))) + p["b"], 0.005, 0.05),
    (SigmoidFit, None, {"a": 0.6, "w": 2.0, "x0": 20.5, "b": 0.3},
     lambda u, p: p["a"] / (1 + np.exp(-p["w"] * (u - p["x0"]))) + p["b"], 0.003, 0.1),
    (LinearLogFit, None, {"a": -1.0, "b": 0.07}, lambda u, p: p["a"] + p["b"] * u, 0.01, 0.02),
]


@pytest.mark.parametrize("form,fixed,planted,f,sd,tol", PLANTED, ids=[f"{p[0].name}{'-fixed' if p[1] else ''}"
                                                                     for p in PLANTED])
def test_fit_recovers_planted_parameters(form, fixed, planted, f, sd, tol):
    fit = form(fixed=fixed)
    y = f(U, planted)
    z = fit._transform(y) + _noise(1, sd)        # noise where the form takes its residuals
    fit.fit(N, fit._inverse(z))
    for p, v in planted.items():
        assert fit.params_[p] == pytest.approx(v, rel=tol, abs=tol), p


@pytest.mark.parametrize("form,fixed,planted,f", [(p[0], p[1], p[2], p[3]) for p in PLANTED],
                         ids=[p[0].name for p in PLANTED])
def test_noise_free_fit_is_exact_and_predicts(form, fixed, planted, f):
    fit = form(fixed=fixed).fit(N, f(U, planted))
    x_new = np.array([3e11, 1e12])
    assert fit.predict(x_new) == pytest.approx(f(np.log(x_new), planted), rel=1e-4, abs=1e-6)


def test_loglog_matches_scipy_linregress():
    """Reference: scipy.stats.linregress on (ln N, log(-log y)) -- slope, intercept and their SEs."""
    y = np.exp(-np.exp(2.5 - 0.25 * U + _noise(3, 0.05)))
    fit = LogLogFit().fit(N, y)
    ref = stats.linregress(U, np.log(-np.log(y)))
    assert fit.params_["alpha"] == pytest.approx(-ref.slope, rel=1e-8)
    assert fit.params_["log_c"] == pytest.approx(ref.intercept, rel=1e-8)
    assert fit.se_["alpha"] == pytest.approx(ref.stderr, rel=1e-5)
    assert fit.se_["log_c"] == pytest.approx(ref.intercept_stderr, rel=1e-5)


def test_loglog_prediction_interval_matches_textbook_ols():
    """Reference: the OLS prediction interval  yhat +- t s sqrt(1 + 1/n + (u0-ubar)^2 / Sxx), mapped back."""
    z = 2.5 - 0.25 * U + _noise(4, 0.05)
    fit = LogLogFit().fit(N, np.exp(-np.exp(z)))
    u0 = np.log(1e12)
    b1, b0 = np.polyfit(U, z, 1)
    s = np.sqrt(np.sum((z - (b0 + b1 * U)) ** 2) / (U.size - 2))
    half = stats.t.ppf(0.975, U.size - 2) * s * np.sqrt(1 + 1 / U.size + (u0 - U.mean()) ** 2
                                                        / np.sum((U - U.mean()) ** 2))
    lo, hi = fit.prediction_interval([1e12])
    exp_lo, exp_hi = sorted(np.exp(-np.exp([b0 + b1 * u0 - half, b0 + b1 * u0 + half])))
    assert lo[0] == pytest.approx(exp_lo, rel=1e-5)
    assert hi[0] == pytest.approx(exp_hi, rel=1e-5)
    clo, chi = fit.confidence_interval([1e12])
    assert lo[0] < clo[0] < fit.predict(1e12) < chi[0] < hi[0]


def test_power_law_offset_matches_curve_fit():
    """Reference: scipy.optimize.curve_fit (absolute_sigma=False) on the same form."""
    y = np.exp(5.0 - 0.3 * U) + 1.7 + _noise(5, 0.002)
    fit = PowerLawOffsetFit().fit(N, y)
    popt, pcov = optimize.curve_fit(lambda u, la, b, c: np.exp(la - b * u) + c, U, y, p0=[5, 0.3, 1.7])
    assert [fit.params_[p] for p in ("log_a", "b", "c")] == pytest.approx(popt, rel=1e-5)
    assert np.sqrt(np.diag(fit.cov_.to_numpy())) == pytest.approx(np.sqrt(np.diag(pcov)), rel=1e-3)


def test_loglog_prediction_interval_covers_at_nominal_rate():
    """Gaussian noise in log(-log y): the t prediction interval covers a new point ~95% of the time."""
    rng = np.random.default_rng(11)
    x_new, hits, trials = 3e11, 0, 400
    for _ in range(trials):
        z = 2.5 - 0.25 * U + rng.normal(0, 0.1, U.size)
        fit = LogLogFit().fit(N, np.exp(-np.exp(z)))
        new = np.exp(-np.exp(2.5 - 0.25 * np.log(x_new) + rng.normal(0, 0.1)))
        lo, hi = fit.prediction_interval([x_new])
        hits += lo[0] <= new <= hi[0]
    assert 0.92 <= hits / trials <= 0.98


@settings(max_examples=40, deadline=None)
@given(log_c=st.floats(-2, 6), alpha=st.floats(0.02, 0.6))
def test_loglog_recovers_any_planted_law(log_c, alpha):
    y = np.exp(-np.exp(log_c - alpha * U))
    if not np.all((y > 1e-300) & (y < 1 - 1e-12)):
        return                                   # outside double precision: nothing to fit
    fit = LogLogFit().fit(N, y)
    assert fit.params_["alpha"] == pytest.approx(alpha, abs=1e-6)
    assert fit.params_["log_c"] == pytest.approx(log_c, abs=1e-4)


@pytest.mark.parametrize("q2,label", [(0.05, "convex"), (-0.05, "concave"), (0.0, "linear")])
def test_curvature_class_of_planted_shapes(q2, label):
    v = U - U.mean()
    z = 1.0 - 0.2 * v + q2 * v ** 2 + _noise(7, 0.01)
    assert curvature_class(N, np.exp(-np.exp(z))).label == label


def test_curvature_needs_four_points_and_reports_interval():
    assert curvature_class(N[:3], np.full(3, 0.5)).label is None
    v = U - U.mean()
    res = curvature_class(N, np.exp(-np.exp(1.0 - 0.2 * v + 0.05 * v ** 2 + _noise(8, 0.01))))
    assert res.lower < res.q2 < res.upper and res.se > 0 and res.n == N.size


def test_quadratic_term_independent_of_centring():
    z = 1 + 0.1 * U + 0.02 * U ** 2
    fit = LogLogQuadraticFit().fit(N, np.exp(-np.exp(z - z.max() - 1)))
    assert fit.params_["q2"] == pytest.approx(0.02, rel=1e-6)


def test_summary_and_fixed_parameters():
    fit = SigmoidFit(fixed={"a": 0.75, "b": 0.25}).fit(N, 0.75 / (1 + np.exp(-(U - 21))) + 0.25 + _noise(9, 0.01))
    s = fit.summary()
    assert list(s["param"]) == ["a", "w", "x0", "b"]
    assert s.set_index("param").loc[["a", "b"], "fixed"].all()
    assert s.set_index("param").loc["a", "se"] == 0 and fit.dof_ == N.size - 2


def test_zero_dof_gives_nan_intervals():
    fit = LinearLogFit().fit([1e8, 1e9], [0.1, 0.2])
    lo, hi = fit.prediction_interval([1e10])
    assert np.isnan(lo[0]) and np.isnan(hi[0]) and fit.predict(1e10) == pytest.approx(0.3)


@pytest.mark.parametrize("form,x,y,match", [
    (LogLogFit, [1e8, 1e9, 1e10], [0.1, 0.0, 0.5], "0 < y < 1"),
    (LogLogFit, [1e8, 1e9, 1e10], [0.1, 1.0, 0.5], "0 < y < 1"),
    (PowerLawFit, [1e8, 1e9, 1e10], [1.0, -1.0, 0.5], "y > 0"),
    (LinearLogFit, [1e8, 0.0, 1e10], [1.0, 2.0, 3.0], "x must be > 0"),
    (LinearLogFit, [1e8, 1e9, 1e10], [1.0, np.nan, 3.0], "finite"),
    (LinearLogFit, [1e8, 1e9], [1.0, 2.0, 3.0], "differ in length"),
    (SigmoidFit, [1e8, 1e9, 1e10], [0.1, 0.2, 0.3], "cannot determine"),
])
def test_bad_input_raises_value_error_naming_what_it_got(form, x, y, match):
    with pytest.raises(ValueError, match=match):
        form().fit(x, y)


def test_unknown_fixed_parameter_and_predict_before_fit():
    with pytest.raises(ValueError, match="unknown parameter"):
        LogLogFit(fixed={"beta": 1.0})
    with pytest.raises(RuntimeError, match="fit"):
        LogLogFit().predict(1e9)


def test_registry_names_every_form():
    assert set(FORMS) == {"loglog", "power_law", "power_law_offset", "sigmoid", "linear", "loglog_quadratic"}
    for name, cls in FORMS.items():
        assert cls.name == name and cls.param_names and cls.reference
