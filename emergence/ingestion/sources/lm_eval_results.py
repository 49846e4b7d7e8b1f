"""lm-evaluation-harness results JSON (sources ``pythia`` and ``lm-eval-harness-results-2023``).

Format (EleutherAI lm-evaluation-harness, ``--output_path`` results file):

- old key style (harness v0.3, both catalogue sources)::

    {"results": {task: {"acc": .., "acc_stderr": .., "acc_norm": .., "acc_norm_stderr": ..}},
     "versions": {task: int}, "config": {"model", "model_args", "num_fewshot", ...}}

- new key style (harness v0.4+, user folders): metric keys ``"<metric>,<filter>"``
  (``"acc,none"``, ``"acc_stderr,none"``, ``"exact_match,strict-match"``), an ``"alias"`` per
  task, and top-level ``"n-shot"`` {task: k}, ``"n-samples"`` {task: {original, effective}},
  ``"configs"`` {task: {num_fewshot, ...}}, ``"model_name"``, ``"config"``.  ``"groups"``
  repeats group rows that ``"results"`` already holds and is not read twice.

Layouts (the only place the two catalogue sources differ; :func:`parse` branches on the folder's
layout, :func:`layout_of`, so a user's copy or own folder is read by its shape whatever its name):

- ``pythia``: ``evals/pythia-v1/<model>/{zero-shot,five-shot}/<size>[-deduped][-5shot]_step<N>.json``,
  batch-size ablations ``evals/pythia-v1/pythia-<size>-<B>MtokBS/[five-shot/]<size>-<B>MtokBS_step<N>.json``,
  the gender-pronoun intervention study ``evals/pythia-v1/pythia-<size>-deduped/{baseline,intervention}/``,
  and fully trained baselines ``evals/opt/opt-<size>.json``, ``evals/bloom/bloom-<size>.json``.
  ``evals/csv/**`` (term-frequency tables) is not in the catalogue's file list and is not read.
- ``lm-eval-harness-results-2023``: ``results/<family>/<model>/<model>_<group>_<k>-shot.json``
  (OPT: one ``<model>.json`` per model).
- any other source name (a user's folder): every ``**/*.json`` holding ``"results"``; the model
  comes from ``model_name`` / ``config.model_args`` ``pretrained=`` (the part after the last
  ``/``), the checkpoint from ``revision=step<N>``.

Rules:

- Shots come from the file's config (``num_fewshot``; new style: ``n-shot`` / ``configs``), never
  from the file name.  Where the name or folder implies another count the config wins and the
  file gets one ``config_mismatch`` issue: ``pythia-1b-bf16/zero-shot/`` holds
  ``1b-bf16-5shot_step{128,256,512,1000}.json`` whose config says ``num_fewshot: 0`` (they
  fill the 0-shot checkpoint series, which has no other file at those steps).
- Pythia checkpoints: ``checkpoint_step`` from the file name's ``step<N>`` (checked against
  the config's ``revision=step<N>``; the config wins, ``config_mismatch`` issue).
  ``is_final`` only for the final step: 143000 for the suite (2,097,152 tokens per step =
  batch 1024 x sequence 2048; Biderman et al. 2023 and the model cards: 299,892,736,000 tokens).
  ``tokens = step * tokens per step``.  The batch-size ablations ``<B>MtokBS`` use
  B x 2^20 tokens per step (0.25M = 128 x 2048, 0.5M = 256 x 2048, 1M = 512 x 2048), so they
  see the same 299,892,736,000 tokens by their final step 1,144,000 / 572,000 / 286,000.
- Pythia families: ``Pythia`` and ``Pythia-deduped`` (the 1B model's folder is
  ``pythia-1b-bf16``: it is the suite's 1B point, model name kept as the folder spells it);
  each batch-size ablation is its own family ``Pythia-<B>MtokBS``; the gender-pronoun study is
  kept out of the main series as two families: ``Pythia-deduped-genderstudy-baseline`` (the
  unmodified deduped models re-evaluated at steps 114000/134000-143000: values differ from the
  ``zero-shot`` run of the same checkpoint, so they are not merged) and
  ``Pythia-deduped-genderstudy-intervention`` (``variant = "long"`` for the 1.4B ``-long`` run,
  which starts its intervention at step 114000).
- Metrics: ``<m>_stderr`` (``<m>_stderr,<filter>``) is the stderr of ``<m>``, not an
  observation.  ``acc`` of a multiple-choice task is ``multiple_choice_grade``;
  ``acc`` of a task scored by greedy match of a generated/continued answer (LAMBADA's last word,
  arithmetic, unscramble, GSM8K, MATH, TriviaQA, WebQs) is ``accuracy`` (source_metric stays
  ``acc``): LAMBADA ``acc`` is 1 iff greedy decoding reproduces the whole last word, an
  exact match, not a choice among options.  ``acc_norm`` -> ``accuracy_norm``; ``ppl`` ->
  ``perplexity``; ``em`` / ``exact`` / ``exact_str_match`` -> ``exact_match``; token-overlap
  ``f1`` of reading-comprehension tasks (DROP, CoQA, ReCoRD, SQuAD) -> ``exact_match_f1``;
  TruthfulQA ``mc1`` -> ``multiple_choice_grade``, ``mc2`` -> ``normalized_true_probability``;
  BIG-Bench-Hard ``bigbench_*`` keep ``multiple_choice_grade`` (3-shot by their config).  Others
  via :func:`emergence.analysis.metrics.canonical_metric`.
- SQuAD v2 reports 0-100 (``value_scale = "percent"``); its ``HasAns_`` / ``NoAns_`` prefixes are
  subtasks and ``best_`` (best no-answer threshold) is ``variant = "best_threshold"``.
- A filter other than ``none`` (new style) is the ``variant``.  A task seen under more than one
  harness task version in one batch gets ``variant = "v<version>"`` so versions never mix.
- ``n_examples`` from ``n-samples`` (effective) where present; old-style files have none (NULL).
  ``random_baseline`` = 1/k for multiple-choice metrics of tasks whose every question has k choices
  (:data:`CHOICES`: MMLU 4, PIQA 2, WinoGrande 2, SciQ 4, LogiQA 4, WSC 2, the binary GLUE/SuperGLUE
  tasks 2, CB and MNLI 3, COPA 2); ARC (3 to 5 choices per question), BIG-Bench-Hard and generative
  tasks have none (NULL).
- A null / NaN metric or an ``"N/A"`` is a missing value: no row, one ``missing_value`` issue per
  file and key.  Invalid JSON, a missing ``results`` object, or text in a metric -> IngestError.
- Sizes from the curated table ``data/models/lm-eval.csv`` (Pythia from the model cards /
  paper; OPT, BLOOM, LLaMA, XGLM, MPT from their papers and model cards).

Protocol (:mod:`emergence.ingestion.sources.base`): detected at PRIORITY 50: a folder with lm-eval-harness
results JSON of any layout (the first 4 kB of at most 20 files are read); a foreign folder is never
claimed.  Malformed input raises :class:`~emergence.ingestion.schema.IngestError` naming the file, row or
field and value; rows not stored or kept out of scoring are counted in data issues.  ``source_file`` is
the path under the folder given, ``row_ref`` ``results.<task>.<key>``.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from emergence.ingestion.models import canonical_family, lookup
from emergence.ingestion.schema import Batch, IngestError
from emergence.ingestion.sources._common import attach_curated_sizes, finish_observations, glob_files, hash_files, issue, rel
from emergence.ingestion.sources.base import Progress

__all__ = ["NAME", "PRIORITY", "NAMES", "detect", "parse", "parse_model_args", "metric_for", "read_results_json",
           "pythia_file_info", "PYTHIA_TOKENS_PER_STEP", "PYTHIA_FINAL_STEP", "results_rows", "checkpoint_info",
           "model_identity", "harness_model_name", "shots_of", "layout_of"]

NAME = "lm-eval-harness-results-2023"
PRIORITY = 50   # detection: generic lm-eval results JSON: after the specific layouts (emergence.ingestion.sources.base)
NAMES = ("pythia", "lm-eval-harness-results-2023")

#: Pythia: batch 1024 sequences x 2048 tokens per optimizer step (Biderman et al. 2023, Sec. 2).
PYTHIA_TOKENS_PER_STEP = 1024 * 2048
PYTHIA_FINAL_STEP = 143_000
PYTHIA_TOTAL_TOKENS = PYTHIA_FINAL_STEP * PYTHIA_TOKENS_PER_STEP   # 299,892,736,000

_STEP_RE = re.compile(r"step(\d+)")
_MAIN_RE = re.compile(r"^pythia-(?P<size>\d+(?:\.\d+)?[mb])(?P<dedup>-deduped)?(?:-bf16)?$")
_ABL_RE = re.compile(r"^pythia-(?P<size>\d+(?:\.\d+)?[mb])-(?P<bs>\d+(?:\.\d+)?)MtokBS$")
_SHOT_NAME_RE = re.compile(r"_(\d+)-shot\b")

# tasks whose `acc` is a greedy exact match of a continuation/generation, not a choice among options
_GREEDY_ACC = re.compile(r"^(lambada|arithmetic_|anagrams\d|cycle_letters|random_insertion|reversed_words|"
                         r"gsm8k|math_|triviaqa|webqs)")
_TOKEN_F1_TASKS = re.compile(r"^(drop|coqa|record|squad)")
_PERCENT_TASKS = re.compile(r"^squad")
_SQUAD_PREFIX = re.compile(r"^(HasAns|NoAns|best)_(.+)$")
_METRIC_MAP = {"mc1": "multiple_choice_grade", "mc2": "normalized_true_probability", "exact": "exact_match"}
_SKIP_KEYS = {"alias"}
_SENTINELS = {"n/a", "nan", ""}


# --------------------------------------------------------------------------- pure helpers

def parse_model_args(model_args) -> dict:
    """``"pretrained=EleutherAI/pythia-v1.1-12b,revision=step143000"`` -> {pretrained, revision, ...}."""
    out: dict[str, str] = {}
    if isinstance(model_args, dict):
        return {str(k): str(v) for k, v in model_args.items()}
    for part in str(model_args or "").split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def metric_for(task: str, source_metric: str) -> tuple[str, str, str]:
    """Canonical (metric, subtask, variant) of one results key, by the rules in the module docstring.

    >>> metric_for("lambada_openai", "acc")
    ('accuracy', '', '')
    >>> metric_for("arc_easy", "acc")
    ('multiple_choice_grade', '', '')
    >>> metric_for("squad2", "HasAns_exact")
    ('exact_match', 'HasAns', '')
    """
    from emergence.analysis.metrics import canonical_metric

    subtask = variant = ""
    m = source_metric
    sq = _SQUAD_PREFIX.match(m) if task.startswith("squad") else None
    if sq:
        if sq.group(1) == "best":
            variant = "best_threshold"
        else:
            subtask = sq.group(1)
        m = sq.group(2)
    if m == "acc" and _GREEDY_ACC.match(task):
        return "accuracy", subtask, variant
    if m == "f1" and _TOKEN_F1_TASKS.match(task):
        return "exact_match_f1", subtask, variant
    if m in _METRIC_MAP:
        return _METRIC_MAP[m], subtask, variant
    return canonical_metric(m), subtask, variant


def read_results_json(path: Path, relpath: str) -> dict:
    """Load one results file; a malformed one raises :class:`IngestError` naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise IngestError(relpath, f"cannot read: {e}") from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise IngestError(relpath, f"invalid JSON: {e.msg} (line {e.lineno}, column {e.colno})",
                          row=e.lineno) from e
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise IngestError(relpath, "not an lm-eval-harness results file: no 'results' object", field="results")
    return data


