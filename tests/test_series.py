"""Series: cutting observations into scale series, scoring them, pairing metrics, summarising."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from emergence.ingestion.schema import OBSERVATION_COLUMNS, conform
from scipy import stats

from emergence.analysis.series import (COMPARE_COLUMNS, SERIES_COLUMNS, apply_fdr, build_series_points, compare,
                              score_observations)

SIZES = [1e8, 1e9, 1e10, 1e11]


def obs(rows: list[dict]) -> pd.DataFrame:
    """Observation rows with defaults, conformed like a parser's output."""
    base = dict(source="src", task="t", subtask="", metric="multiple_choice_grade", source_metric="acc",
                family="F", source_family="f", shots=0, prompt_variant="", variant="", value_scale="unit",
                in_scoring=True, is_final=True, source_file="x.csv")
    out = []
    for i, r in enumerate(rows):
        d = {**base, **r}
        d.setdefault("higher_is_better", d["metric"] not in ("brier_score", "edit_distance"))
        d.setdefault("row_ref", str(i))
        out.append(d)
    return conform(pd.DataFrame(out), OBSERVATION_COLUMNS, "src")


def jump(metric="multiple_choice_grade", source_metric="acc", values=(0, 0, 0, 0.5), **kw) -> list[dict]:
    return [dict(model=f"m{i}", params=p, value=v, metric=metric, source_metric=source_metric, **kw)
            for i, (p, v) in enumerate(zip(SIZES, values))]


# ----------------------------------------------------------------------------- points
def test_points_average_ties_and_keep_spread():
    rows = jump(n_examples=100) + [
        dict(model="m0", params=1e8, value=0.2, seed=1, n_examples=50),         # second seed at 1e8
        dict(model="mX", params=None, value=0.3, n_examples=100),               # no size: counted, not a point
    ]
    pts = build_series_points(obs(rows))
    first = pts.iloc[0]
    # (0 + 0.2)/2; sd of 0 and 0.2 is 0.2/sqrt(2); n is the smaller of 100 and 50
    assert (first["x"], first["y"], first["n_rows"], first["n_examples"]) == (1e8, pytest.approx(0.1), 2, 50)
    assert first["y_sd"] == pytest.approx(0.2 / math.sqrt(2))
    assert pts["x"].tolist() == SIZES and (pts["n_unscaled"] == 1).all()
    # a proportion: resolution 1 / the smallest n of the series
    assert (pts["resolution"] == 1 / 50).all() and pts["proportion"].all()


def test_points_pool_stderr_as_the_stderr_of_a_mean():
    rows = [dict(model="a", params=1e8, value=0.1, stderr=0.03, seed=1),
            dict(model="a", params=1e8, value=0.2, stderr=0.04, seed=2)]
    p = build_series_points(obs(rows)).iloc[0]
    # sqrt(0.03^2 + 0.04^2) / 2 = 0.05 / 2
    assert p["stderr"] == pytest.approx(0.025)


def test_points_percent_scale_is_put_on_the_unit_scale():
    rows = jump(values=(0, 0, 0, 50), value_scale="percent", stderr=1.0)
    pts = build_series_points(obs(rows))
    assert pts["y"].tolist() == [0, 0, 0, 0.5] and (pts["stderr"] == 0.01).all()


def test_size_axis_takes_final_checkpoints_only_and_step_axis_one_model():
    rows = jump() + [dict(model="m3", params=1e11, checkpoint_step=s, is_final=False, value=0.1 * k)
                     for k, s in enumerate([1000, 2000, 3000])]
    rows[3].update(checkpoint_step=4000)     # the final model is also the last checkpoint
    o = obs(rows)
    size = build_series_points(o, "params")
    assert size["x"].tolist() == SIZES and (size["series_model"] == "").all()
    step = build_series_points(o, "step")
    assert step["x"].tolist() == [1000, 2000, 3000, 4000] and (step["series_model"] == "m3").all()


