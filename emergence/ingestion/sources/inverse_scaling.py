"""inverse-scaling-eval-pipeline: per-example class-normalised losses (McKenzie et al., early 2022).

Layout: ``results/<experiment>/<model>.csv`` (one per model) beside ``results/<experiment>/data.csv``
(the examples).  A model file's ``index`` is the 0-based *row position* in ``data.csv``: the
first, unnamed column of ``data.csv`` is not always that position (the escher experiment
keeps a label there, ``ids-gpt3-seq`` has no such column), so rows are joined by position.

Result columns decide the kind of experiment (the pipeline's ``eval_pipeline/models.py``):

- **classification** (``index,loss[,correct,total_logprob]`` and ``data.csv`` with ``classes``,
  ``answer_index``): ``loss = -log softmax_over_classes(class log-probs)[answer_index]``, so
  ``p_correct = exp(-loss)``; ``n_choices = len(classes)`` (``classes`` is a Python-list string,
  read with :func:`ast.literal_eval`); ``correct_index = answer_index``; ``correct`` from the
  ``correct`` column.  Older runs lack ``correct``: it is derived only for 2-class tasks, as the
  pipeline's argmax would give it (``p_correct > 0.5``, a tie going to choice 0), else NULL.  For
  2-class tasks the whole distribution is known, so ``choice_logprobs = [log p_0, log p_1]``
  (normalised); for more classes only ``p_correct``.  The early escher and commonsense runs
  (``index,loss`` only) are classification too: their ``data.csv`` has classes, and the
  pipeline's early ``gpt3.py`` normalised over the possible answers.  ``total_logprob`` (mass on
  the option set) has no column in the example table and is not stored.
- **log-odds** (``index,logodds[_difference],correct,total_logprob``: QA-*, fat-vs-thin,
  halo-effect): the log-odds compare two prompts, not choices, so ``loss``/``p_correct`` stay
  NULL; example rows keep ``correct``, ``correct_index``, ``n_choices``; one ``unsupported``
  issue per experiment says the log-odds column is not stored.
- **sequence** (``index,loss`` with a ``data.csv`` without classes: lambada*): ``loss`` = NLL
  (nats) of the target; ``target`` = the ``completion`` column where present, else the last
  whitespace-separated word of the prompt (the prompt ends with the target word).
- An experiment without ``data.csv`` (``boolq-1shot-*``, not copied upstream: over 4 MiB)
  keeps ``loss``, ``p_correct`` and ``correct`` (with a ``correct`` column the losses are
  class-normalised) but no classes: one ``missing_value`` issue per experiment.

Task naming: the experiment folder name, without a leading ``YYYY-MM-DDTHH:MM:SS_`` timestamp
and without the family token (``gpt2``, ``gpt3``, ``opt``; a following ``instruct`` goes with
it) together with one adjacent ``-``/``_``: ``boolq-0shot-gpt3`` -> ``boolq-0shot``,
``gpt2_sentiment_nyu`` -> ``sentiment_nyu``, ``QA-v2-gpt3-instruct`` -> ``QA-v2``,
``2022-03-09T15:59:55_escher`` -> ``escher``.  If two experiments then share a task for the same
model family (``lambada-1k-gpt3`` vs ``lambada-1k_gpt3``: different data.csv and different
losses), both keep their full folder name and get a ``config_mismatch`` issue.  ``shots`` is
read from ``<n>shot`` in the name; NULL where the name does not say.

Families come from the model file name: ``gpt2..gpt2-xl`` GPT-2; ``ada, babbage, curie,
davinci`` GPT-3; ``text-*-00N`` InstructGPT; ``opt-*`` OPT (else the folder's family token).
``source_family`` is the folder's token.  Sizes come from ``data/models/openai.csv``.

Data rules (each a counted issue, nothing dropped silently): a model file with no rows ->
``missing_value`` (e.g. ``opt-2.7b.csv``, ``anli_r1-gpt2/gpt2-large.csv``); rows whose result is
empty (the ``dice-*-gpt2`` files interleave 3,120 empty rows; ``boolq-noq-gpt3`` has 30 empty
rows past the end of data.csv) -> ``missing_value``; a repeated index -> ``duplicate`` (first
kept); an index outside data.csv -> ``orphan``; data.csv rows without a result ->
``missing_value``.

Aggregates per (task, model), from the examples: mean ``correct`` -> ``multiple_choice_grade``
(source_metric ``correct``, or ``exp(-loss)>0.5`` where derived; binomial stderr
``sqrt(p(1-p)/n)``; random baseline ``1/n_choices``) and mean ``loss`` -> ``neg_log_likelihood``
(source_metric ``loss``, stderr = sd/sqrt(n)).

Protocol (:mod:`emergence.ingestion.sources.base`): detected at PRIORITY 10:
``results/<experiment>/<model>.csv`` whose header (first line of at most a few files) has the
pipeline's columns; a foreign folder is never claimed.  Malformed input raises
:class:`~emergence.ingestion.schema.IngestError` naming the file, row or field and value; rows not stored or
kept out of scoring are counted in data issues.  ``source_file`` is the path under the folder given,
``row_ref`` the CSV line of the model file (1 = header); ``mean over examples`` for an aggregate.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pandas as pd

from emergence.ingestion.schema import EXAMPLE_COLUMNS, Batch, IngestError, conform
from emergence.ingestion.sources._common import finish_observations, hash_files, issue, read_csv, rel
from emergence.ingestion.sources._curated import apply_sizes, size_table
from emergence.ingestion.sources.base import Progress

__all__ = ["NAME", "PRIORITY", "detect", "parse", "split_experiment", "model_family"]

NAME = "inverse-scaling-eval-pipeline"
PRIORITY = 10   # detection: one public repository's fixed file names (emergence.ingestion.sources.base)
TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}_")
SHOTS_RE = re.compile(r"(?:^|[-_])(\d+)shot(?:$|[-_])")
FAMILY_TOKENS = {"gpt2": "GPT-2", "gpt3": "GPT-3", "opt": "OPT"}
MODEL_FAMILY = [
    (re.compile(r"^gpt2(-medium|-large|-xl)?$"), "GPT-2"),
    (re.compile(r"^(ada|babbage|curie|davinci)$"), "GPT-3"),
    (re.compile(r"^text-(ada|babbage|curie|davinci)-\d{3}$"), "InstructGPT"),
    (re.compile(r"^opt-[\d.]+[mb]$"), "OPT"),
]
RENAME = {"filled_template": "prompt", "answer_ix": "answer_index"}
LOGODDS_COLS = ("logodds", "logodds_difference")


def split_experiment(name: str) -> tuple[str, str | None, int | None]:
    """``boolq-0shot-gpt3`` -> (``boolq-0shot``, ``gpt3``, 0): task, folder family token, shots."""
    base = TIMESTAMP_RE.sub("", name)
    parts = re.split(r"([-_])", base)          # tokens at even, separators at odd positions
    token = None
    for i in range(0, len(parts), 2):
        if parts[i].lower() in FAMILY_TOKENS:
            token = parts[i].lower()
            end = i + 1
            if i + 2 < len(parts) and parts[i + 2].lower() == "instruct":
                token += "-instruct"
                end = i + 3
            # drop the token(s) and one adjacent separator
            if i > 0:
                parts = parts[: i - 1] + parts[end:]
            else:
                parts = parts[end + 1:]
            break
    task = "".join(parts) or base
    m = SHOTS_RE.search(base)
    return task, token, (int(m.group(1)) if m else None)


def model_family(model: str, token: str | None = None) -> str | None:
    for pat, fam in MODEL_FAMILY:
        if pat.match(model):
            return fam
    if token:
        return "InstructGPT" if token.endswith("instruct") else FAMILY_TOKENS.get(token.split("-")[0])
    return None


def _experiments(root: Path) -> list[Path]:
    res = root / "results"
    if not res.is_dir():
        return []
    return sorted(d for d in res.iterdir() if d.is_dir() and any(p.name != "data.csv" for p in d.glob("*.csv")))


def detect(path: Path) -> bool:
    path = Path(path)
    if not path.is_dir():
        return False
    for d in _experiments(path)[:5]:
        for p in d.glob("*.csv"):
            if p.name != "data.csv":
                try:
                    with open(p, encoding="utf-8", errors="replace") as fh:
                        head = fh.readline().strip()
                except OSError:
                    return False
                return head.startswith("index,")
    return False


def _parse_classes(data: pd.DataFrame, f: str) -> pd.Series:
    """``"[' yes', ' no']"`` -> list of str (each distinct string parsed once)."""
    raw = data["classes"]
    parsed: dict[str, list] = {}
    for i, s in enumerate(raw.tolist()):
        if s in parsed:
            continue
        try:
            v = ast.literal_eval(s) if isinstance(s, str) else None
        except (ValueError, SyntaxError):
            v = None
        if not isinstance(v, (list, tuple)) or len(v) < 2 or not all(isinstance(c, str) for c in v):
            raise IngestError(f, "classes must be a Python list of at least two strings", row=i + 1,
                              field="classes", value=s)
        parsed[s] = list(v)
    return raw.map(parsed)


def _read_data(path: Path, f: str) -> pd.DataFrame:
    data = read_csv(path, dtype=str, keep_default_na=False)
    data = data.rename(columns=RENAME)
    first = data.columns[0]
    if first == "" or first.startswith("Unnamed"):
        data = data.drop(columns=[first])
    if "prompt" not in data.columns:
        raise IngestError(f, f"data.csv lacks a prompt column; found {list(data.columns)}", field="prompt")
    if "classes" in data.columns:
        if "answer_index" not in data.columns:
            raise IngestError(f, "data.csv has classes but no answer_index", field="answer_index")
        data["classes"] = _parse_classes(data, f)
        ans = pd.to_numeric(data["answer_index"], errors="coerce")
        n = data["classes"].map(len)
        bad = ans.isna() | (ans != ans.round()) | (ans < 0) | (ans >= n)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise IngestError(f, "answer_index must be a whole number indexing classes", row=i + 1,
                              field="answer_index", value=data["answer_index"].iloc[i])
        data["answer_index"] = ans.astype(int)
        data["n_choices"] = n.astype(int)
    return data.reset_index(drop=True)


def _read_model(path: Path, f: str) -> pd.DataFrame:
    m = read_csv(path, required=["index"])
    value_cols = [c for c in ("loss",) + LOGODDS_COLS if c in m.columns]
    if not value_cols:
        raise IngestError(f, f"no result column (loss, logodds, logodds_difference); found {list(m.columns)}",
                          field="loss")
    for col in ["index", *value_cols] + (["correct"] if "correct" in m.columns else []):
        num = pd.to_numeric(m[col], errors="coerce")
        bad = num.isna() & m[col].notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise IngestError(f, "not a number", row=i + 2, field=col, value=m[col].iloc[i])
        if np.isinf(num.to_numpy(dtype=float)).any():
            i = int(np.flatnonzero(np.isinf(num.to_numpy(dtype=float)))[0])
            raise IngestError(f, "infinite value", row=i + 2, field=col, value=m[col].iloc[i])
        m[col] = num
    idx = m["index"]
    bad = idx.notna() & ((idx != idx.round()) | (idx < 0))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise IngestError(f, "index must be a non-negative whole number", row=i + 2, field="index", value=idx.iloc[i])
    if "loss" in m.columns and (m["loss"] < 0).any():
        i = int(np.flatnonzero((m["loss"] < 0).to_numpy())[0])
        raise IngestError(f, "a loss (-log p) cannot be negative", row=i + 2, field="loss", value=m["loss"].iloc[i])
    if "correct" in m.columns:
        c = m["correct"]
        bad = c.notna() & ~c.isin([0, 1])
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise IngestError(f, "correct must be 0 or 1", row=i + 2, field="correct", value=c.iloc[i])
    m["row_ref"] = (np.arange(len(m)) + 2).astype(str)    # line in the file (1 = header)
    m.attrs["value_col"] = value_cols[0]
    return m


def _kind(m: pd.DataFrame, data: pd.DataFrame | None) -> str:
    if m.attrs["value_col"] in LOGODDS_COLS:
        return "logodds"
    if data is None:
        return "classification" if "correct" in m.columns else "unknown"
    return "classification" if "classes" in data.columns else "sequence"


def _examples_for(m: pd.DataFrame, data: pd.DataFrame | None, kind: str, f: str, data_f: str,
                  source: str, issues: list[dict]) -> pd.DataFrame:
    """The example rows of one model file (rules in the module docstring)."""
    vcol = m.attrs["value_col"]
    listed = set(m["index"].dropna().astype(int).tolist())   # indices the file mentions, with or without a result
    empty = m[vcol].isna()
    if empty.any():
        issues.append(issue(source, "missing_value", f, "", vcol, "",
                            f"{int(empty.sum())} rows without a result (empty cells): no example"))
    m = m[~empty]
    dup = m["index"].duplicated(keep="first")
    if dup.any():
        issues.append(issue(source, "duplicate", f, ",".join(m.loc[dup, "row_ref"].head(5)), "index",
                            ",".join(str(int(v)) for v in m.loc[dup, "index"].head(5)),
                            f"{int(dup.sum())} rows repeat an index: the first is kept"))
    m = m[~dup].copy()
    m["index"] = m["index"].astype(int)
    if data is not None:
        outside = m["index"] >= len(data)
        if outside.any():
            issues.append(issue(source, "orphan", f, ",".join(m.loc[outside, "row_ref"].head(5)), "index",
                                ",".join(str(v) for v in m.loc[outside, "index"].head(5)),
                                f"{int(outside.sum())} results whose index is past the end of {data_f} "
                                f"({len(data)} rows): no example"))
            m = m[~outside]
        absent = len(data) - len(listed & set(range(len(data))))
        if absent > 0:
            issues.append(issue(source, "missing_value", f, "", "index", "",
                                f"{absent} of {len(data)} rows of {data_f} are not in this file"))
        d = data.iloc[m["index"].to_numpy()].reset_index(drop=True)
    else:
        d = None
    m = m.reset_index(drop=True)
    ex = pd.DataFrame({"example_id": m["index"].astype(str), "row_ref": m["row_ref"], "source_file": f})
    has_correct = "correct" in m.columns
    ex["correct"] = m["correct"].map({1: True, 0: False}) if has_correct else None
    ex["correct_from_file"] = has_correct
    if kind in ("classification", "sequence", "unknown"):
        ex["loss"] = m["loss"]
    if kind == "classification":
        ex["p_correct"] = np.exp(-m["loss"])
    if d is not None and "classes" in d.columns:
        ex["n_choices"] = d["n_choices"]
        ex["correct_index"] = d["answer_index"]
    if kind == "classification" and d is not None:
        p = ex["p_correct"].to_numpy()
        two = (ex["n_choices"] == 2).to_numpy()
        if not has_correct:
            derived = (p > 0.5) | ((p == 0.5) & (ex["correct_index"].to_numpy() == 0))
            ex["correct"] = pd.array(np.where(two, derived, False), dtype="boolean")
            ex.loc[~two, "correct"] = pd.NA
        # the full 2-choice distribution: [log p_0, log p_1], normalised
        with np.errstate(divide="ignore"):
            lp_right = -m["loss"].to_numpy()
            lp_other = np.log1p(-p)
        first_right = ex["correct_index"].to_numpy() == 0
        lp0 = np.where(first_right, lp_right, lp_other)
        lp1 = np.where(first_right, lp_other, lp_right)
        ok = two & np.isfinite(lp0) & np.isfinite(lp1)
        lists = [[a, b] if k else None for a, b, k in zip(lp0.tolist(), lp1.tolist(), ok.tolist())]
        ex["choice_logprobs"] = lists
    if kind == "sequence" and d is not None:
        if "completion" in d.columns:
            ex["target"] = d["completion"].to_numpy()
        else:
            ex["target"] = d["prompt"].str.rsplit(n=1).str[-1].to_numpy()
    return ex


def parse(root: Path, source: str = NAME, progress=None) -> Batch:
    """Every experiment folder: task names (:func:`_task_names`), one example frame per model file
    (:func:`_read_experiment`), then families, sizes and the source's own aggregates."""
    root = Path(root)
    exps = _experiments(root)
    if not exps:
        raise IngestError(root, "no inverse-scaling results (results/<experiment>/<model>.csv)")
    issues: list[dict] = []
    read: list[Path] = []
    info = _task_names(root, exps, source, issues)
    frames = []
    for n_done, d in enumerate(exps):
        frames += _read_experiment(root, d, info[d]["models"], read, source, issues)
        if progress and n_done % 10 == 0:
            progress(Progress(f"{source}: {n_done + 1}/{len(exps)} experiments", "parse", n_done + 1, len(exps)))
    ex = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["model"])
    exp_of = ex["source_file"].str.split("/").str[1]
    by_name = {d.name: info[d] for d in exps}
    ex["task"] = exp_of.map({e: v["task"] for e, v in by_name.items()})
    ex["source_family"] = exp_of.map({e: v["token"] for e, v in by_name.items()})
    ex["shots"] = exp_of.map({e: v["shots"] for e, v in by_name.items()})
    fam_cache = {(mo, tok): model_family(mo, tok) for mo, tok in set(zip(ex["model"], ex["source_family"]))}
    ex["family"] = [fam_cache[(mo, tok)] for mo, tok in zip(ex["model"], ex["source_family"])]
    first_file = ex.groupby("model")["source_file"].first().to_dict()
    sizes = size_table(ex["model"].unique(), issues, source, where=first_file,
                       counts=ex["model"].value_counts().to_dict())
    ex = apply_sizes(ex, sizes)
    if "choice_logprobs" in ex.columns:   # rows of experiments without the column come out of concat as NaN
        ex["choice_logprobs"] = [v if isinstance(v, list) else None for v in ex["choice_logprobs"].tolist()]
    ex["subtask"] = ""
    ex["prompt_variant"] = ""
    ex["is_final"] = True
    hashes = hash_files(root, read)
    ex["content_hash"] = ex["source_file"].map(hashes)

    obs = _aggregate(ex)
    obs = apply_sizes(obs, sizes)
    obs["content_hash"] = obs["source_file"].map(hashes)
    obs = finish_observations(obs, issues, source)
    examples = conform(ex.assign(source=source), EXAMPLE_COLUMNS, source)
    return Batch(source, obs, examples, issues, hashes)


