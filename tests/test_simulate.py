"""The mirage simulator: closed forms, sampling agreement, an independent token-level Monte Carlo."""
from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
from rapidfuzz.distance import Levenshtein

from emergence.analysis.simulate import SIM_METRICS, expected_metrics, long_form, per_token_probability, simulate

SCALES = np.logspace(7, 12, 12)


def test_expected_values_are_the_papers_formulas():
    """Schaeffer et al. 2023 Eqs. 1-3: CE = (N/c)^alpha, accuracy = p^L, edit distance = L (1 - p)."""
    df = simulate(c=5e7, alpha=-0.3, length=7, n_choices=4, n_examples=10, scales=SCALES, seed=0)
    ce = (SCALES / 5e7) ** -0.3
    p = np.exp(-ce)
    assert df["per_token_ce"].to_numpy() == pytest.approx(ce, rel=1e-12)
    assert df["accuracy_expected"].to_numpy() == pytest.approx(p ** 7, rel=1e-12)
    assert df["edit_distance_expected"].to_numpy() == pytest.approx(7 * (1 - p), rel=1e-12)


@pytest.mark.parametrize("k", [2, 3, 4, 5, 10])
def test_grade_is_chance_at_q0_and_one_from_q_half(k):
    ex = expected_metrics(np.array([0.0, 0.5 ** (1 / 3), 0.9, 1.0]), length=3, n_choices=k)
    g = ex["multiple_choice_grade"].to_numpy()
    assert g[0] == pytest.approx(1 / k, abs=1e-12)            # q = 0: a random guess
    assert g[1:] == pytest.approx(1.0, abs=1e-12)              # q >= 1/2: the right choice always wins


def test_two_choice_grade_golden():
    """k = 2: grade = P(D_0 > (1 - s)/2) with D_0 ~ U(0, 1), i.e. 1 - (1 - s)/2 for s < 1."""
    q = np.array([0.1, 0.2, 0.3, 0.4])
    s = q / (1 - q)
    ex = expected_metrics(q, length=1, n_choices=2)
    assert ex["multiple_choice_grade"].to_numpy() == pytest.approx(1 - (1 - s) / 2, rel=1e-12)
    # Brier golden: (1 - q)^2 (1 - 2/k + 2/(k+1)) = (1 - q)^2 * 2/3 for k = 2
    assert ex["brier_score"].to_numpy() == pytest.approx((1 - q) ** 2 * 2 / 3, rel=1e-12)


def test_sampled_agree_with_expected_within_a_few_se():
    """One large sample: every metric at every scale within 4.5 standard errors of its expectation."""
    df = simulate(c=5e7, alpha=-0.3, length=5, n_choices=4, n_examples=200_000, scales=SCALES, seed=3)
    for m in SIM_METRICS:
        se = df[f"{m}_se"].to_numpy()
        diff = np.abs(df[f"{m}_sampled"] - df[f"{m}_expected"]).to_numpy()
        assert np.all((diff <= 4.5 * se) | (diff < 1e-12)), m


def test_sampled_means_over_many_draws_converge():
    """Over 300 draws at n = 200 the mean sampled value is within 4 SE/sqrt(300) of the expectation."""
    draws = [simulate(c=5e7, alpha=-0.3, length=5, n_choices=4, n_examples=200, scales=SCALES, seed=s)
             for s in range(300)]
    ex = draws[0]
    for m in SIM_METRICS:
        mean = np.mean([d[f"{m}_sampled"].to_numpy() for d in draws], axis=0)
        tol = 4 * ex[f"{m}_se"].to_numpy() / np.sqrt(300) + 1e-12
        assert np.all(np.abs(mean - ex[f"{m}_expected"].to_numpy()) <= tol), m


def test_expectations_agree_with_independent_token_level_monte_carlo():
    """Independent Monte Carlo: build real token sequences (vocabulary of 50,000; each position right with
    probability p, else a different random token: a substitution) and score them with rapidfuzz's
    Levenshtein distance and exact string match; choice probabilities from numpy's own Dirichlet sampler."""
    rng = np.random.default_rng(2024)
    L, k, n, vocab = 4, 4, 4000, 50_000
    ps = np.array([0.3, 0.6, 0.85, 0.97])
    ex = expected_metrics(ps, length=L, n_choices=k)
    for i, p in enumerate(ps):
        target = rng.integers(0, vocab, size=(n, L))
        right = rng.random((n, L)) < p
        wrong = (target + rng.integers(1, vocab, size=(n, L))) % vocab
        pred = np.where(right, target, wrong)
        em = np.mean([list(a) == list(b) for a, b in zip(pred, target)])
        ed = np.mean([Levenshtein.distance(list(a), list(b)) for a, b in zip(pred, target)])
        se_em = np.sqrt(ex["accuracy"][i] * (1 - ex["accuracy"][i]) / n)
        se_ed = ex["edit_distance_sd"][i] / np.sqrt(n)
        assert abs(em - ex["accuracy"][i]) < 4 * se_em + 1e-9
        assert abs(ed - ex["edit_distance"][i]) < 4 * se_ed + 2e-3   # rare shifts: Levenshtein <= substitutions
        q = p ** L
        pi = q * np.eye(k)[0] + (1 - q) * rng.dirichlet(np.ones(k), size=n)
        grade = np.mean(np.argmax(pi, axis=1) == 0)
        brier = np.mean(((pi - np.eye(k)[0]) ** 2).sum(axis=1))
        g = ex["multiple_choice_grade"][i]
        assert abs(grade - g) < 4 * np.sqrt(g * (1 - g) / n) + 1e-9
        assert abs(brier - ex["brier_score"][i]) < 4 * ex["brier_score_sd"][i] / np.sqrt(n) + 1e-9