def test_rows_kept_out_of_scoring_are_ignored():
    rows = jump() + [dict(model="dup", params=1e12, value=0.9, in_scoring=False)]
    assert build_series_points(obs(rows))["x"].tolist() == SIZES


def test_unknown_axis_raises():
    with pytest.raises(ValueError, match="axis must be one of"):
        build_series_points(obs(jump()), "bytes")


# ----------------------------------------------------------------------------- score_observations
@pytest.fixture(scope="module")
def scored():
    rows = (
        jump(n_examples=100)                                                   # flat then jump: ES 50
        + jump("brier_score", "rescored:brier_score", (0.9, 0.8, 0.7, 0.6))    # smooth, lower is better: ES 3
        + jump(task="t2", values=(0.1, 0.2, 0.3, 0.4), stderr=0.01)            # linear: ES 3, gaussian noise
        + [dict(task="t3", model=f"n{i}", flops=f, value=v)                    # no params: scored on flops
           for i, (f, v) in enumerate(zip([1e20, 1e21, 1e22, 1e23], [0.1, 0.1, 0.1, 0.6]))]
        + [dict(task="t4", model="only", params=1e9, value=0.5)]              # one scale: not scored
        + [dict(task="t5", model="c", params=1e9, checkpoint_step=s, is_final=s == 300, value=v, n_examples=200)
           for s, v in zip([100, 200, 300], [0.2, 0.3, 0.5])]
    )
    return score_observations(obs(rows), n_boot=199)


def _row(s, **kw):
    m = pd.Series(True, index=s.index)
    for k, v in kw.items():
        m &= s[k] == v
    assert m.sum() == 1, kw
    return s[m].iloc[0]


def test_series_table_columns(scored):
    assert list(scored.columns) == SERIES_COLUMNS


@pytest.mark.parametrize("kw, score, flag", [
    (dict(task="t", metric="multiple_choice_grade", scale_axis="params"), 50.0, "floored_resolution"),
    (dict(task="t", metric="brier_score", scale_axis="params"), 3.0, "ok"),
    (dict(task="t2", scale_axis="params"), 3.0, "ok"),
    # 0.1, 0.1, 0.1, 0.6 without n: squares 0, 0, 0.25, zero median floored at 1 % of the 0.5 range -> 100
    (dict(task="t3", scale_axis="flops"), 100.0, "floored_range"),
    # 0.2, 0.3, 0.5 over steps: squares 0.01, 0.04 -> median 0.025 -> 0.3 / sqrt(0.025)
    (dict(task="t5", scale_axis="step"), 0.3 / math.sqrt(0.025), "ok"),
])
def test_series_scores(scored, kw, score, flag):
    r = _row(scored, **kw)
    assert (r["emergence_score"], r["flag"]) == (pytest.approx(score), flag)


@pytest.mark.parametrize("kw, flag, n_scales, n_unscaled", [
    (dict(task="t4", scale_axis="params"), "too_few_scales", 1, 0),
    (dict(task="t3", scale_axis="params"), "no_scale", 0, 4),       # listed on params, no size at all
    (dict(task="t5", scale_axis="params"), "too_few_scales", 1, 0),  # only the final checkpoint
])
def test_unscored_series_are_listed(scored, kw, flag, n_scales, n_unscaled):
    r = _row(scored, **kw)
    assert (r["flag"], r["n_scales"], r["n_unscaled"], np.isnan(r["emergence_score"])) == (
        flag, n_scales, n_unscaled, True)


def test_flops_and_tokens_axes_only_where_the_series_has_them(scored):
    assert set(scored.loc[scored["task"] == "t", "scale_axis"]) == {"params"}
    assert set(scored.loc[scored["task"] == "t3", "scale_axis"]) == {"params", "flops"}


