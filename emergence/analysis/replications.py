"""Replications on real outputs: the same model outputs under a thresholded and a continuous metric.

Pure functions over the store's DataFrames (the API wraps them; the Re-scoring page and the README
show them):

- :func:`multiplication_by_digits`: Schaeffer et al. 2023 Fig. 3 on real completions.  The
  InstructGPT completions of every product a*b (gpt3-multiplication-tables) split by operand digits,
  ``1x1``, ``1x2`` (either order) and ``2x2``: the target grows from 1 to 4 digits.  Per split and
  model: exact match (a threshold on the whole string) and character edit distance (partial credit)
  of the *same* completions, with 95 % intervals (Wilson for exact match, the per-example standard
  error for edit distance); per split and metric: the verdict (:func:`emergence.analysis.verdict.sharp_onset`)
  and the detection scale (:func:`emergence.analysis.scores.detection_scale`, the edit distance paired per
  problem against the smallest model), and the detection lead.
- :func:`pair_replication`: for one source and its metric pairs, how the verdicts combine and the
  detection leads (ExpEmergence accuracy vs Brier score, on-emergence exact match vs BERTScore and
  edit distance, inverse-scaling grade vs Brier score).

References
----------
Schaeffer, R., Miranda, B. & Koyejo, S. (2023). Are Emergent Abilities of Large Language Models a
Mirage? NeurIPS 2023, Sec. 3 (Fig. 3: exact match vs token edit distance as the target length grows).
Mukobi, G. (2022). GPT-3 Multiplication Tables (the completions).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from emergence.analysis.intervals import wilson_interval
from emergence.analysis.rescore import edit_distance, exact_match

__all__ = ["DIGIT_SPLITS", "digit_split", "multiplication_by_digits", "multiplication_verdicts", "pair_replication",
           "PAIR_REPLICATIONS"]

#: operand digits -> the target lengths (digits of a*b) it spans
DIGIT_SPLITS = {"1x1": "1-2 digits", "1x2": "2-3 digits", "2x2": "3-4 digits"}

#: the same-output comparisons the README and the Re-scoring page report: (title, source, pairs)
PAIR_REPLICATIONS = [
    ("ExpEmergence: accuracy vs Brier score", "expemergence",
     ["multiple_choice_grade|brier_score_target"]),
    ("on-emergence: exact match vs BERTScore and edit distance", "on-emergence",
     ["exact_match|bertscore", "exact_match|edit_distance"]),
    ("inverse scaling: multiple choice grade vs Brier score", "inverse-scaling-eval-pipeline",
     ["multiple_choice_grade|brier_score"]),
]


def digit_split(example_id: pd.Series) -> pd.Series:
    """``'a*b'`` -> ``'1x1'``, ``'1x2'`` or ``'2x2'`` by the operands' digits (order ignored); NA otherwise."""
    parts = example_id.astype(str).str.extract(r"^\s*(\d+)\s*\*\s*(\d+)\s*$")
    da, db = parts[0].str.len(), parts[1].str.len()
    lo, hi = np.minimum(da, db), np.maximum(da, db)
    out = lo.astype("Int64").astype(str) + "x" + hi.astype("Int64").astype(str)
    return out.where(parts[0].notna() & out.isin(list(DIGIT_SPLITS)))


