"""emergence.analysis.intervals against an independent reference: scipy.stats.binomtest(...).proportion_ci."""
import numpy as np
import pytest
from scipy import stats

from emergence.analysis.intervals import clopper_pearson_interval, wilson_interval, z_two_sided

CASES = [(0, 1), (0, 10), (1, 10), (5, 10), (10, 10), (3, 37), (120, 400), (0, 10_000), (9_999, 10_000), (17, 250)]


@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
@pytest.mark.parametrize("k,n", CASES)
def test_wilson_matches_scipy_binomtest(k, n, confidence):
    ref = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    lo, hi = wilson_interval(k, n, confidence)
    assert float(lo) == pytest.approx(ref.low, abs=1e-12)
    assert float(hi) == pytest.approx(ref.high, abs=1e-12)


@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
@pytest.mark.parametrize("k,n", CASES)
def test_clopper_pearson_matches_scipy_binomtest(k, n, confidence):
    ref = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="exact")
    lo, hi = clopper_pearson_interval(k, n, confidence)
    assert float(lo) == pytest.approx(ref.low, abs=1e-10)
    assert float(hi) == pytest.approx(ref.high, abs=1e-10)


def test_vectorised_equals_elementwise():
    k, n = np.array([c[0] for c in CASES]), np.array([c[1] for c in CASES])
    for f in (wilson_interval, clopper_pearson_interval):
        lo, hi = f(k, n)
        assert lo.shape == hi.shape == k.shape
        for i in range(len(k)):
            one = f(k[i], n[i])
            assert (lo[i], hi[i]) == (float(one.low), float(one.high))


def test_wilson_known_value_and_unknown_n():
    # closed form by hand: 0 of 10 at 95 %: high = z^2/n / (1 + z^2/n) = 0.27753...
    z = z_two_sided(0.95)
    assert z == pytest.approx(1.959963984540054)
    assert float(wilson_interval(0, 10).high) == pytest.approx((z * z / 10) / (1 + z * z / 10))
    lo, hi = wilson_interval([0, 0], [0, np.nan])
    assert np.isnan(lo).all() and np.isnan(hi).all()


@pytest.mark.parametrize("f", [wilson_interval, clopper_pearson_interval])
def test_bad_counts_and_levels_are_refused(f):
    with pytest.raises(ValueError, match="k <= n"):
        f(11, 10)
    with pytest.raises(ValueError, match="k <= n"):
        f(-1, 10)
    with pytest.raises(ValueError, match="confidence"):
        f(1, 10, 1.0)


def test_modules_use_the_one_implementation():
    """rescore, passuntil, calibrate and replications call emergence.analysis.intervals, not a copy of their own."""
    import inspect

    from emergence.analysis import calibrate, replications, rescore
    from emergence.predictability import passuntil
    assert rescore.wilson_interval is wilson_interval
    assert replications.wilson_interval is wilson_interval
    for mod in (rescore, passuntil, calibrate, replications):
        src = inspect.getsource(mod)
        assert "norm.ppf" not in src and "beta.ppf(a / 2, np.maximum" not in src, mod.__name__
    e = passuntil.binomial_estimate(3, 37, method="wilson")
    assert (float(e.lower), float(e.upper)) == tuple(float(x) for x in wilson_interval(3, 37))