@pytest.mark.parametrize("kw, primary", [
    (dict(task="t", metric="multiple_choice_grade", scale_axis="params"), True),
    (dict(task="t3", scale_axis="params"), False),     # no sizes: flops is the preferred axis
    (dict(task="t3", scale_axis="flops"), True),
    (dict(task="t5", scale_axis="step"), True),
])
def test_primary_axis(scored, kw, primary):
    assert bool(_row(scored, **kw)["primary"]) is primary


def test_step_series_carries_its_model(scored):
    assert _row(scored, task="t5", scale_axis="step")["model"] == "c"
    assert _row(scored, task="t", metric="brier_score")["model"] == ""


@pytest.mark.parametrize("kw, verdict, reason_start", [
    # four sizes: a logistic has four parameters, so no scatter can be estimated from the series
    (dict(task="t", metric="multiple_choice_grade", scale_axis="params"), "insufficient", ""),
    (dict(task="t4", scale_axis="params"), "insufficient", "too few sizes: 1 < 4"),
    (dict(task="t5", scale_axis="params"), "insufficient", "too few sizes"),
    (dict(task="t5", scale_axis="step"), "insufficient", "too few sizes: 3 < 4"),
    (dict(task="t3", scale_axis="params"), "insufficient", "tested on its primary axis (flops)"),
])
def test_every_series_has_a_verdict_and_a_reason(scored, kw, verdict, reason_start):
    r = _row(scored, **kw)
    assert r["verdict"] == verdict and r["verdict_reason"].startswith(reason_start) and r["verdict_reason"]
    assert bool(r["emergent"]) is (verdict == "emergent")


def test_verdicts_are_only_computed_on_the_primary_axis(scored):
    tested = scored[scored["pre_state"].notna()]
    assert tested["primary"].all()
    assert set(scored.loc[scored["primary"], "fdr_family"]) <= {"size", "step"}
    assert (scored.loc[~scored["primary"], "fdr_family"] == "").all()


def _sharp_and_smooth_rows():
    """Twelve sizes, n = 1000: task 'jump' is flat then jumps, task 'line' rises steadily."""
    x = np.logspace(8, 11, 12)
    rows = []
    for i, xi in enumerate(x):
        rows.append(dict(task="jump", model=f"j{i}", params=xi, value=0.01 if i < 6 else 0.6, n_examples=1000))
        rows.append(dict(task="line", model=f"l{i}", params=xi, value=round(0.1 + 0.05 * i, 3), n_examples=1000))
        rows.append(dict(task="steps", model="c", params=1e9, checkpoint_step=int(xi / 1e6), is_final=i == 11,
                         value=0.01 if i < 6 else 0.6, n_examples=1000))
    return rows


def test_a_jump_is_emergent_and_a_line_smooth():
    s = score_observations(obs(_sharp_and_smooth_rows()))
    assert _row(s, task="jump", scale_axis="params")["verdict"] == "emergent"
    assert _row(s, task="line", scale_axis="params")["verdict"] == "smooth"
    assert _row(s, task="steps", scale_axis="step")["verdict"] == "emergent"


def test_fdr_families_are_separate_per_question():
    """Size-axis series and training-step series are two Benjamini-Hochberg families: each q-value
    is BH over its own family's p-values only (scipy's implementation as the reference)."""
    s = score_observations(obs(_sharp_and_smooth_rows()))
    for fam in ("size", "step"):
        f = s[(s["fdr_family"] == fam) & s["p_value"].notna() & (s["pre_state"] == "tested")]
        np.testing.assert_allclose(f["q_value"], stats.false_discovery_control(f["p_value"], method="bh"))
    assert s.loc[s["fdr_family"] == "", "q_value"].isna().all()


def test_apply_fdr_is_idempotent():
    s = score_observations(obs(_sharp_and_smooth_rows()))
    pd.testing.assert_frame_equal(apply_fdr(s)[SERIES_COLUMNS], s)