def multiplication_by_digits(examples: pd.DataFrame, family: str = "InstructGPT") -> pd.DataFrame:
    """Exact match and character edit distance of the same completions, per digit split and model.

    Parameters
    ----------
    examples : pandas.DataFrame
        Rows of the examples table of gpt3-multiplication-tables (``example_id = 'a*b'``,
        ``prediction``, ``target``, ``model``, ``params``, ``family``).
    family : str
        The model family (InstructGPT: text-ada/babbage/curie-001, text-davinci-003).

    Returns
    -------
    pandas.DataFrame
        One row per (split, model): ``split, target_digits, model, params, n, exact_match,
        em_low, em_high, edit_distance, ed_se, paired_se`` (of the per-problem edit-distance
        difference from the split's smallest model), sorted by split and size.
    """
    cols = ["split", "target_digits", "model", "params", "n", "exact_match", "em_low", "em_high", "edit_distance",
            "ed_se", "paired_se"]
    if examples is None or examples.empty:
        return pd.DataFrame(columns=cols)
    ex = examples[(examples["family"] == family) & examples["params"].notna()].copy()
    if ex.empty:
        return pd.DataFrame(columns=cols)
    ex["split"] = digit_split(ex["example_id"])
    ex = ex[ex["split"].notna()]
    pred = ex["prediction"].fillna("").astype(str).tolist()
    targ = ex["target"].fillna("").astype(str).tolist()
    ex["em"] = exact_match(pred, targ)
    ex["ed"] = edit_distance(pred, targ, "characters")
    rows = []
    for split, g in ex.groupby("split", sort=True):
        small = g[g["params"] == g["params"].min()].set_index("example_id")["ed"]
        for (model, params), m in g.groupby(["model", "params"], sort=False):
            n = len(m)
            k = float(m["em"].sum())
            lo, hi = wilson_interval(k, n)
            d = (m.set_index("example_id")["ed"] - small).dropna()
            paired = float(d.std(ddof=1) / np.sqrt(d.size)) if params != g["params"].min() and d.size > 1 else np.nan
            rows.append({"split": split, "target_digits": DIGIT_SPLITS[split], "model": model, "params": float(params),
                         "n": n, "exact_match": k / n, "em_low": float(lo), "em_high": float(hi),
                         "edit_distance": float(m["ed"].mean()), "ed_se": float(m["ed"].std(ddof=1) / np.sqrt(n)),
                         "paired_se": paired})
    return pd.DataFrame(rows, columns=cols).sort_values(["split", "params"]).reset_index(drop=True)


def multiplication_verdicts(by_digits: pd.DataFrame) -> pd.DataFrame:
    """Per digit split and metric: the verdict and the detection scale; per split the detection lead.

    Returns
    -------
    pandas.DataFrame
        One row per (split, metric): ``split, metric, verdict, verdict_reason, detect_x,
        detect_against``, and per split ``lead_decades`` / ``lead_text`` (on the exact-match row:
        log10 of its detection scale minus the edit distance's, censored ``>`` when exact match is
        never detected).
    """
    from emergence.analysis.scores import detection_scale
    from emergence.analysis.verdict import sharp_onset
    cols = ["split", "metric", "verdict", "verdict_reason", "detect_x", "detect_against", "lead_decades", "lead_text"]
    rows = []
    for split, g in by_digits.groupby("split", sort=True):
        g = g.sort_values("params")
        x = g["params"].to_numpy(float)
        em = sharp_onset(x, g["exact_match"], n_examples=g["n"].to_numpy(float), metric="exact_match")
        ed = sharp_onset(x, g["edit_distance"], stderr=g["ed_se"].to_numpy(float), metric="edit_distance",
                         higher_is_better=False)
        dem = detection_scale(x, g["exact_match"].to_numpy(float), n_examples=g["n"].to_numpy(float), proportion=True)
        ded = detection_scale(x, g["edit_distance"].to_numpy(float), stderr=g["ed_se"].to_numpy(float),
                              metric="edit_distance", higher_is_better=False, paired_se=g["paired_se"].to_numpy(float))
        if np.isfinite(dem.x) and np.isfinite(ded.x):
            lead, text = float(np.log10(dem.x) - np.log10(ded.x)), ""
        elif np.isfinite(ded.x):
            lead, text = float(np.log10(x.max()) - np.log10(ded.x)), "> "
        else:
            lead, text = float("nan"), ""
        text = text + f"{lead:.2g}" if np.isfinite(lead) else ""
        rows.append({"split": split, "metric": "exact_match", "verdict": em.state, "verdict_reason": em.reason,
                     "detect_x": dem.x, "detect_against": dem.against, "lead_decades": lead, "lead_text": text})
        rows.append({"split": split, "metric": "edit_distance[tokens=characters]", "verdict": ed.state,
                     "verdict_reason": ed.reason, "detect_x": ded.x, "detect_against": ded.against,
                     "lead_decades": np.nan, "lead_text": ""})
    return pd.DataFrame(rows, columns=cols)


def pair_replication(pairs: pd.DataFrame, source: str, pair_names: list[str]) -> pd.DataFrame:
    """How the verdicts of one source's same-output pairs combine, and their detection leads
    (:func:`emergence.analysis.mirage.pair_verdicts` over that source's pairs of the named metrics)."""
    from emergence.analysis.mirage import pair_verdicts
    if pairs is None or pairs.empty:
        return pair_verdicts(pairs)
    p = pairs[(pairs["source"] == source) & pairs["pair"].isin(pair_names)]
    return pair_verdicts(p)