def _task_names(root: Path, exps: list[Path], source: str, issues: list[dict]) -> dict[Path, dict]:
    """Per experiment folder: task, token, shots, model files and families, with the collision rule
    (module docstring): experiments that map to one task for one family keep their folder names."""
    info = {}
    for d in exps:
        task, token, shots = split_experiment(d.name)
        models = sorted(p.stem for p in d.glob("*.csv") if p.name != "data.csv")
        fams = {model_family(mo, token) for mo in models}
        info[d] = {"task": task, "token": token, "shots": shots, "models": models, "families": fams}
    seen: dict[tuple, list[Path]] = {}
    for d, inf in info.items():
        for fam in inf["families"]:
            seen.setdefault((inf["task"], fam), []).append(d)
    for (task, fam), ds in seen.items():
        if len(ds) > 1:
            for d in ds:
                info[d]["task"] = TIMESTAMP_RE.sub("", d.name)
                issues.append(issue(source, "config_mismatch", rel(root, d), "", "task", task,
                                    f"{len(ds)} experiments ({', '.join(x.name for x in ds)}) map to task {task!r} "
                                    f"for family {fam}: each keeps its folder name as task"))
    return info


def _read_experiment(root: Path, d: Path, models: list[str], read: list[Path], source: str,
                     issues: list[dict]) -> list[pd.DataFrame]:
    """One experiment folder: its data.csv (classes, answer index) and one example frame per model file."""
    data_path = d / "data.csv"
    data_f = rel(root, data_path)
    data = None
    if data_path.is_file():
        data = _read_data(data_path, data_f)
        read.append(data_path)
    else:
        issues.append(issue(source, "missing_value", data_f, "", "data.csv", "",
                            "no data.csv for this experiment: classes and answer_index unknown; examples keep "
                            "loss, p_correct and correct only"))
    frames = []
    kinds = set()
    for mo in models:
        path = d / f"{mo}.csv"
        f = rel(root, path)
        read.append(path)
        m = _read_model(path, f)
        if m.empty:
            issues.append(issue(source, "missing_value", f, "", "rows", "0",
                                "the model file has a header and no rows: no examples for this model"))
            continue
        kind = _kind(m, data)
        kinds.add(kind)
        ex = _examples_for(m, data, kind, f, data_f, source, issues)
        ex["model"] = mo
        ex["kind"] = kind
        frames.append(ex)
    if "logodds" in kinds:
        issues.append(issue(source, "unsupported", rel(root, d), "", "logodds", "",
                            "log-odds experiment: the logodds/logodds_difference column compares two prompts "
                            "and has no column in the example table; examples keep correct only (loss NULL)"))
    if "unknown" in kinds:
        issues.append(issue(source, "unsupported", rel(root, d), "", "loss", "",
                            "no data.csv and no correct column: whether loss is class-normalised is unknown; "
                            "examples keep loss only"))
    return frames