def test_score_observations_without_bootstrap():
    s = score_observations(obs(_sharp_and_smooth_rows()), n_boot=0)
    r = _row(s, task="jump", scale_axis="params")
    assert (r["p_method"], np.isnan(r["p_value"]), bool(r["emergent"])) == ("not tested", True, False)


def test_same_content_gives_the_same_p_values_whatever_else_is_scored():
    """Seeds come from each series' content: scoring it alone or with others changes nothing."""
    rows = _sharp_and_smooth_rows()
    both = score_observations(obs(rows)).set_index("series_id")
    alone = score_observations(obs([r for r in rows if r["task"] == "jump"])).set_index("series_id")
    sid = alone.index[alone["scale_axis"] == "params"][0]
    assert both.loc[sid, "p_value"] == alone.loc[sid, "p_value"]


def test_previous_p_values_are_reused_when_the_points_are_unchanged(monkeypatch):
    from emergence.analysis import verdict
    rows = _sharp_and_smooth_rows()
    first = score_observations(obs(rows))
    calls = []
    real = verdict.sharpness_pvalues
    monkeypatch.setattr(verdict, "sharpness_pvalues", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = score_observations(obs(rows), previous=first)
    assert calls == []
    pd.testing.assert_frame_equal(first, again)


def test_score_observations_empty():
    assert list(score_observations(obs([])).columns) == SERIES_COLUMNS


def test_series_ids_are_stable_and_unique(scored):
    assert scored["series_id"].is_unique
    again = score_observations(obs(jump(n_examples=100)), n_boot=0)
    assert again["series_id"].iloc[0] == _row(scored, task="t", metric="multiple_choice_grade")["series_id"]


# ----------------------------------------------------------------------------- compare
def _series_frame(rows: list[dict]) -> pd.DataFrame:
    base = dict(source="s", task="t", subtask="", family="F", shots=0, prompt_variant="", scale_axis="params",
                model="", variant="", metric_class="", higher_is_better=True, n_scales=8, emergence_score=1.0,
                flag="ok", p_value=0.5, q_value=0.5, emergent=False, series_id="")
    return pd.DataFrame([{**base, **r} for r in rows])


def test_compare_pairs_a_variant_free_metric_with_every_variant():
    # expemergence: overall acc has no variant, brier one per redist/undist file
    s = _series_frame([dict(metric="multiple_choice_grade", source_metric="acc", emergence_score=14.4),
                       dict(metric="brier_score_target", source_metric="brier", variant="redist"),
                       dict(metric="brier_score_target", source_metric="brier", variant="undist"),
                       dict(metric="multiple_choice_grade", source_metric="acc", task="alone")])
    c = compare(s)
    assert list(c.columns) == COMPARE_COLUMNS
    assert c.groupby("group_id")["variant"].first().tolist() == ["redist", "undist"]
    assert c.groupby("group_id")["metric"].apply(sorted).tolist() == [
        ["brier_score_target", "multiple_choice_grade"]] * 2
    assert "alone" not in set(c["task"])         # a group with one metric is no comparison


def test_compare_moves_tokeniser_to_metric_variant():
    s = _series_frame([dict(metric="exact_match", source_metric="rescored:exact_match"),
                       dict(metric="edit_distance", source_metric="rescored:edit_distance", variant="tokens=digits"),
                       dict(metric="edit_distance", source_metric="rescored:edit_distance",
                            variant="tokens=characters")])
    c = compare(s)
    assert c["group_id"].nunique() == 1 and len(c) == 3
    assert sorted(c["metric_variant"]) == ["", "tokens=characters", "tokens=digits"]


def test_compare_keeps_axes_and_models_apart():
    s = _series_frame([dict(metric="multiple_choice_grade", source_metric="acc"),
                       dict(metric="accuracy_norm", source_metric="acc_norm", scale_axis="step", model="m")])
    assert compare(s).empty


# ----------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def expemergence_series(shared_data):
    """expemergence's Pythia series on arithmetic, scored: the tests below read only those (their scores and pairs
    do not depend on other series; only the FDR step's q-values would, and no test here reads them)."""
    from emergence.ingestion.sources import expemergence
    obs = expemergence.parse(shared_data / "expemergence").observations
    return score_observations(obs[(obs["task"] == "arithmetic") & (obs["source_family"] == "Pythia")])


def test_expemergence_pythia_arithmetic_accuracy_is_scored(expemergence_series):
    s = expemergence_series
    acc = s[(s["task"] == "arithmetic") & (s["source_family"] == "Pythia") & (s["source_metric"] == "acc")
            & (s["scale_axis"] == "params")]
    assert len(acc) == 11 and acc["emergence_score"].notna().all()   # overall + 10 difficulty groups
    overall = acc[acc["subtask"] == ""].iloc[0]
    # Pythia 70m..12b overall acc: .108700 .311056 .339147 .369034 .364774 .385276 .390335 .403248;
    # squared steps sorted: 1.8e-5 2.6e-5 1.67e-4 4.20e-4 7.89e-4 8.93e-4 4.09e-2 -> median 4.20e-4 (the
    # 1.4b -> 2.8b step, 0.020502), range 0.294548 -> 14.3669
    assert (overall["n_scales"], overall["flag"]) == (8, "ok")
    assert overall["emergence_score"] == pytest.approx(0.294548 / 0.020502, rel=1e-4)
    assert overall["noise"] == "binomial" and overall["verdict"] in ("smooth", "insufficient", "no signal", "emergent")


def test_expemergence_same_outputs_pairs(expemergence_series):
    c = compare(expemergence_series)
    g = c[(c["task"] == "arithmetic") & (c["family"] == "Pythia") & (c["subtask"] == "")
          & (c["scale_axis"] == "params")]
    # overall acc paired with the brier (and san) of the redist and the undist files
    assert sorted(g["variant"].unique()) == ["redist", "undist"]
    assert (g.groupby("group_id")["metric"].apply(set) >= {"multiple_choice_grade", "brier_score_target"}).all()


@pytest.fixture(scope="module")
def obsscaling_series(shared_data):
    from emergence.ingestion.sources import obsscaling
    obs = obsscaling.parse(shared_data / "obsscaling").observations
    return obs, score_observations(obs)


def test_a_real_sharp_onset_is_a_format_onset_and_its_lenient_reading_is_not(obsscaling_series, shared_data):
    """Pythia-deduped on BBH snarks, chain-of-thought, strict answer matching: ~0 for 70M and 160M, then chance
    (0.5) from 410M on -- the models learn the answer format, not the task.  The verdict calls it emergent; the
    flexible-extract reading of the same outputs hovers at chance and is not.  The points are checked against
    the raw CSV with pandas."""
    obs, s = obsscaling_series
    raw = pd.read_csv(shared_data / "obsscaling" / "eval_results" / "base_llm_post_training_eval.csv")
    col = "bbh_cot_fewshot_snarks_3_exact_match,strict-match"
    want = raw[raw["Model"].str.contains("pythia-.*-deduped", regex=True)][["Model", col]].dropna()
    sel = dict(task="bbh", subtask="snarks", metric="exact_match", family="Pythia-deduped",
               prompt_variant="cot_fewshot", scale_axis="params")
    strict = _row(s, variant="strict-match", **sel)
    lenient = _row(s, variant="flexible-extract", **sel)
    pts = build_series_points(obs[(obs["task"] == "bbh") & (obs["subtask"] == "snarks")
                                  & (obs["source_metric"] == "exact_match,strict-match")
                                  & (obs["prompt_variant"] == "cot_fewshot") & (obs["family"] == "Pythia-deduped")])
    assert sorted(pts["y"].round(6)) == sorted(want[col].round(6))
    assert strict["verdict"] == "emergent" and strict["width_decades"] < 1 and strict["n_before"] >= 2
    assert lenient["verdict"] != "emergent"
