"""mlfoundations-scaling: 104 OpenLM models x 46 in-context tasks (Gadre et al. 2024).

Files (``exp_data/``):

- ``models/<run>.json``: ``name, dataset_name, hyperparameters {model, tokens, params, params_no_embed,
  chinchilla_multiplier, ...}, results [{loss, val_data, checkpoint_path, sequences, tokens, ...}]``:
  the model's size, training tokens and validation losses.
- ``evals/evaluation_<run>_heavy.json``: ``{name, uuid, model, creation_date, eval_metrics: {icl:
  {<task>: accuracy}}}`` (LLM-Foundry ICL gauntlet).
- ``eval_metadata.csv``: per task ``Eval Task, Task Category, Task Type, #shots, #datapoints,
  Random baseline (percent), Centered Metric?, Description``.

Rules (see PROVENANCE.md and the README's "data issues"):

- A model file and an eval file belong together by FILE NAME only (``<run>.json`` <->
  ``evaluation_<run>_heavy.json``); the eval file's own ``model`` field (the architecture config, e.g.
  ``d=1024_l=24_h=8``) must match the model file's ``hyperparameters.model``, else a
  ``config_mismatch`` issue.  A model without an eval file is a ``missing_value`` issue; an eval file
  without a model file is ingested without a size (``no_scale`` issue).
- ``model`` = run name; ``params`` = ``hyperparameters.params`` and ``tokens`` = ``hyperparameters.tokens``
  (absolute, as written); ``flops`` stays NULL (the files carry none; 6*N*D would be an approximation).
- Family = ``OpenLM <corpus> M=<chinchilla multiplier>`` (e.g. ``OpenLM rpj M=32``): models that differ
  in corpus or token budget are different families (METHODS.md); ``source_family`` = the corpus name
  (``dataset_name``).
- ICL values are accuracies on 0-1.  Metric from the metadata's ``Task Type``: ``multiple choice`` and
  ``schema`` (LLM-Foundry multiple-choice accuracy: the highest-likelihood option) ->
  ``multiple_choice_grade``; ``language modeling`` (LLM-Foundry LM accuracy: every continuation token
  is the greedy argmax) and ``question answering`` (normalised exact match) -> ``exact_match``;
  ``source_metric`` = ``accuracy``.  A value outside [0, 1] raises :class:`IngestError`.
- ``shots`` = ``#shots``, ``n_examples`` = ``#datapoints``, ``random_baseline`` = ``Random baseline`` / 100
  (``baseline_source`` 'mlfoundations eval_metadata.csv').  A task absent from the metadata keeps them NULL
  (one ``missing_value`` issue per task).  ``arc_challenge``'s row repeats ``arc_easy``'s count and
  description (2,376; ARC-Challenge's test set has 1,172 questions, Clark et al. 2018): its
  ``n_examples`` is left NULL with a ``suspect_value`` issue.
- Validation losses (``results``) become observations too: ``task`` 'validation_loss', ``subtask`` the
  ``val_data`` path as written, metric ``loss`` (nats per token, lower is better), ``source_metric``
  'loss'.  All at the final checkpoint: ``is_final`` True, ``checkpoint_step`` NULL.

Protocol (:mod:`emergence.ingestion.sources.base`): detected at PRIORITY 10: ``exp_data/models/*.json`` and
``exp_data/evals/evaluation_*_heavy.json`` (names only); a foreign folder is never claimed.
Malformed input raises :class:`~emergence.ingestion.schema.IngestError` naming the file, row or field and
value; rows not stored or kept out of scoring are counted in data issues.  ``source_file`` is the path
under the folder given, ``row_ref`` ``results[j]`` (validation loss) or ``eval_metrics.icl.<task>``.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd

from emergence.ingestion.schema import Batch, IngestError
from emergence.ingestion.sources._common import finish_observations, glob_files, hash_files, issue, read_csv, rel
from emergence.ingestion.sources.base import Progress

__all__ = ["NAME", "PRIORITY", "detect", "parse", "run_of_eval", "family_name", "TASK_TYPE_METRIC"]

NAME = "mlfoundations-scaling"
PRIORITY = 10   # detection: one public repository's fixed file names (emergence.ingestion.sources.base)
EVAL_RE = re.compile(r"^evaluation_(?P<run>.+)_heavy\.json$")
TASK_TYPE_METRIC = {"multiple choice": "multiple_choice_grade", "schema": "multiple_choice_grade",
                    "language modeling": "exact_match", "question answering": "exact_match"}
META_REQUIRED = ["Eval Task", "Task Type", "#shots", "#datapoints", "Random baseline"]
#: metadata rows known to be wrong: task -> reason (n_examples left NULL)
SUSPECT_DATAPOINTS = {
    "arc_challenge": "the row repeats arc_easy's #datapoints (2,376) and description; ARC-Challenge's test set "
                     "has 1,172 questions (Clark et al. 2018): n_examples left NULL",
}
BASELINE_SOURCE = "mlfoundations eval_metadata.csv"


def run_of_eval(filename: str) -> str | None:
    """``evaluation_rpj-d=96_l=8_h=4-1.0_heavy.json`` -> ``rpj-d=96_l=8_h=4-1.0``."""
    m = EVAL_RE.match(filename)
    return m["run"] if m else None


def family_name(corpus: str, multiplier: float) -> str:
    """``OpenLM c4_original M=0.25``: one family per corpus and token budget."""
    return f"OpenLM {corpus} M={multiplier:g}"


def detect(path: Path) -> bool:
    p = Path(path) / "exp_data"
    return p.is_dir() and any(p.glob("models/*.json")) and any(p.glob("evals/evaluation_*_heavy.json"))


def _config_name(config: str) -> str:
    """``scaling/open_lm_configs/d=96_l=8_h=4.json`` -> ``d=96_l=8_h=4``; ``open_lm_1b`` stays."""
    name = config.replace("\\", "/").rsplit("/", 1)[-1]
    return name[:-5] if name.endswith(".json") else name


def _load_json(path: Path, f: str):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise IngestError(f, f"invalid JSON: {e}") from e


def _number(value, f: str, field: str, *, nonneg: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise IngestError(f, "not a number", field=field, value=value)
    v = float(value)
    if not math.isfinite(v):
        raise IngestError(f, "not a finite number", field=field, value=value)
    if nonneg and v < 0:
        raise IngestError(f, "negative value where a size or count is expected", field=field, value=value)
    return v


def _get(d: dict, keys: list[str], f: str):
    cur = d
    for i, k in enumerate(keys):
        if not isinstance(cur, dict) or k not in cur:
            raise IngestError(f, "missing field", field=".".join(keys[: i + 1]))
        cur = cur[k]
    return cur


def _metadata(root: Path, issues: list[dict], source: str) -> tuple[dict, list[Path]]:
    path = root / "exp_data" / "eval_metadata.csv"
    if not path.is_file():
        return {}, []
    f = rel(root, path)
    meta = read_csv(path, required=META_REQUIRED)
    out = {}
    for i, r in meta.iterrows():
        row = i + 2
        task = str(r["Eval Task"]).strip()
        vals = {}
        for col in ("#shots", "#datapoints", "Random baseline"):
            v = pd.to_numeric(pd.Series([r[col]]), errors="coerce").iloc[0]
            if pd.isna(v) and not pd.isna(r[col]):
                raise IngestError(f, "not a number", row=row, field=col, value=r[col])
            vals[col] = None if pd.isna(v) else float(v)
        ttype = str(r["Task Type"]).strip()
        if ttype not in TASK_TYPE_METRIC:
            raise IngestError(f, f"unknown Task Type (known: {sorted(TASK_TYPE_METRIC)})", row=row,
                              field="Task Type", value=ttype)
        n = vals["#datapoints"]
        if task in SUSPECT_DATAPOINTS:
            issues.append(issue(source, "suspect_value", f, row, "#datapoints", r["#datapoints"],
                                SUSPECT_DATAPOINTS[task]))
            n = None
        rb = vals["Random baseline"]
        out[task] = {"metric": TASK_TYPE_METRIC[ttype], "shots": vals["#shots"], "n_examples": n,
                     "random_baseline": None if rb is None else rb / 100.0, "task_type": ttype}
    return out, [path]


def _read_model_file(root: Path, path: Path, models: dict[str, dict]) -> list[dict]:
    """One ``exp_data/models/<run>.json``: its sizes and family into ``models[run]``; its validation
    losses as rows."""
    rows: list[dict] = []
    f = rel(root, path)
    d = _load_json(path, f)
    run = path.stem
    hp = _get(d, ["hyperparameters"], f)
    info = {
        "params": _number(_get(d, ["hyperparameters", "params"], f), f, "hyperparameters.params"),
        "tokens": _number(_get(d, ["hyperparameters", "tokens"], f), f, "hyperparameters.tokens"),
        "multiplier": _number(_get(d, ["hyperparameters", "chinchilla_multiplier"], f), f,
                              "hyperparameters.chinchilla_multiplier"),
        "corpus": str(_get(d, ["dataset_name"], f)),
        "config": str(hp.get("model", "")),
        "file": f,
    }
    info["family"] = family_name(info["corpus"], info["multiplier"])
    models[run] = info
    results = d.get("results") or []
    if not isinstance(results, list):
        raise IngestError(f, "results is not a list", field="results", value=type(results).__name__)
    for j, r in enumerate(results):
        where = f"results[{j}]"
        val_data = _get(r, ["val_data"], f)
        loss = _number(_get(r, ["loss"], f), f, where + ".loss")
        rows.append({"task": "validation_loss",
                     "subtask": " ".join(val_data) if isinstance(val_data, list) else str(val_data),
                     "metric": "loss", "source_metric": "loss", "model": run, "value": loss,
                     "source_file": f, "row_ref": where, "shots": None, "n_examples": None,
                     "random_baseline": None, "baseline_source": None})
    return rows


def _read_eval_file(root: Path, path: Path, models: dict[str, dict], meta: dict, unknown_tasks: dict[str, str],
                    evaluated: set, source: str, issues: list[dict]) -> list[dict]:
    """One ``exp_data/evals/evaluation_<run>_heavy.json``: one accuracy row per ICL task, joined to
    ``eval_metadata.csv`` (``meta``) for shots, test-set size and random baseline."""
    rows: list[dict] = []
    f = rel(root, path)
    run = run_of_eval(path.name)
    d = _load_json(path, f)
    icl = _get(d, ["eval_metrics", "icl"], f)
    if not isinstance(icl, dict):
        raise IngestError(f, "eval_metrics.icl is not an object", field="eval_metrics.icl")
    evaluated.add(run)
    info = models.get(run)
    if info is None:
        issues.append(issue(source, "no_scale", f, "", "model", run,
                            f"no exp_data/models/{run}.json: {len(icl)} observations without size or family"))
    elif d.get("model") is not None and _config_name(info["config"]) != str(d["model"]):
        issues.append(issue(source, "config_mismatch", f, "", "model", d["model"],
                            f"the eval file names architecture {d['model']!r} but {info['file']} has "
                            f"{info['config']!r}: joined by file name anyway"))
    for task, value in icl.items():
        v = _number(value, f, f"eval_metrics.icl.{task}", nonneg=False)
        if not 0.0 <= v <= 1.0:
            raise IngestError(f, "accuracy outside [0, 1]", field=f"eval_metrics.icl.{task}", value=value)
        m = meta.get(task)
        if m is None:
            unknown_tasks.setdefault(task, f)
            m = {"metric": "accuracy", "shots": None, "n_examples": None, "random_baseline": None}
        rows.append({"task": task, "subtask": "", "metric": m["metric"], "source_metric": "accuracy",
                     "model": run, "value": v, "source_file": f, "row_ref": f"eval_metrics.icl.{task}",
                     "shots": m["shots"], "n_examples": m["n_examples"],
                     "random_baseline": m["random_baseline"],
                     "baseline_source": BASELINE_SOURCE if m["random_baseline"] is not None else None})
    return rows


def parse(root: Path, source: str = NAME, progress=None) -> Batch:
    root = Path(root)
    model_files = glob_files(root, ["exp_data/models/*.json"])
    eval_files = [p for p in glob_files(root, ["exp_data/evals/*.json"]) if run_of_eval(p.name)]
    if not eval_files:
        raise IngestError(root, "no exp_data/evals/evaluation_<run>_heavy.json files")
    issues: list[dict] = []
    meta, meta_files = _metadata(root, issues, source)

    models: dict[str, dict] = {}
    rows: list[dict] = []
    for path in model_files:
        rows += _read_model_file(root, path, models)
    unknown_tasks: dict[str, str] = {}
    evaluated = set()
    for path in eval_files:
        rows += _read_eval_file(root, path, models, meta, unknown_tasks, evaluated, source, issues)
    for task, f in sorted(unknown_tasks.items()):
        issues.append(issue(source, "missing_value", f, "", "Eval Task", task,
                            "task not in eval_metadata.csv: shots, n_examples and random baseline unknown; "
                            "metric left as generic accuracy"))
    for run in sorted(set(models) - evaluated):
        issues.append(issue(source, "missing_value", models[run]["file"], "", "eval file", run,
                            f"no exp_data/evals/evaluation_{run}_heavy.json: only validation losses"))

    obs = pd.DataFrame(rows)
    info = obs["model"].map(lambda r: models.get(r, {}))
    obs["params"] = info.map(lambda i: i.get("params"))
    obs["tokens"] = info.map(lambda i: i.get("tokens"))
    obs["family"] = info.map(lambda i: i.get("family"))
    obs["source_family"] = info.map(lambda i: i.get("corpus"))
    obs["params_source"] = info.map(lambda i: f"{i['file']} hyperparameters.params" if i else None)
    obs["params_estimate"] = info.map(lambda i: False if i else None)
    obs["flops"] = None
    obs["value_scale"] = "unit"
    obs["is_final"] = True
    obs["in_scoring"] = True
    if progress:
        progress(Progress(f"{source}: {len(models)} models, {len(eval_files)} eval files", "parse"))
    obs = finish_observations(obs, issues, source)
    return Batch(source, obs, None, issues, hash_files(root, [*model_files, *eval_files, *meta_files]))