def test_finite_n_resolution_reads_zero_for_small_models():
    df = simulate(c=5e7, alpha=-0.3, length=10, n_choices=4, n_examples=50, scales=SCALES, seed=1)
    acc = df["accuracy_sampled"].to_numpy()
    assert acc[0] == 0.0 and df["accuracy_expected"].iloc[0] > 0     # below the 1/n resolution
    assert np.allclose(acc * 50, np.round(acc * 50))                   # multiples of 1/n
    assert (df["resolution"] == 1 / 50).all()


def test_seed_determinism():
    a = simulate(n_examples=500, seed=7)
    b = simulate(n_examples=500, seed=7)
    c = simulate(n_examples=500, seed=8)
    assert a.equals(b)
    assert not a["accuracy_sampled"].equals(c["accuracy_sampled"])


def test_slider_sized_call_gives_every_scale_and_metric():
    """The size the sliders redraw (20 scales x 10,000 examples) gives one finite row per scale; how long it
    takes is measured by ``python bench/bench_timings.py`` (BENCHMARKS.md), never asserted in a test."""
    scales = np.logspace(7, 12, 20)
    df = simulate(n_examples=10_000, scales=scales, seed=0)
    assert len(df) == 20 and np.allclose(df["params"], scales)
    sampled = df[[c for c in df.columns if c.endswith("_sampled")]]
    assert sampled.shape[1] == 4 and np.isfinite(sampled.to_numpy(dtype=float)).all()


def test_long_form():
    df = simulate(n_examples=100, scales=[1e8, 1e9, 1e10], seed=0)
    lf = long_form(df)
    assert len(lf) == 3 * 4 * 2
    assert set(lf["kind"]) == {"expected", "sampled"}
    assert set(lf["canonical_metric"]) == set(SIM_METRICS.values())
    cls = lf.drop_duplicates("metric").set_index("metric")["metric_class"]
    assert cls["edit_distance"] == "continuous" and cls["multiple_choice_grade"] == "discontinuous"


@pytest.mark.parametrize("kwargs,match", [
    ({"c": 0.0}, "c must be"),
    ({"alpha": np.nan}, "alpha must be finite"),
    ({"scales": [1e8, -1.0]}, "scales must be"),
    ({"scales": []}, "scales must be"),
    ({"length": 0}, "length must be"),
    ({"n_choices": 1}, "n_choices must be"),
    ({"n_choices": 40}, "n_choices must be <= 26"),
    ({"n_examples": 2.5}, "n_examples must be"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate(**kwargs)


def test_per_token_probability():
    ce, p = per_token_probability([1e9], c=1e9, alpha=-0.5)
    assert ce[0] == pytest.approx(1.0) and p[0] == pytest.approx(np.exp(-1))


def test_cli_dashboard_and_simulator_share_one_set_of_defaults():
    """`emergence simulate` with no flags, the dashboard's simulator at its defaults and simulate() are one call."""
    from emergence import cli
    from emergence.app import views
    from emergence.analysis.simulate import DEFAULTS, log_scales
    args = cli.build_parser().parse_args(["simulate"])
    assert (args.c, args.alpha, args.length, args.choices, args.n, args.seed) == (
        DEFAULTS["c"], DEFAULTS["alpha"], DEFAULTS["length"], DEFAULTS["n_choices"], DEFAULTS["n_examples"],
        DEFAULTS["seed"])
    assert log_scales(args.min_scale, args.max_scale, args.n_scales) == DEFAULTS["scales"]
    assert DEFAULTS["c"] == 10 ** DEFAULTS["log10c"]
    view = views._simulate_args(views.ViewState(page="simulator"))
    assert tuple(np.asarray(view.pop("scales"), dtype=float).tolist()) == DEFAULTS["scales"]
    assert view == {"c": DEFAULTS["c"], "alpha": DEFAULTS["alpha"], "length": DEFAULTS["length"],
                    "n_choices": DEFAULTS["n_choices"], "n_examples": DEFAULTS["n_examples"], "seed": DEFAULTS["seed"]}
    assert views.ViewState().log10c == DEFAULTS["log10c"]
    a = simulate(**{k: DEFAULTS[k] for k in ("c", "alpha", "length", "n_choices", "n_examples", "scales", "seed")})
    pd.testing.assert_frame_equal(a, simulate())
