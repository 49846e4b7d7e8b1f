"""obsscaling: Observational Scaling Laws model tables (Ruan, Maddison & Hashimoto 2024).

Files ``eval_results/*.csv``, wide, one row per model:

- ``base_llm_benchmark_eval.csv`` (148 base models) and ``base_llm_benchmark_eval_sub_10b.csv`` (the
  92 of them under 10B, same columns): ``Model, Model Family, Model Size (B), Pretraining Data Size (T),
  FLOPs (1E21)`` + ``MMLU, ARC-C, HellaSwag, Winograd, TruthfulQA, GSM8K, XWinograd, HumanEval``.
- ``base_llm_emergent_capability_eval.csv`` (84): ``Model`` + ``<task>_<shots>_<metric>`` columns,
  e.g. ``ipa_transliterate_2_exact_match`` and ``ipa_transliterate_2_bleu`` (same outputs, two metrics).
- ``base_llm_leaderboard_v2_eval.csv`` (72): ``Model`` + ``leaderboard_<task>`` (lm-eval ``leaderboard_*``).
- ``base_llm_post_training_eval.csv`` (96 models, 234 value columns):
  ``<task>[_<prompt variant>]_<shots>_exact_match,<filter>[,norm]``, e.g.
  ``gsm8k_cot_self_consistency_8_exact_match,maj@5`` or
  ``bbh_cot_fewshot_date_understanding_3_exact_match,flexible-extract,norm``.
- ``instruct_llm_benchmark_eval.csv`` (27 instruct / API models, same id columns, sizes empty for API
  models) and ``instruct_llm_agent_eval.csv`` (``Model`` + AgentBench ``ABench-*`` / AgentBoard
  ``ABoard-*_PR|_SR`` columns).

Rules (see PROVENANCE.md and the README's "data issues"):

- Sizes are absolute: ``Model Size (B)`` * 1e9 params, ``Pretraining Data Size (T)`` * 1e12 tokens,
  ``FLOPs (1E21)`` * 1e21.  Files without id columns (emergent, leaderboard v2, post-training, agent)
  take family and sizes by joining on ``Model`` to the files that have them (base and instruct benchmark
  tables); a model in none of them, or with an empty size (API models), keeps ``params`` NULL and gets
  one ``no_scale`` issue unless the curated table (data/models/*.csv) knows it.
- ``base_llm_benchmark_eval_sub_10b.csv`` repeats rows of ``base_llm_benchmark_eval.csv``: the key of an
  observation does not include the file, so the repeats become ``duplicate`` issues (kept out of
  scoring), never second observations.
- Family: ``Model Family`` through :func:`emergence.ingestion.models.canonical_family`, except that ObsScaling's
  ``Pythia`` rows are the deduplicated-Pile models (``EleutherAI/pythia-*-deduped``): family
  ``Pythia-deduped`` (families that differ in training data stay apart).  ``source_family`` keeps the
  file's spelling.
- Benchmark columns (base file) follow the Open LLM Leaderboard v1 protocol (ObsScaling README, "Collecting
  Additional Benchmark Results"; the values equal the leaderboard's, e.g. Llama-2-7b GSM8K 14.48):
  MMLU 5-shot acc, ARC-C 25-shot acc_norm, HellaSwag 10-shot acc_norm, Winograd(e) 5-shot acc,
  TruthfulQA 0-shot mc2, GSM8K 5-shot exact match; HumanEval is EvalPlus pass@1 (0-shot by construction);
  XWinograd (lm-eval, protocol not stated): shots NULL.  The instruct file gathers numbers from model
  reports with mixed protocols: shots NULL, generic ``accuracy``.
- Emergent columns ``<task>_<shots>_<metric>``: ``acc`` on ``arithmetic_*`` is lm-eval's greedy-continuation
  accuracy (1 iff the greedy answer is exactly the target): ``exact_match``; ``acc`` on ``parsinlu_qa``
  (BIG-bench multiple choice) is ``multiple_choice_grade``; ``bleu`` is on 0-100 (sacreBLEU convention):
  ``value_scale = 'percent'``; everything else is on 0-1 (``'unit'``).
- Leaderboard v2 columns: raw lm-eval values on 0-1 with the leaderboard's shots and metric
  (bbh 3-shot acc_norm, gpqa 0 acc_norm, ifeval 0 strict accuracy, math_hard 4 exact match,
  mmlu_pro 5 acc, musr 0 acc_norm).
- Post-training columns: ``task`` gsm8k / bbh, ``subtask`` the BBH subtask ('' for ``overall``, the
  unweighted mean of the 27 subtasks), ``prompt_variant`` as spelled in the lm-eval task name
  (``cot_self_consistency``, ``cot_zeroshot``, ``cot``, '' for plain gsm8k; ``fewshot``, ``cot_fewshot``),
  ``variant`` the answer filter (``strict-match``, ``flexible-extract``, ``maj@5``, ...),
  ``source_metric`` the metric key after the shots (``exact_match,maj@5``).  ``,norm`` columns are
  ``(x - random) / (1 - random)`` with ObsScaling's BBH random values (utils/constants.py
  ``BBH_SUBTASKS2RANDOM_VAL``; checked: they reproduce every ``,norm`` column to 1e-15): canonical
  ``centered_accuracy`` with ``random_baseline`` 0; the raw BBH columns get that random value as
  ``random_baseline`` (``overall``: the mean of the 27).
- Agent columns: ``task`` AgentBench / AgentBoard, ``subtask`` the rest of the name; AgentBoard
  ``_SR`` (success rate) is ``accuracy``, ``_PR`` (progress rate) and AgentBench scores are ``score``
  (unclassified); all on 0-100 (``percent``) except the overall ``ABench-OA`` (``unit``, a weighted score).
- Empty cells are missing values: no observation, one ``missing_value`` issue per file and column.
- Text in a value or size column raises :class:`IngestError` naming file, row, column and value.

Protocol (:mod:`emergence.ingestion.sources.base`): detected at PRIORITY 10: a known ``eval_results/*.csv``
file name (names only); a foreign folder is never claimed.  Malformed input raises
:class:`~emergence.ingestion.schema.IngestError` naming the file, row or field and value; rows not stored or
kept out of scoring are counted in data issues.  ``source_file`` is the path under the folder given,
``row_ref`` the CSV line (1 = header).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from emergence.ingestion.models import canonical_family
from emergence.ingestion.schema import Batch, IngestError
from emergence.ingestion.sources._common import (attach_curated_sizes, finish_observations, glob_files, hash_files, issue, read_csv, rel,
                      strict_numeric)
from emergence.ingestion.sources.base import Progress

__all__ = ["NAME", "PRIORITY", "detect", "parse", "parse_column"]

NAME = "obsscaling"
PRIORITY = 10   # detection: one public repository's fixed file names (emergence.ingestion.sources.base)
SIZE_COLS = {"Model Size (B)": ("params", 1e9), "Pretraining Data Size (T)": ("tokens", 1e12),
             "FLOPs (1E21)": ("flops", 1e21)}
ID_COLS = ["Model", "Model Family", *SIZE_COLS]
SIZE_FILES = ("base_llm_benchmark_eval.csv", "base_llm_benchmark_eval_sub_10b.csv",
              "instruct_llm_benchmark_eval.csv")

#: base benchmark column -> (canonical metric, shots); Open LLM Leaderboard v1 protocol.
BENCHMARK = {
    "MMLU": ("multiple_choice_grade", 5), "ARC-C": ("accuracy_norm", 25), "HellaSwag": ("accuracy_norm", 10),
    "Winograd": ("multiple_choice_grade", 5), "Winogrande": ("multiple_choice_grade", 5),
    "TruthfulQA": ("normalized_true_probability", 0), "GSM8K": ("exact_match", 5),
    "XWinograd": ("multiple_choice_grade", None), "HumanEval": ("pass_at_k", 0),
}
#: instruct benchmark column -> canonical metric (numbers from model reports: shots unknown).
INSTRUCT = {"Arena-Elo": "score", "MTBench": "score", "GSM8K": "exact_match", "HumanEval": "pass_at_k"}
#: lm-eval leaderboard v2 task -> (canonical metric, shots) of the Open LLM Leaderboard v2.
LEADERBOARD_V2 = {
    "leaderboard_bbh": ("accuracy_norm", 3), "leaderboard_gpqa": ("accuracy_norm", 0),
    "leaderboard_ifeval": ("accuracy", 0), "leaderboard_math_hard": ("exact_match", 4),
    "leaderboard_mmlu_pro": ("multiple_choice_grade", 5), "leaderboard_musr": ("accuracy_norm", 0),
}
#: ObsScaling utils/constants.py BBH_SUBTASKS2RANDOM_VAL (random-guess accuracy per BBH subtask).
BBH_RANDOM = {
    "boolean_expressions": 1 / 2, "causal_judgement": 1 / 2, "date_understanding": 1 / 6,
    "disambiguation_qa": 1 / 3, "dyck_languages": 0.0, "formal_fallacies": 1 / 2, "geometric_shapes": 1 / 9,
    "hyperbaton": 1 / 2, "logical_deduction_five_objects": 1 / 5, "logical_deduction_seven_objects": 1 / 7,
    "logical_deduction_three_objects": 1 / 3, "movie_recommendation": 1 / 5, "multistep_arithmetic_two": 0.0,
    "navigate": 1 / 2, "object_counting": 0.0, "penguins_in_a_table": 1 / 5,
    "reasoning_about_colored_objects": 1 / 18, "ruin_names": 1 / 4, "salient_translation_error_detection": 1 / 6,
    "snarks": 1 / 2, "sports_understanding": 1 / 2, "temporal_sequences": 1 / 4,
    "tracking_shuffled_objects_five_objects": 1 / 5, "tracking_shuffled_objects_seven_objects": 1 / 7,
    "tracking_shuffled_objects_three_objects": 1 / 3, "web_of_lies": 1 / 2, "word_sorting": 0.0,
}
BBH_BASELINE_SOURCE = "ObsScaling utils/constants.py BBH_SUBTASKS2RANDOM_VAL"

EMERGENT_RE = re.compile(r"^(?P<task>[A-Za-z0-9_]+?)_(?P<shots>\d+)_(?P<metric>acc|exact_match|bleu)$")
POST_RE = re.compile(r"^(?P<name>[A-Za-z0-9_]+?)_(?P<shots>\d+)_(?P<metric>exact_match),(?P<filter>[^,]+)"
                     r"(?P<norm>,norm)?$")
BBH_RE = re.compile(r"^bbh_(?P<pv>cot_fewshot|fewshot)_(?P<sub>.+)$")
GSM_RE = re.compile(r"^gsm8k(?:_(?P<pv>.+))?$")
AGENT_RE = re.compile(r"^(?P<bench>ABench|ABoard)-(?P<rest>.+)$")

FILE_KIND = {
    "base_llm_benchmark_eval.csv": "benchmark",
    "base_llm_benchmark_eval_sub_10b.csv": "benchmark",
    "base_llm_emergent_capability_eval.csv": "emergent",
    "base_llm_leaderboard_v2_eval.csv": "leaderboard_v2",
    "base_llm_post_training_eval.csv": "post_training",
    "instruct_llm_benchmark_eval.csv": "instruct",
    "instruct_llm_agent_eval.csv": "agent",
}


def _col(task, metric, source_metric, shots=None, subtask="", prompt_variant="", variant="", value_scale="unit",
         random_baseline=None, baseline_source=None) -> dict:
    return {"task": task, "subtask": subtask, "metric": metric, "source_metric": source_metric, "shots": shots,
            "prompt_variant": prompt_variant, "variant": variant, "value_scale": value_scale,
            "random_baseline": random_baseline, "baseline_source": baseline_source}


def _emergent(col: str) -> dict | None:
    m = EMERGENT_RE.match(col)
    if not m:
        return None
    task, metric = m["task"], m["metric"]
    if metric == "acc":
        canonical = "exact_match" if task.startswith("arithmetic") else "multiple_choice_grade"
    else:
        canonical = metric
    return _col(task, canonical, metric, int(m["shots"]), value_scale="percent" if metric == "bleu" else "unit")


def _post_training(col: str) -> dict | None:
    m = POST_RE.match(col)
    if not m:
        return None
    name, norm = m["name"], bool(m["norm"])
    subtask, pv, rb, rb_src = "", "", None, None
    if (b := BBH_RE.match(name)):
        task, pv, subtask = "bbh", b["pv"], b["sub"]
        if subtask == "overall":
            subtask = ""
            rb = float(np.mean(list(BBH_RANDOM.values())))
            rb_src = BBH_BASELINE_SOURCE + " (mean of the 27 subtasks)"
        elif subtask in BBH_RANDOM:
            rb, rb_src = BBH_RANDOM[subtask], BBH_BASELINE_SOURCE
    elif (g := GSM_RE.match(name)):
        task, pv = "gsm8k", g["pv"] or ""
    else:
        task = name
    source_metric = col[m.start("metric"):]
    if norm:
        rb, rb_src = 0.0, "0 by construction: (x - random) / (1 - random)"
    return _col(task, "centered_accuracy" if norm else "exact_match", source_metric, int(m["shots"]),
                subtask=subtask, prompt_variant=pv, variant=m["filter"], random_baseline=rb, baseline_source=rb_src)


def _agent(col: str) -> dict | None:
    m = AGENT_RE.match(col)
    if not m:
        return None
    bench = {"ABench": "AgentBench", "ABoard": "AgentBoard"}[m["bench"]]
    rest = m["rest"]
    if bench == "AgentBoard" and rest.endswith(("_SR", "_PR")):
        metric = "accuracy" if rest.endswith("_SR") else "score"
        return _col(bench, metric, rest[-2:], subtask=rest[:-3], value_scale="percent")
    return _col(bench, "score", col, subtask=rest, value_scale="unit" if rest == "OA" else "percent")


def parse_column(col: str, kind: str) -> dict:
    """What a value column of an ObsScaling file means: task, subtask, metric, shots, variants, scale.

    ``kind`` is the file's kind (:data:`FILE_KIND`); an unknown file falls back to the column grammars
    and otherwise keeps the column as task with an unclassified ``score``.
    """
    if kind == "benchmark" and col in BENCHMARK:
        metric, shots = BENCHMARK[col]
        return _col(col, metric, col, shots)
    if kind == "instruct":
        return _col(col, INSTRUCT.get(col, "accuracy"), col)
    if kind == "leaderboard_v2" and col in LEADERBOARD_V2:
        metric, shots = LEADERBOARD_V2[col]
        return _col(col, metric, col, shots)
    for fn in (_emergent, _post_training, _agent):
        out = fn(col)
        if out is not None:
            return out
    return _col(col, "score", col)


def detect(path: Path) -> bool:
    return Path(path).is_dir() and any(p.name in FILE_KIND for p in Path(path).glob("eval_results/*.csv"))


def _numeric(df: pd.DataFrame, col: str, f: str) -> pd.Series:
    """A numeric column, or IngestError naming the first text or infinite cell."""
    return strict_numeric(df, col, f, row_refs=df["row_ref"])


def _size_table(tables: dict[str, pd.DataFrame], issues: list[dict], source: str) -> pd.DataFrame:
    """Model -> family and absolute sizes, from every file that has the id columns (first file wins)."""
    frames = []
    for f, df in tables.items():
        if not all(c in df.columns for c in ID_COLS):
            continue
        t = pd.DataFrame({"Model": df["Model"], "source_family": df["Model Family"], "size_file": f})
        for col, (out, scale) in SIZE_COLS.items():
            t[out] = _numeric(df, col, f) * scale
            neg = t[out] < 0
            if neg.any():
                i = neg.to_numpy().nonzero()[0][0]
                raise IngestError(f, "negative size", row=df["row_ref"].iloc[i], field=col, value=df[col].iloc[i])
        frames.append(t)
    if not frames:
        return pd.DataFrame(columns=["Model", "source_family", "size_file", "params", "tokens", "flops"])
    allt = pd.concat(frames, ignore_index=True)
    cols = ["source_family", "params", "tokens", "flops"]
    for model, grp in allt.groupby("Model", sort=False):
        if len(grp) > 1 and len(grp[cols].astype(str).drop_duplicates()) > 1:
            issues.append(issue(source, "conflict", grp["size_file"].iloc[1], "", "Model", model,
                                f"family/size differ between {', '.join(grp['size_file'])}: the first is used"))
    return allt.drop_duplicates("Model", keep="first").set_index("Model")


def _family(source_family, model):
    if source_family is None or (isinstance(source_family, float) and np.isnan(source_family)):
        return None
    if str(source_family) == "Pythia" and str(model).endswith("-deduped"):
        return "Pythia-deduped"
    return canonical_family(source_family)


def parse(root: Path, source: str = NAME, progress=None) -> Batch:
    root = Path(root)
    files = glob_files(root, ["eval_results/*.csv"])
    if not files:
        raise IngestError(root, "no ObsScaling files (eval_results/*.csv)")
    issues: list[dict] = []
    tables: dict[str, pd.DataFrame] = {}
    for path in files:
        f = rel(root, path)
        df = read_csv(path, required=["Model"], dtype={"Model": str}).copy()
        df["row_ref"] = (df.index + 2).astype(str)  # 1-based line number, after the header
        empty = df["Model"].isna() | (df["Model"].astype(str).str.strip() == "")
        if empty.any():
            i = empty.to_numpy().nonzero()[0][0]
            raise IngestError(f, "row without a model name", row=df["row_ref"].iloc[i], field="Model")
        kind = FILE_KIND.get(path.name)
        if kind in ("benchmark", "instruct"):
            missing = [c for c in ID_COLS if c not in df.columns]
            if missing:
                raise IngestError(f, f"missing column(s) {missing}", field=missing[0])
        tables[f] = df
    sizes = _size_table(tables, issues, source)

    frames = []
    for f, df in tables.items():
        kind = FILE_KIND.get(Path(f).name, "unknown")
        value_cols = [c for c in df.columns if c not in ID_COLS and c != "row_ref"]
        for col in value_cols:
            vals = _numeric(df, col, f)
            present = vals.notna()
            n_missing = int((~present).sum())
            if n_missing:
                issues.append(issue(source, "missing_value", f, "", col, "",
                                    f"{n_missing} models without a value (not evaluated): no observation"))
            if not present.any():
                continue
            meta = parse_column(col, kind)
            n = int(present.sum())
            frames.append(pd.DataFrame({"model": df.loc[present, "Model"].astype(str).to_numpy(),
                                        "value": vals[present].to_numpy(),
                                        "row_ref": df.loc[present, "row_ref"].to_numpy(), "source_file": f,
                                        **{k: [v] * n for k, v in meta.items()}}))
    if progress:
        progress(Progress(f"{source}: {len(files)} files", "parse"))
    if not frames:
        raise IngestError(root, "no values in any eval_results file")
    obs = pd.concat(frames, ignore_index=True)
    joined = sizes.reindex(obs["model"])
    obs["source_family"] = joined["source_family"].to_numpy()
    obs["family"] = [_family(sf, m) for sf, m in zip(obs["source_family"], obs["model"])]
    for col in ("params", "tokens", "flops"):
        obs[col] = joined[col].to_numpy(dtype=float)
    size_file = joined["size_file"].to_numpy()
    obs["params_source"] = np.where(obs["params"].notna(),
                                    pd.Series(size_file).fillna("").to_numpy() + " column 'Model Size (B)'"
                                    + np.where(pd.Series(size_file).to_numpy() == obs["source_file"].to_numpy(),
                                               "", " (joined on Model)"), None)
    obs["params_estimate"] = np.where(obs["params"].notna(), False, None)
    obs["is_final"] = True
    obs["in_scoring"] = True
    obs = attach_curated_sizes(obs, issues, source)
    obs = finish_observations(obs, issues, source)
    return Batch(source, obs, None, issues, hash_files(root, files))
