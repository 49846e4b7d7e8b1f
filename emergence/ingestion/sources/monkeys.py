"""monkeys-powerlaws: per-problem repeated-sampling counts and NLLs across Pythia sizes and checkpoints.

Schaeffer et al. 2025, "How Do Large Language Monkeys Get Their Power (Laws)?"; the counts
relate to Brown et al. 2024, "Large Language Monkeys".  Parquet files, read with
:func:`pandas.read_parquet` (no SQL in parsers).

``subtask`` is the file's stem in every part: the three files hold different problem subsets
and sampling budgets of the same benchmarks (the original MATH file's 128 problems share 2 with
the checkpoint MATH file's), so a series never mixes them.

(a) ``data/processed_data/large_language_monkeys_original_pass_at_k.parquet``
    (``Model, Benchmark, Problem Idx, Num. Samples Total, Num. Samples Correct,
    Scaling Parameter (= k), Score (unbiased pass@k)``): the rows with ``Scaling Parameter == 1``
    give one example per (model, problem): task = ``Benchmark`` (``MATH``), ``example_id`` =
    problem index, ``n_samples``, ``n_correct`` (fixed-n binomial counts, 10,000 samples per
    problem; not sample-until-pass).  Models are spelled ``Pythia 70M``; sizes and tokens come
    from ``data/models/monkeys.csv`` (total parameters of the released checkpoints); family
    Pythia, final checkpoints (``checkpoint_step`` NULL: the file does not name one).
    Observations per model: mean ``Score`` at k = 1 -> ``pass_rate`` and mean ``Score`` at
    k in {1, 10, 100, 1000, 10000} -> ``pass_at_k`` with ``variant = "k=<k>"`` (``source_metric``
    ``Score``; ``stderr`` = sd over problems / sqrt(n problems)).
(b) ``data/raw_data/large_language_monkeys/{gsm8k,math}_pass_at_k.parquet``
    (``Model Nickname, prompt_idx, [Level], Num. Samples, Num. Samples Correct, k, pass@k``):
    rows with ``k == 1`` give one example per (checkpoint, problem): task ``GSM8K`` / ``MATH``
    (from the file name).  ``Model Nickname`` (``Pythia_410M_20B``) is joined to
    ``data/raw_data/gpt4_gsm8k/models_pythia.csv`` for ``Parameters`` (nominal sizes, as the
    source gives them), ``Tokens`` and ``HuggingFace Revision`` (``step<N>`` ->
    ``checkpoint_step``); ``is_final`` marks the last revision of each HF model (step143000 =
    300B tokens).  A checkpoint with fewer problems than the file's usual count
    (``Pythia_12B_2M``: 30 of 128 on GSM8K) gets a ``missing_value`` issue.  Observations per
    checkpoint: mean ``pass@k`` at k = 1 -> ``pass_rate``.  The MATH ``Level`` is not stored.
(c) ``data/processed_data/gpt4_gsm8k_neg_log_likelihood.parquet`` (``Model, Problem Idx,
    Neg Log Score, Model Family, Scaling Parameter``): one example per (checkpoint, problem)
    with ``loss`` = ``Neg Log Score`` (NLL of GPT-4's GSM8K solution); checkpoint metadata as
    in (b); observations: mean NLL per checkpoint -> ``neg_log_likelihood`` with ``flops`` =
    ``Scaling Parameter`` (6·N·D as the source computes it).  Four of its nine checkpoints are not
    final (14M_20B, 70M_60B, 160M_60B, 410M_200B): one ``config_mismatch`` issue says so.

Not ingested, one issue each: ``large_language_monkeys_pass_at_k.parquet`` (its k = 1 counts
are checked against the raw files' final checkpoints: ``duplicate`` when equal, ``conflict``
otherwise) and ``pretraining_probability.parquet`` (per-token LAMBADA log-probs of
Cerebras-GPT, ``unsupported``).

Malformed input -> :class:`IngestError`: an unreadable parquet, a missing column, a correct
count that is not a whole number or exceeds the samples drawn, a score outside [0, 1].

Protocol (:mod:`emergence.ingestion.sources.base`): detected at PRIORITY 10: one of the fixed parquet paths
above exists (names only); a foreign folder is never claimed.  Malformed input raises
:class:`~emergence.ingestion.schema.IngestError` naming the file, row or field and value; rows not stored or
kept out of scoring are counted in data issues.  ``source_file`` is the path under the folder given,
``row_ref`` the parquet row index; ``mean over problems`` for an aggregate.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from emergence.ingestion.models import canonical_family
from emergence.ingestion.schema import EXAMPLE_COLUMNS, OBSERVATION_COLUMNS, Batch, IngestError, conform
from emergence.ingestion.sources._common import finish_observations, hash_files, issue, read_csv, rel
from emergence.ingestion.sources._curated import apply_sizes, size_table
from emergence.ingestion.sources.base import Progress

__all__ = ["NAME", "PRIORITY", "detect", "parse", "PASS_AT_K"]

NAME = "monkeys-powerlaws"
PRIORITY = 10   # detection: one public repository's fixed file names (emergence.ingestion.sources.base)
ORIGINAL = "data/processed_data/large_language_monkeys_original_pass_at_k.parquet"
RAW = ("data/raw_data/large_language_monkeys/gsm8k_pass_at_k.parquet",
       "data/raw_data/large_language_monkeys/math_pass_at_k.parquet")
META = "data/raw_data/gpt4_gsm8k/models_pythia.csv"
NLL = "data/processed_data/gpt4_gsm8k_neg_log_likelihood.parquet"
PROCESSED_DUP = "data/processed_data/large_language_monkeys_pass_at_k.parquet"
PASS_AT_K = (1, 10, 100, 1000, 10000)
RAW_TASK = {"gsm8k": "GSM8K", "math": "MATH"}
STEP_RE = re.compile(r"^step(\d+)$")


def detect(path: Path) -> bool:
    path = Path(path)
    return path.is_dir() and any((path / p).is_file() for p in (ORIGINAL, NLL) + RAW)


def _parquet(path: Path, f: str, required: list[str]) -> pd.DataFrame:
    try:
        df = pd.read_parquet(path)
    except Exception as e:   # pyarrow raises several types for a corrupt file
        raise IngestError(f, f"not a readable parquet file: {e}") from e
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise IngestError(f, f"missing column(s) {missing}; found {list(df.columns)}", field=missing[0])
    return df.reset_index(drop=True)


def _check_counts(df: pd.DataFrame, f: str, n_col: str, c_col: str) -> None:
    for col in (n_col, c_col):
        num = pd.to_numeric(df[col], errors="coerce")
        bad = num.isna() | (num != num.round()) | (num < 0)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise IngestError(f, "a sample count must be a non-negative whole number", row=i, field=col,
                              value=df[col].iloc[i])
    over = df[c_col] > df[n_col]
    if over.any():
        i = int(np.flatnonzero(over.to_numpy())[0])
        raise IngestError(f, f"more correct samples than samples drawn ({df[n_col].iloc[i]})", row=i,
                          field=c_col, value=df[c_col].iloc[i])


def _check_unit(df: pd.DataFrame, f: str, col: str) -> None:
    v = pd.to_numeric(df[col], errors="coerce")
    bad = v.isna() | (v < 0) | (v > 1)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise IngestError(f, "a pass probability must lie in [0, 1]", row=i, field=col, value=df[col].iloc[i])


def _meta(root: Path) -> pd.DataFrame | None:
    path = root / META
    if not path.is_file():
        return None
    m = read_csv(path, required=["Model Family", "Model Nickname", "HuggingFace Path", "HuggingFace Revision",
                                 "Tokens", "Parameters"])
    step = m["HuggingFace Revision"].astype(str).str.extract(STEP_RE)[0]
    bad = step.isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise IngestError(META, "revision must look like step<N>", row=i + 2, field="HuggingFace Revision",
                          value=m["HuggingFace Revision"].iloc[i])
    for col in ("Tokens", "Parameters"):
        num = pd.to_numeric(m[col], errors="coerce")
        if num.isna().any() or (num < 0).any():
            i = int(np.flatnonzero((num.isna() | (num < 0)).to_numpy())[0])
            raise IngestError(META, "not a non-negative number", row=i + 2, field=col, value=m[col].iloc[i])
        m[col] = num
    m["checkpoint_step"] = step.astype(int)
    m["is_final"] = m["checkpoint_step"] == m.groupby("HuggingFace Path")["checkpoint_step"].transform("max")
    return m.set_index("Model Nickname")


def _attach_meta(df: pd.DataFrame, meta: pd.DataFrame | None, f: str, source: str, issues: list[dict]) -> pd.DataFrame:
    """params / tokens / checkpoint_step / is_final / family from models_pythia.csv, by nickname."""
    df = df.copy()
    if meta is None:
        meta = pd.DataFrame(columns=["Model Family", "Parameters", "Tokens", "checkpoint_step", "is_final"])
    known = df["model"].isin(meta.index)
    for model in sorted(df.loc[~known, "model"].unique()):
        issues.append(issue(source, "no_scale", f, "", "model", model,
                            f"{int((df['model'] == model).sum())} rows: checkpoint not in {META}; no size, "
                            "tokens or step"))
    df["params"] = df["model"].map(meta["Parameters"])
    df["tokens"] = df["model"].map(meta["Tokens"])
    df["checkpoint_step"] = df["model"].map(meta["checkpoint_step"])
    df["is_final"] = df["model"].map(meta["is_final"])
    fam = df["model"].map(meta["Model Family"])
    df["source_family"] = df["source_family"].where(df["source_family"].notna(), fam) \
        if "source_family" in df.columns else fam
    df["family"] = df["source_family"].map(canonical_family)
    df["params_estimate"] = False
    df["params_source"] = np.where(df["params"].notna(), f"{META} column 'Parameters'", None)
    return df


def _mean_obs(ex: pd.DataFrame, keys: list[str], col: str) -> pd.DataFrame:
    g = ex.groupby(keys, sort=True, dropna=False)[col]
    out = g.agg(value="mean", sd="std", n_examples="size").reset_index()
    out["stderr"] = out["sd"] / np.sqrt(out["n_examples"])
    return out.drop(columns="sd")


def parse(root: Path, source: str = NAME, progress=None) -> Batch:
    """Every file kind of the module docstring, (a) to (c), into one Batch; the files it does
    not ingest get one issue each (:func:`_not_ingested`)."""
    root = Path(root)
    if not detect(root):
        raise IngestError(root, f"no monkeys-powerlaws parquet files ({ORIGINAL}, {NLL}, {RAW[0]}, ...)")
    issues: list[dict] = []
    read: list[Path] = []
    parts: list[tuple[pd.DataFrame, pd.DataFrame]] = []      # (examples, observations) per file
    meta = _meta(root)
    if meta is not None:
        read.append(root / META)
    if (root / ORIGINAL).is_file():
        read.append(root / ORIGINAL)
        parts.append(_parse_original(root / ORIGINAL, ORIGINAL, source, issues))
    for rel_path in RAW:
        if (root / rel_path).is_file():
            read.append(root / rel_path)
            parts.append(_parse_raw(root / rel_path, rel_path, meta, source, issues))
    if (root / NLL).is_file():
        read.append(root / NLL)
        parts.append(_parse_nll(root / NLL, NLL, meta, source, issues))
    _not_ingested(root, read, source, issues)
    if progress:
        progress(Progress(f"{source}: {len(read)} files", "parse"))
    hashes = hash_files(root, read)
    ex_frames, obs_frames = [e for e, _ in parts], [o for _, o in parts]
    ex = pd.concat(ex_frames, ignore_index=True) if ex_frames else pd.DataFrame(columns=list(EXAMPLE_COLUMNS))
    ex = ex.assign(prompt_variant="", content_hash=ex["source_file"].map(hashes))
    examples = conform(ex.assign(source=source), EXAMPLE_COLUMNS, source)
    if obs_frames:
        obs = pd.concat(obs_frames, ignore_index=True)
        obs = obs.assign(value_scale="unit", in_scoring=True, prompt_variant="",
                         content_hash=obs["source_file"].map(hashes))
        obs = finish_observations(obs, issues, source)
    else:
        obs = conform(pd.DataFrame(columns=list(OBSERVATION_COLUMNS)), OBSERVATION_COLUMNS, source)
    return Batch(source, obs, examples, issues, hashes)


def _first_of_duplicates(df: pd.DataFrame, keys: list[str], f: str, field: str, what: str, source: str,
                         issues: list[dict]) -> pd.DataFrame:
    """Keep the first of rows repeating ``keys``; one ``duplicate`` issue names the others' rows."""
    dup = df.duplicated(keys)
    if not dup.any():
        return df
    issues.append(issue(source, "duplicate", f, ",".join(df.loc[dup, "row_ref"].head(5)), field, "",
                        f"{int(dup.sum())} rows repeat a {what}: the first is kept"))
    return df[~dup]