def shots_of(data: dict, task: str):
    """Shots for ``task`` from the file's own config (new style per task first)."""
    nshot = data.get("n-shot")
    if isinstance(nshot, dict) and task in nshot:
        return nshot[task]
    configs = data.get("configs")
    if isinstance(configs, dict) and isinstance(configs.get(task), dict) and "num_fewshot" in configs[task]:
        return configs[task]["num_fewshot"]
    cfg = data.get("config")
    if isinstance(cfg, dict):
        return cfg.get("num_fewshot")
    return None


def _n_examples_of(data: dict, task: str):
    ns = data.get("n-samples")
    if isinstance(ns, dict) and isinstance(ns.get(task), dict):
        d = ns[task]
        return d.get("effective", d.get("original"))
    return None


def _is_missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (
        isinstance(v, str) and v.strip().lower() in _SENTINELS)


def results_rows(data: dict, relpath: str, source: str, issues: list[dict]) -> list[dict]:
    """One dict per (task, metric[, filter]) of a results file, with its stderr attached.

    Keys ``<m>_stderr`` become the ``stderr`` of ``<m>``; missing values become issues.
    """
    rows: list[dict] = []
    versions = data.get("versions") if isinstance(data.get("versions"), dict) else {}
    for task, res in data["results"].items():
        if not isinstance(res, dict):
            raise IngestError(relpath, "task entry is not an object", row=f"results.{task}", value=res)
        # split "metric,filter" keys; collect stderrs
        values: dict[tuple[str, str], object] = {}
        stderrs: dict[tuple[str, str], object] = {}
        for key, v in res.items():
            if key in _SKIP_KEYS:
                continue
            name, _, filt = key.partition(",")
            if name.endswith("_stderr"):
                stderrs[(name[: -len("_stderr")], filt)] = v
            else:
                values[(name, filt)] = v
        for (name, filt), stderr_key_v in stderrs.items():
            if (name, filt) not in values:
                issues.append(issue(source, "missing_value", relpath, f"results.{task}", f"{name}_stderr",
                                    stderr_key_v, "stderr without its metric: nothing to attach it to"))
        shots = shots_of(data, task)
        n = _n_examples_of(data, task)
        for (name, filt), v in values.items():
            key = name + ("," + filt if filt else "")
            if _is_missing(v):
                issues.append(issue(source, "missing_value", relpath, f"results.{task}", key, v,
                                    "null / NaN / N/A metric value: no observation"))
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                if isinstance(v, (dict, list)):   # nested structures are not metrics (e.g. per-class tables)
                    issues.append(issue(source, "not_a_metric", relpath, f"results.{task}", key, str(v)[:60],
                                        "nested value, not a scalar metric: not stored"))
                    continue
                raise IngestError(relpath, "metric value is not a number", row=f"results.{task}", field=key, value=v)
            se = stderrs.get((name, filt))
            if se is not None and (_is_missing(se) or isinstance(se, bool) or not isinstance(se, (int, float))):
                se = None
            metric, subtask, variant = metric_for(task, name)
            if filt and filt != "none":
                variant = (variant + ";" if variant else "") + filt
            k = choices_of(task) if metric in _MC_METRICS else None
            rows.append({"random_baseline": None if k is None else 1.0 / k,
                         "baseline_source": None if k is None else f"1/{k}: every {task} question has {k} choices",
                         "task": task, "subtask": subtask, "source_metric": name, "metric": metric,
                         "variant": variant, "value": float(v), "stderr": None if se is None else float(se),
                         "shots": shots, "n_examples": n,
                         "value_scale": "percent" if _PERCENT_TASKS.match(task) else "unit",
                         "task_version": versions.get(task), "row_ref": f"results.{task}.{key}"})
    return rows


