"""Held-out predictions for every series and the per-metric predictability summary."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from emergence.predictability.predict import PREDICTION_COLUMNS, held_out_predictions, predictability
from emergence.analysis.simulate import SIM_METRICS, simulate

SCALES = np.logspace(7, 12, 8)


def _points(sim, kind="expected"):
    meta = {"accuracy": (True, True), "edit_distance": (False, False), "multiple_choice_grade": (True, True),
            "brier_score": (False, False)}
    rows = []
    for m, (hib, prop) in meta.items():
        for x, y in zip(sim["params"], sim[f"{m}_{kind}"]):
            rows.append({"series_id": f"{m}-{kind}", "x": x, "y": y, "metric": SIM_METRICS[m],
                         "higher_is_better": hib, "proportion": prop,
                         "random_baseline": 0.25 if m == "multiple_choice_grade" else np.nan})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def mirage_predictions():
    sim = simulate(c=5e7, alpha=-0.3, length=5, n_choices=4, n_examples=1000, scales=SCALES, seed=1)
    return held_out_predictions(_points(sim))


def test_exact_match_follows_the_passuntil_law_exactly(mirage_predictions):
    """Schaeffer's accuracy p^L = exp(-L (N/c)^alpha) IS Hu et al.'s law: log(-log acc) = log L - alpha ln c
    + alpha ln N, so the log-log form predicts the held-out scale exactly with alpha_Hu = 0.3."""
    r = mirage_predictions.query("series_id == 'accuracy-expected' and form == 'loglog'").iloc[0]
    assert r["status"] == "ok" and r["preferred"]
    params = json.loads(r["params"])
    assert params["alpha"] == pytest.approx(0.3, rel=1e-6)
    assert params["log_c"] == pytest.approx(np.log(5) + 0.3 * np.log(5e7), rel=1e-6)
    assert r["abs_error"] < 1e-9 and r["curvature_class"] == "linear"


def test_forms_offered_follow_the_metric(mirage_predictions):
    forms = mirage_predictions.groupby("series_id")["form"].apply(set)
    assert forms["accuracy-expected"] == {"linear", "loglog", "sigmoid"}
    assert forms["edit_distance-expected"] == {"linear", "power_law", "power_law_offset"}
    pref = mirage_predictions[mirage_predictions["preferred"]].set_index("series_id")["form"]
    assert pref["edit_distance-expected"] == "power_law"
    assert pref["multiple_choice_grade-expected"] == "sigmoid"          # loglog n/a: the grade reaches 1.0


def test_censored_values_make_loglog_not_applicable(mirage_predictions):
    r = mirage_predictions.query("series_id == 'multiple_choice_grade-expected' and form == 'loglog'").iloc[0]
    assert r["status"].startswith("not_applicable") and "0 < y < 1" in r["status"]


def test_columns_and_errors(mirage_predictions):
    assert list(mirage_predictions.columns) == PREDICTION_COLUMNS
    ok = mirage_predictions[mirage_predictions["status"] == "ok"]
    assert np.allclose(ok["abs_error"], np.abs(ok["y_predicted"] - ok["y_actual"]))
    assert (ok["x_target"] == SCALES[-1]).all()
    assert (ok["lower"] <= ok["y_predicted"]).all() and (ok["y_predicted"] <= ok["upper"]).all()


def test_too_few_scales_and_ties():
    pts = pd.DataFrame({"series_id": ["a"] * 3 + ["b"] * 5, "x": [1e8, 1e9, 1e10, 1e8, 1e9, 1e9, 1e10, 1e11],
                        "y": [0.1, 0.2, 0.3, 1.0, 2.0, 4.0, 4.0, 5.0], "metric": "bleu", "higher_is_better": True,
                        "proportion": False})
    out = held_out_predictions(pts)
    a = out[out["series_id"] == "a"]
    assert len(a) == 1 and a["status"].iloc[0] == "too_few_scales"
    b = out[(out["series_id"] == "b") & (out["form"] == "linear")].iloc[0]
    assert b["n_scales"] == 4                                            # the two 1e9 points averaged to 3.0
    assert json.loads(b["params"])["b"] == pytest.approx(np.polyfit(np.log([1e8, 1e9, 1e10]), [1, 3, 4], 1)[0])


def test_lower_is_better_proportion_is_oriented():
    x = np.logspace(8, 11, 6)
    err = 1 - np.exp(-np.exp(3.0 - 0.2 * np.log(x)))                    # an error rate following the law
    pts = pd.DataFrame({"series_id": "e", "x": x, "y": err, "metric": "pct_stereotype", "higher_is_better": False,
                        "proportion": True})
    r = held_out_predictions(pts, forms=["loglog"]).iloc[0]
    assert r["status"] == "ok" and r["y_predicted"] == pytest.approx(err[-1], rel=1e-9)


def test_predictability_summary(mirage_predictions):
    res = predictability(mirage_predictions)
    assert set(res.by_metric["metric"]) == set(SIM_METRICS.values())
    assert set(res.by_class["metric_class"]) == {"continuous", "discontinuous"}
    acc = res.by_metric.set_index("metric").loc["exact_match"]
    assert acc["n_series"] == 1 and acc["median_abs_error"] < 1e-9
    every = predictability(mirage_predictions, form="all").by_metric
    assert {"form", "coverage"} <= set(every.columns)
    lin = predictability(mirage_predictions, form="linear").by_metric
    assert (lin["n_series"] == 1).all()


def test_bad_points():
    with pytest.raises(ValueError, match="lack column"):
        held_out_predictions(pd.DataFrame({"series_id": ["a"], "x": [1.0]}))
    pts = pd.DataFrame({"series_id": ["a"], "x": [0.0], "y": [1.0], "metric": ["loss"], "higher_is_better": [False],
                        "proportion": [False]})
    with pytest.raises(ValueError, match="x > 0"):
        held_out_predictions(pts)


def test_multi_column_key_and_unscaled_placeholder_rows():
    """The analysis core's points frame: several key columns, and a series with no scale (x NaN)."""
    x = np.logspace(8, 11, 5)
    pts = pd.DataFrame({"task": ["t"] * 5 + ["u"], "shots": pd.array([0] * 5 + [None], dtype="Int64"),
                        "x": list(x) + [np.nan], "y": list(0.1 + 0.05 * np.log(x)) + [np.nan], "metric": "bleu",
                        "higher_is_better": True, "proportion": False})
    out = held_out_predictions(pts, key=["task", "shots"])
    assert list(out.columns[:2]) == ["task", "shots"] and "series_id" not in out.columns
    assert out.loc[out["task"] == "u", "status"].tolist() == ["too_few_scales"]
    lin = out[(out["task"] == "t") & (out["form"] == "linear")].iloc[0]
    assert lin["n_scales"] == 5 and lin["abs_error"] < 1e-9
    res = predictability(out, key=["task", "shots"])
    assert res.by_metric["n_series"].tolist() == [1]