def _parse_original(path: Path, f: str, source: str, issues: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(a) The original Large Language Monkeys counts, 7 Pythia sizes x 128 MATH problems."""
    df = _parquet(path, f, ["Model", "Benchmark", "Problem Idx", "Num. Samples Total", "Num. Samples Correct",
                            "Scaling Parameter", "Score"])
    _check_counts(df, f, "Num. Samples Total", "Num. Samples Correct")
    _check_unit(df, f, "Score")
    df["row_ref"] = df.index.astype(str)
    df = _first_of_duplicates(df, ["Model", "Benchmark", "Problem Idx", "Scaling Parameter"], f, "Problem Idx",
                              "(model, problem, k)", source, issues)
    k1 = df[df["Scaling Parameter"] == 1]
    stem = Path(f).stem
    ex = pd.DataFrame({
        "task": k1["Benchmark"], "subtask": stem, "model": k1["Model"],
        "source_family": None, "example_id": k1["Problem Idx"].astype(str),
        "n_samples": k1["Num. Samples Total"], "n_correct": k1["Num. Samples Correct"],
        "source_file": f, "row_ref": k1["row_ref"], "is_final": True,
    })
    sizes = size_table(ex["model"].unique(), issues, source, where={m: f for m in ex["model"].unique()},
                       counts=ex["model"].value_counts().to_dict())
    fam = sizes.set_index("model")["curated_family"]
    ex["family"] = ex["model"].map(fam).fillna(ex["model"].str.split().str[0].map(canonical_family))
    ex = apply_sizes(ex, sizes)
    ks = [k for k in PASS_AT_K if (df["Scaling Parameter"] == k).any()]
    sel = df[df["Scaling Parameter"].isin(ks)].rename(columns={"Benchmark": "task", "Model": "model"})
    o = _mean_obs(sel, ["task", "model", "Scaling Parameter"], "Score")
    o["metric"] = "pass_at_k"
    o["variant"] = "k=" + o["Scaling Parameter"].astype(str)
    pr = o[o["Scaling Parameter"] == 1].copy()
    pr["metric"] = "pass_rate"
    pr["variant"] = ""
    o = pd.concat([pr, o], ignore_index=True).drop(columns="Scaling Parameter")
    o["subtask"] = stem
    o["source_metric"] = "Score"
    o["source_file"] = f
    o["row_ref"] = "mean over problems"
    o["is_final"] = True
    o["family"] = o["model"].map(ex.groupby("model")["family"].first())
    return ex, apply_sizes(o, sizes)


def _parse_raw(path: Path, f: str, meta: pd.DataFrame | None, source: str,
               issues: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(b) Pythia size x token checkpoints on GSM8K or MATH (one file)."""
    df = _parquet(path, f, ["Model Nickname", "prompt_idx", "Num. Samples", "Num. Samples Correct", "k", "pass@k"])
    df["row_ref"] = df.index.astype(str)
    k1 = df[df["k"] == 1].copy()
    _check_counts(k1, f, "Num. Samples", "Num. Samples Correct")
    _check_unit(k1, f, "pass@k")
    k1 = _first_of_duplicates(k1, ["Model Nickname", "prompt_idx"], f, "prompt_idx",
                              "(checkpoint, problem) at k = 1", source, issues)
    stem = Path(f).stem
    task = RAW_TASK.get(stem.split("_")[0], stem.split("_")[0].upper())
    counts = k1.groupby("Model Nickname").size()
    usual = int(counts.mode().max())
    for model, n in counts[counts < usual].items():
        issues.append(issue(source, "missing_value", f, "", "prompt_idx", model,
                            f"{model}: {n} problems where most checkpoints have {usual}: "
                            f"{usual - n} absent"))
    ex = pd.DataFrame({
        "task": task, "subtask": stem, "model": k1["Model Nickname"], "example_id": k1["prompt_idx"].astype(str),
        "n_samples": k1["Num. Samples"], "n_correct": k1["Num. Samples Correct"], "pass": k1["pass@k"],
        "source_file": f, "row_ref": k1["row_ref"],
    })
    ex = _attach_meta(ex, meta, f, source, issues)
    o = _mean_obs(ex, ["task", "subtask", "model"], "pass")
    o = o.merge(ex.groupby("model")[["family", "source_family", "params", "params_estimate", "params_source",
                                     "tokens", "checkpoint_step", "is_final"]].first().reset_index(), on="model")
    o["metric"] = "pass_rate"
    o["source_metric"] = "pass@k"
    o["variant"] = ""
    o["source_file"] = f
    o["row_ref"] = "mean over problems (k = 1)"
    return ex.drop(columns=["pass", "params_source"]), o


def _parse_nll(path: Path, f: str, meta: pd.DataFrame | None, source: str,
               issues: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(c) NLL of GPT-4's GSM8K solutions under nine Pythia checkpoints."""
    df = _parquet(path, f, ["Model", "Problem Idx", "Neg Log Score", "Model Family", "Scaling Parameter"])
    for col in ("Neg Log Score", "Scaling Parameter"):
        v = pd.to_numeric(df[col], errors="coerce")
        bad = v.isna() | ~np.isfinite(v.to_numpy(dtype=float)) | (v < 0)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise IngestError(f, "must be a finite non-negative number", row=i, field=col, value=df[col].iloc[i])
    df["row_ref"] = df.index.astype(str)
    df = _first_of_duplicates(df, ["Model", "Problem Idx"], f, "Problem Idx", "(checkpoint, problem)", source, issues)
    stem = Path(f).stem
    ex = pd.DataFrame({
        "task": "GSM8K", "subtask": stem, "model": df["Model"], "source_family": df["Model Family"],
        "example_id": df["Problem Idx"].astype(str), "loss": df["Neg Log Score"],
        "flops": df["Scaling Parameter"], "source_file": f, "row_ref": df["row_ref"],
    })
    ex = _attach_meta(ex, meta, f, source, issues)
    not_final = sorted(ex.loc[ex["is_final"].eq(False), "model"].unique())
    if not_final:
        issues.append(issue(source, "config_mismatch", f, "", "Model", ", ".join(not_final),
                            f"{len(not_final)} of {ex['model'].nunique()} checkpoints in this file are not their "
                            "model's final checkpoint: a size-axis series of it uses the final ones only"))
    o = _mean_obs(ex, ["task", "subtask", "model"], "loss")
    o = o.merge(ex.groupby("model")[["family", "source_family", "params", "params_estimate", "params_source",
                                     "tokens", "checkpoint_step", "is_final", "flops"]].first().reset_index(),
                on="model")
    o["metric"] = "neg_log_likelihood"
    o["source_metric"] = "Neg Log Score"
    o["variant"] = ""
    o["source_file"] = f
    o["row_ref"] = "mean over problems"
    return ex.drop(columns=["flops", "params_source"]), o


def _not_ingested(root: Path, read: list[Path], source: str, issues: list[dict]) -> None:
    """One issue per catalogued parquet that is deliberately not turned into rows."""
    dup_path = root / PROCESSED_DUP
    if dup_path.is_file():
        read.append(dup_path)
        detail = _compare_processed(root, dup_path)
        kind = "duplicate" if detail.startswith("all") else "conflict"
        issues.append(issue(source, kind, PROCESSED_DUP, "", "", "", detail + "; not ingested"))
    handled = {ORIGINAL, NLL, PROCESSED_DUP}
    for path in sorted((root / "data" / "processed_data").glob("*.parquet")):
        r = rel(root, path)
        if r in handled:
            continue
        read.append(path)
        what = ("per-token LAMBADA log-probabilities of Cerebras-GPT on 10 sequences"
                if path.name == "pretraining_probability.parquet" else "a processed table this parser does not know")
        issues.append(issue(source, "unsupported", r, "", "", "", f"{what}: not ingested"))


def _compare_processed(root: Path, path: Path) -> str:
    """Check the processed GSM8K/MATH table against the raw files' final checkpoints (k = 1)."""
    f = PROCESSED_DUP
    p = _parquet(path, f, ["Model", "Problem Idx", "Num. Samples", "Num. Samples Correct", "Scaling Parameter",
                           "Benchmark"])
    p = p[p["Scaling Parameter"] == 1]
    raws = []
    for rel_path in RAW:
        rp = root / rel_path
        if rp.is_file():
            r = pd.read_parquet(rp, columns=["Model Nickname", "prompt_idx", "Num. Samples", "Num. Samples Correct", "k"])
            r = r[r["k"] == 1].assign(Benchmark=RAW_TASK.get(Path(rel_path).stem.split("_")[0]))
            raws.append(r)
    if not raws:
        return f"{len(p)} rows at k = 1; the raw files to compare with are absent"
    r = pd.concat(raws, ignore_index=True)
    p = p.assign(key=p["Model"].str.replace(" ", "_") + "_300B")
    j = p.merge(r, left_on=["Benchmark", "key", "Problem Idx"], right_on=["Benchmark", "Model Nickname", "prompt_idx"],
                how="left", suffixes=("", "_raw"))
    same = (j["Num. Samples"] == j["Num. Samples_raw"]) & (j["Num. Samples Correct"] == j["Num. Samples Correct_raw"])
    if same.all():
        return (f"all {len(p)} rows at k = 1 equal the final (300B-token) checkpoint rows of the raw "
                "large_language_monkeys files")
    return f"{int((~same).sum())} of {len(p)} rows at k = 1 differ from the raw files' final checkpoint rows"