# Tasks whose every question has the same number of choices (the harness's task definitions).
CHOICES = {"piqa": 2, "winogrande": 2, "wsc": 2, "wsc273": 4, "sciq": 4, "logiqa": 4, "boolq": 2, "copa": 2,
           "rte": 2, "wic": 2, "qnli": 2, "sst": 2, "mrpc": 2, "qqp": 2, "cola": 2, "wnli": 2, "cb": 3, "mnli": 3,
           "mnli_mismatched": 3, "openbookqa": 4, "hellaswag": 4, "mc_taco": 2}
_MC_METRICS = {"multiple_choice_grade", "accuracy_norm"}


def choices_of(task: str) -> int | None:
    """k for a task whose questions all have k choices (MMLU subjects: 4), else None."""
    if task.startswith("hendrycksTest-"):
        return 4
    return CHOICES.get(task)


# --------------------------------------------------------------------------- layouts

def pythia_file_info(relpath: str) -> dict:
    """Family, model, checkpoint and name-implied shots of one file of the ``pythia`` source.

    >>> pythia_file_info("evals/pythia-v1/pythia-12b/zero-shot/12b_step143000.json")["family"]
    'Pythia'
    """
    parts = relpath.split("/")
    name = parts[-1]
    if len(parts) >= 2 and parts[-2] in ("opt", "bloom") and parts[0] == "evals":
        stem = name[: -len(".json")]
        return {"family": canonical_family(parts[-2]), "source_family": parts[-2], "model": stem,
                "step": None, "tokens_per_step": None, "final_step": None, "implied_shots": None, "variant": ""}
    if len(parts) < 4 or parts[1] != "pythia-v1":
        return {}
    folder = parts[2]
    sub = parts[3] if len(parts) >= 5 else ""
    m = _STEP_RE.search(name)
    step = int(m.group(1)) if m else None
    implied = 5 if (sub == "five-shot" or "-5shot" in name) else (0 if sub == "zero-shot" else None)
    if sub == "zero-shot" and "-5shot" in name:
        implied = 5   # the folder says 0, the name says 5: either way the config decides
    info = {"step": step, "implied_shots": implied, "variant": "",
            "tokens_per_step": PYTHIA_TOKENS_PER_STEP, "final_step": PYTHIA_FINAL_STEP}
    mm, ma = _MAIN_RE.match(folder), _ABL_RE.match(folder)
    if ma:
        bs = float(ma.group("bs"))
        tps = int(round(bs * 2 ** 20))
        info.update(family=f"Pythia-{ma.group('bs')}MtokBS", model=folder, tokens_per_step=tps,
                    final_step=PYTHIA_TOTAL_TOKENS // tps)
    elif mm and sub == "baseline":
        info.update(family="Pythia-deduped-genderstudy-baseline", model=folder, implied_shots=0)
    elif mm and sub == "intervention":
        long = "-long_" in name
        info.update(family="Pythia-deduped-genderstudy-intervention",
                    model=f"intervention-pythia-{mm.group('size')}-deduped" + ("-long" if long else ""),
                    variant="long" if long else "", implied_shots=0)
    elif mm:
        info.update(family="Pythia-deduped" if mm.group("dedup") else "Pythia", model=folder)
    else:
        return {}
    info["source_family"] = info["family"]   # the suite spells no family: its folders name models
    return info


def model_identity(full_name: str) -> tuple[str, str]:
    """(model, family) of a harness model name such as ``EleutherAI/pythia-160m`` or a local path.

    The model is the part after the last ``/``; the family is the curated one, else the name's
    stem before its first size-like ``-<digit>`` part, through :func:`canonical_family`
    (``gpt2-medium`` -> ``GPT-2``).
    """
    full = str(full_name).rstrip("/")
    model = full.split("/")[-1]
    hit = lookup(model) or lookup(full)
    family = hit["family"] if hit else canonical_family(re.split(r"[-_]\d", model)[0] or model)
    return model, family


def harness_model_name(data: dict, fallback: str) -> str:
    """The evaluated model's name: ``model_name``, else ``config.model_args`` ``pretrained=``, else ``fallback``."""
    cfg = data.get("config") if isinstance(data.get("config"), dict) else {}
    args = parse_model_args(cfg.get("model_args"))
    return str(data.get("model_name") or args.get("pretrained") or fallback)


def _generic_model(data: dict, relpath: str) -> dict:
    model, family = model_identity(harness_model_name(data, Path(relpath).parent.name.replace("__", "/")))
    return {"family": family, "source_family": family, "model": model, "implied_shots": None, "variant": "",
            "step": None, "tokens_per_step": None, "final_step": None}


def checkpoint_info(family: str | None, revision: str | None) -> dict:
    """checkpoint_step / is_final / tokens for a ``revision=step<N>`` of a known suite (Pythia)."""
    m = _STEP_RE.fullmatch(revision or "")
    if not m:
        return {"step": None, "is_final": True, "tokens": None}
    step = int(m.group(1))
    if family in ("Pythia", "Pythia-deduped"):
        return {"step": step, "is_final": step == PYTHIA_FINAL_STEP, "tokens": float(step * PYTHIA_TOKENS_PER_STEP)}
    return {"step": step, "is_final": False, "tokens": None}


def _file_info(layout: str, source: str, relpath: str, data: dict, issues: list[dict]) -> dict | None:
    cfg = data.get("config") if isinstance(data.get("config"), dict) else {}
    args = parse_model_args(cfg.get("model_args"))
    if layout == "pythia":
        info = pythia_file_info(relpath)
        if not info:
            issues.append(issue(source, "unrecognised_file", relpath, "", "path", relpath,
                                "not a known Pythia results layout: not read"))
            return None
        rev = _STEP_RE.fullmatch(args.get("revision", ""))
        if rev and info["step"] is not None and int(rev.group(1)) != info["step"]:
            issues.append(issue(source, "config_mismatch", relpath, "config", "model_args", args.get("revision"),
                                f"file name says step{info['step']}; the config's revision is used"))
            info["step"] = int(rev.group(1))
        elif rev and info["step"] is None:
            info["step"] = int(rev.group(1))
    elif layout == "lm-eval-harness-results-2023":
        parts = relpath.split("/")
        if len(parts) != 4 or parts[0] != "results":
            issues.append(issue(source, "unrecognised_file", relpath, "", "path", relpath,
                                "not results/<family>/<model>/*.json: not read"))
            return None
        m = _SHOT_NAME_RE.search(parts[3])
        info = {"family": canonical_family(parts[1]), "source_family": parts[1], "model": parts[2],
                "implied_shots": int(m.group(1)) if m else None, "variant": "", "step": None,
                "tokens_per_step": None, "final_step": None}
    else:
        info = _generic_model(data, relpath)
        ck = checkpoint_info(info["family"], args.get("revision"))
        info["step"] = ck["step"]
        if ck["step"] is not None and info["family"] in ("Pythia", "Pythia-deduped"):
            info["tokens_per_step"], info["final_step"] = PYTHIA_TOKENS_PER_STEP, PYTHIA_FINAL_STEP
    return info


def detect(path: Path) -> bool:
    """A folder with lm-eval-harness results JSON (any layout)."""
    path = Path(path)
    if not path.is_dir():
        return False
    for p in list(path.glob("**/*.json"))[:20]:
        try:
            head = p.read_text(encoding="utf-8", errors="replace")[:4000]
        except OSError:
            continue
        if '"results"' in head and ('"versions"' in head or '"config"' in head or '"n-shot"' in head):
            return True
    return False


_PATTERNS = {
    "pythia": ["evals/pythia-v1/**/*.json", "evals/opt/*.json", "evals/bloom/*.json"],
    "lm-eval-harness-results-2023": ["results/**/*.json"],
}


def layout_of(root: Path) -> str:
    """Which layout a folder has: ``pythia``, ``lm-eval-harness-results-2023`` or ``generic``."""
    root = Path(root)
    if any(root.glob("evals/pythia-v1/*/")) or any(root.glob("evals/opt/*.json")) or any(root.glob("evals/bloom/*.json")):
        return "pythia"
    if any(root.glob("results/*/*/*.json")):
        return "lm-eval-harness-results-2023"
    return "generic"


def parse(root: Path, source: str = NAME, progress=None) -> Batch:
    """Parse every results JSON under ``root`` into one :class:`Batch` (rules: module docstring).

    The layout is the folder's shape (:func:`layout_of`): a catalogue folder has its own layout, and a
    user's results folder (whatever name it is stored under) is never forced into a catalogue layout.
    """
    root = Path(root)
    layout = layout_of(root)
    files = glob_files(root, _PATTERNS.get(layout, ["**/*.json"]))
    if layout not in _PATTERNS:   # a user's folder: only results files, not their samples or configs
        files = [p for p in files if not p.name.startswith("samples_")]
    if not files:
        raise IngestError(root, f"no lm-eval-harness results JSON for source {source!r} ({layout} layout)")
    issues: list[dict] = []
    rows: list[dict] = []
    for i, path in enumerate(files):
        relpath = rel(root, path)
        data = read_results_json(path, relpath)
        info = _file_info(layout, source, relpath, data, issues)
        if info is None:
            continue
        file_rows = results_rows(data, relpath, source, issues)
        if not file_rows:
            issues.append(issue(source, "missing_value", relpath, "", "results", "{}", "no metrics in the file"))
            continue
        # shots: the config decides; a name/folder that implies otherwise is recorded once per file
        cfg_shots = {r["shots"] for r in file_rows}
        implied = info.get("implied_shots")
        if implied is not None and cfg_shots != {implied}:
            issues.append(issue(source, "config_mismatch", relpath, "config", "num_fewshot",
                                ",".join(str(s) for s in sorted(cfg_shots, key=str)),
                                f"file name / folder implies {implied}-shot; the config's num_fewshot is used"))
        step = info.get("step")
        tps = info.get("tokens_per_step")
        for r in file_rows:
            r["family"] = info["family"]
            r["source_family"] = info["source_family"]
            r["model"] = info["model"]
            r["variant"] = ";".join(v for v in (info.get("variant", ""), r["variant"]) if v)
            r["checkpoint_step"] = step
            r["is_final"] = True if step is None else (info.get("final_step") is not None
                                                        and step == info["final_step"])
            r["tokens"] = float(step * tps) if (step is not None and tps) else np.nan
            r["source_file"] = relpath
        rows.extend(file_rows)
        if progress and (i + 1) % 100 == 0:
            progress(Progress(f"{source}: {i + 1}/{len(files)} files", "parse", i + 1, len(files)))
    if not rows:
        raise IngestError(root, f"no metrics in any of {len(files)} results files")
    obs = pd.DataFrame.from_records(rows)
    obs = _separate_task_versions(obs)
    obs = obs.drop(columns=["task_version"])
    obs["params"] = np.nan
    obs["in_scoring"] = True
    # an intermediate checkpoint of a model whose tokens per step are unknown keeps NULL tokens
    # (the curated tokens are the fully trained model's)
    ck_unknown = obs["checkpoint_step"].notna() & pd.to_numeric(obs["tokens"], errors="coerce").isna()
    obs = attach_curated_sizes(obs, issues, source)
    obs.loc[ck_unknown, "tokens"] = np.nan
    if progress:
        progress(Progress(f"{source}: {len(files)} files, {len(obs)} observations", "parse"))
    obs = finish_observations(obs, issues, source)
    return Batch(source, obs, None, issues, hash_files(root, files))


def _separate_task_versions(obs: pd.DataFrame) -> pd.DataFrame:
    """A task seen under several harness task versions gets ``v<version>`` in its variant."""
    if obs.empty or "task_version" not in obs.columns:
        return obs
    nver = obs.groupby("task")["task_version"].nunique()
    multi = obs["task"].isin(nver[nver > 1].index)
    if multi.any():
        tag = "v" + obs.loc[multi, "task_version"].astype(str)
        obs.loc[multi, "variant"] = np.where(obs.loc[multi, "variant"] == "", tag,
                                             obs.loc[multi, "variant"] + ";" + tag)
    return obs