def _aggregate(ex: pd.DataFrame) -> pd.DataFrame:
    """Source-native aggregates per (task, model) from the example rows (vectorised)."""
    keys = ["task", "model", "family", "source_family", "shots"]
    ex = ex.copy()
    for col, default in (("correct", None), ("loss", np.nan), ("n_choices", np.nan), ("correct_from_file", False)):
        if col not in ex.columns:
            ex[col] = default
    g = ex.assign(shots=ex["shots"].astype("Int64").astype(str), source_family=ex["source_family"].fillna(""))
    out = []
    has_c = g[g["correct"].notna()].copy()
    if len(has_c):
        has_c["c"] = has_c["correct"].astype(float)
        a = has_c.groupby(keys, sort=True, dropna=False).agg(
            value=("c", "mean"), n_examples=("c", "size"), from_file=("correct_from_file", "all"),
            nch_min=("n_choices", "min"), nch_max=("n_choices", "max"), source_file=("source_file", "first"))
        a = a.reset_index()
        a["metric"] = "multiple_choice_grade"
        a["source_metric"] = np.where(a["from_file"], "correct", "exp(-loss)>0.5")
        a["stderr"] = np.sqrt(a["value"] * (1 - a["value"]) / a["n_examples"])
        same = a["nch_min"].notna() & (a["nch_min"] == a["nch_max"])
        a["random_baseline"] = np.where(same, 1.0 / a["nch_min"].where(same, 1), np.nan)
        a["baseline_source"] = np.where(same, "1/n_choices (data.csv classes)", None)
        out.append(a)
    has_l = g[g["loss"].notna()]
    if len(has_l):
        b = has_l.groupby(keys, sort=True, dropna=False).agg(value=("loss", "mean"), sd=("loss", "std"),
                                               n_examples=("loss", "size"), source_file=("source_file", "first"))
        b = b.reset_index()
        b["metric"] = "neg_log_likelihood"
        b["source_metric"] = "loss"
        b["stderr"] = b["sd"] / np.sqrt(b["n_examples"])
        out.append(b)
    if not out:
        return pd.DataFrame(columns=["task", "model", "value", "source_metric"])
    obs = pd.concat(out, ignore_index=True)
    obs["shots"] = pd.to_numeric(obs["shots"].replace("<NA>", None), errors="coerce")
    obs["source_family"] = obs["source_family"].replace("", None)
    obs["row_ref"] = "mean over examples"
    obs["value_scale"] = "unit"
    obs["is_final"] = True
    obs["in_scoring"] = True
    obs["subtask"] = ""
    obs["prompt_variant"] = ""
    obs["variant"] = ""
    return obs.drop(columns=[c for c in ("from_file", "nch_min", "nch_max", "sd") if c in obs.columns])
