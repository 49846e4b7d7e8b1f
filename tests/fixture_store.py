"""A small store built in code: every page of the dashboard shows real content on it, with no ../shared/data.

Each source is a :class:`emergence.ingestion.schema.Batch` made here in Python (observations, per-example rows and data
issues, as a parser would return them) and written through the real ingest path: the per-example rows are
re-scored by :func:`emergence.ingestion.ingest.parse_source` (``rescored:*`` observations, the source's own value kept
where it reports the same metric), then :meth:`emergence.store.Store.write` scores every series
(:func:`emergence.analysis.series.score_observations`) and runs the store-wide false discovery rate step, as
``emergence ingest`` does.  Nothing here is a stand-in for the analysis: only the inputs are made up.

The sources carry catalogue names where a page looks a source up by name (``gpt3-multiplication-tables`` for the
multiplication replication, ``bigbench`` for Fig. 6, ``pythia`` as the Predictability page's default), with the
shapes those sources have:

- ``expemergence``: accuracy (multiple choice grade) and a target Brier score of the same outputs, tasks
  ``arithmetic`` (a sharp, emergent-looking jump in the grade between 1B and 3B parameters while the Brier
  score falls smoothly) and ``hindu_knowledge`` (smooth); families Pythia (8 sizes) and OPT (6);
- ``obsscaling``: ``bbh`` as a whole and its subtasks ``boolean_expressions`` (chance 0.5) and
  ``date_understanding``, exact match, families Qwen (6 sizes) and Llama-2 (3: never decidable);
- ``pythia``: ``lambada_openai`` accuracy and perplexity per size, and five training checkpoints of two
  models (the ``step`` axis and its FDR family);
- ``gpt3-multiplication-tables``: InstructGPT completions of a*b (1x1, 1x2 and 2x2 digits), re-scored to
  exact match and edit distance;
- ``bigbench``: BIG-G per-choice log-probabilities (4 choices), re-scored to grade and Brier score;
- ``inverse-scaling-eval-pipeline``: GPT-3 per-choice log-probabilities on a task that gets worse with size;
- ``monkeys-powerlaws``: repeated-sampling records (100 samples per problem; passes follow the PassUntil
  law PU(N) = exp(-c N^-alpha)) for the PassUntil chart and the pass rate.

Deterministic: one seeded generator per source, so two builds give the same fingerprint.

``python tests/fixture_store.py PATH`` builds one at PATH (e.g. to run the app on it).
"""
from __future__ import annotations

import hashlib
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from emergence.ingestion import catalog  # noqa: E402
from emergence.ingestion.schema import EXAMPLE_COLUMNS, OBSERVATION_COLUMNS, Batch, conform, issue  # noqa: E402

#: source -> what it holds (the tests read this rather than repeat it)
SOURCES = ("expemergence", "obsscaling", "pythia", "gpt3-multiplication-tables", "bigbench",
           "inverse-scaling-eval-pipeline", "monkeys-powerlaws")

PYTHIA = {"pythia-70m": 7.0e7, "pythia-160m": 1.6e8, "pythia-410m": 4.1e8, "pythia-1b": 1.0e9,
          "pythia-1.4b": 1.4e9, "pythia-2.8b": 2.8e9, "pythia-6.9b": 6.9e9, "pythia-12b": 1.2e10}
OPT = {"opt-125m": 1.25e8, "opt-350m": 3.5e8, "opt-1.3b": 1.3e9, "opt-2.7b": 2.7e9, "opt-6.7b": 6.7e9,
       "opt-13b": 1.3e10}
QWEN = {"Qwen1.5-0.5B": 5e8, "Qwen1.5-1.8B": 1.8e9, "Qwen1.5-4B": 4e9, "Qwen1.5-7B": 7e9, "Qwen1.5-14B": 1.4e10,
        "Qwen1.5-72B": 7.2e10}
LLAMA2 = {"Llama-2-7b": 7e9, "Llama-2-13b": 1.3e10, "Llama-2-70b": 7e10}
INSTRUCTGPT = {"text-ada-001": 3.5e8, "text-babbage-001": 1.3e9, "text-curie-001": 6.7e9, "text-davinci-003": 1.75e11}
GPT3 = {"ada": 3.5e8, "babbage": 1.3e9, "curie": 6.7e9, "davinci": 1.75e11}
BIG_G = {"2m": 2.0e6, "16m": 1.6e7, "125m": 1.25e8, "1b": 1.0e9, "8b": 8.0e9, "137b": 1.37e11}
PYTHIA_FINAL_STEP = 143_000
PYTHIA_STEPS = (1_000, 8_000, 33_000, 71_000, PYTHIA_FINAL_STEP)


def _sha(*parts) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()


def _logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


def _obs_row(source, file, task, metric, source_metric, family, model, params, value, *, n=1000, subtask="",
             baseline=None, hib=True, stderr=None, tokens=None, step=None, is_final=True, row=0, **extra) -> dict:
    if stderr is None:
        stderr = math.sqrt(max(value * (1 - value), 1e-4) / n) if 0 <= value <= 1 else 0.02 * abs(value) + 1e-3
    tokens = tokens if tokens is not None else 20.0 * params
    return {"source": source, "task": task, "subtask": subtask, "metric": metric, "source_metric": source_metric,
            "higher_is_better": hib, "family": family, "source_family": family, "model": model, "params": params,
            "params_source": "fixture", "tokens": tokens, "flops": 6.0 * params * tokens, "checkpoint_step": step,
            "is_final": is_final, "shots": 0, "value": float(value), "value_scale": "unit", "stderr": stderr,
            "n_examples": n, "random_baseline": baseline, "baseline_source": "fixture" if baseline is not None else None,
            "source_file": file, "row_ref": str(row), "in_scoring": True, **extra}


def _batch(source: str, obs: list[dict], examples: pd.DataFrame | None = None, issues: list[dict] = ()) -> Batch:
    """A parser's return value: conformed tables (:func:`emergence.ingestion.schema.conform`), files with their hashes."""
    files = sorted({r["source_file"] for r in obs} | (set(examples["source_file"]) if examples is not None else set()))
    observations = conform(pd.DataFrame(obs, columns=list(OBSERVATION_COLUMNS) if not obs else None),
                           OBSERVATION_COLUMNS, source)
    if examples is not None:
        examples = conform(examples, EXAMPLE_COLUMNS, source)
    return Batch(source=source, observations=observations, examples=examples, issues=list(issues),
                 files={f: _sha(source, f) for f in files})


# ---------------------------------------------------------------- sources
def expemergence() -> Batch:
    """Accuracy and target Brier score of the same lm-eval runs: arithmetic jumps, hindu_knowledge is smooth."""
    rng = np.random.default_rng(1)
    rows, issues = [], []
    for task, file in (("arithmetic", "data/arithmetic/arithmetic_fixture.csv"),
                       ("hindu_knowledge", "data/hindu_knowledge/hindu_knowledge_fixture.csv")):
        for family, sizes in (("Pythia", PYTHIA), ("OPT", OPT)):
            for i, (model, n) in enumerate(sizes.items()):
                x = math.log10(n)
                if task == "arithmetic":        # chance until ~1.5B, then a jump within ~0.3 decades
                    acc = 0.25 + 0.7 * float(_logistic((x - 9.3) / 0.06)) + rng.normal(0, 0.004)
                    brier = 0.75 - 0.1 * (x - 7.8) + rng.normal(0, 0.004)
                else:                            # a straight line in log N
                    acc = 0.25 + 0.12 * (x - 7.8) + rng.normal(0, 0.004)
                    brier = 0.70 - 0.08 * (x - 7.8) + rng.normal(0, 0.004)
                acc = float(np.clip(acc, 0.0, 1.0))
                rows.append(_obs_row("expemergence", file, task, "multiple_choice_grade", "acc", family, model, n, acc,
                                     baseline=0.25, row=len(rows)))
                rows.append(_obs_row("expemergence", file, task, "brier_score_target", "brier", family, model, n,
                                     brier, hib=False, row=len(rows)))
    issues.append(issue("expemergence", "missing_value", "data/arithmetic/arithmetic_fixture.csv", "17", "acc", "",
                        "empty cell: the row is left out"))
    issues.append(issue("expemergence", "duplicate", "data/arithmetic/arithmetic_fixture.csv", "18", "Model",
                        "pythia-70m", "same key twice with the same value: kept once"))
    return _batch("expemergence", rows, issues=issues)


def obsscaling() -> Batch:
    """BIG-bench Hard exact match, the task as a whole and per subtask (boolean expressions: chance 0.5)."""
    rng = np.random.default_rng(2)
    rows = []
    file = "data/base_llm_benchmark_eval.csv"
    for family, sizes in (("Qwen", QWEN), ("Llama-2", LLAMA2)):
        for model, n in sizes.items():
            x = math.log10(n)
            sub = {"boolean_expressions": (0.5, 0.40 + 0.15 * (x - 8.7)),
                   "date_understanding": (0.2, 0.10 + 0.18 * (x - 8.7))}
            for subtask, (chance, v) in sub.items():
                v = float(np.clip(v + rng.normal(0, 0.005), 0.0, 1.0))
                rows.append(_obs_row("obsscaling", file, "bbh", "exact_match", "exact_match", family, model, n, v,
                                     subtask=subtask, baseline=chance, n=250, row=len(rows)))
            whole = float(np.mean([r["value"] for r in rows[-2:]]))
            rows.append(_obs_row("obsscaling", file, "bbh", "exact_match", "exact_match", family, model, n, whole,
                                 baseline=0.35, n=500, row=len(rows)))
    issues = [issue("obsscaling", "no_scale", file, "41", "Model Size (B)", "", "no size for this model: left out")]
    return _batch("obsscaling", rows, issues=issues)


def pythia() -> Batch:
    """lambada_openai accuracy and perplexity per size; five checkpoints of pythia-410m and pythia-1.4b."""
    rng = np.random.default_rng(3)
    rows = []
    for model, n in PYTHIA.items():
        x = math.log10(n)
        file = f"evals/pythia-v1/{model}/zero-shot/{model}_step{PYTHIA_FINAL_STEP}.json"
        acc = float(np.clip(0.30 + 0.11 * (x - 7.8) + rng.normal(0, 0.003), 0, 1))
        ppl = float(math.exp(4.2 - 0.55 * (x - 7.8)))
        tok = 2_097_152.0 * PYTHIA_FINAL_STEP
        rows.append(_obs_row("pythia", file, "lambada_openai", "multiple_choice_grade", "acc", "Pythia", model, n, acc,
                             tokens=tok, step=PYTHIA_FINAL_STEP, n=5153, row=len(rows)))
        rows.append(_obs_row("pythia", file, "lambada_openai", "perplexity", "ppl", "Pythia", model, n, ppl,
                             hib=False, tokens=tok, step=PYTHIA_FINAL_STEP, n=5153, row=len(rows)))
        if model in ("pythia-410m", "pythia-1.4b"):
            for step in PYTHIA_STEPS[:-1]:
                f = f"evals/pythia-v1/{model}/zero-shot/{model}_step{step}.json"
                s = math.log10(step) - math.log10(PYTHIA_FINAL_STEP)          # <= 0
                a = float(np.clip(acc + 0.12 * s + rng.normal(0, 0.003), 0, 1))
                rows.append(_obs_row("pythia", f, "lambada_openai", "multiple_choice_grade", "acc", "Pythia", model, n,
                                     a, tokens=2_097_152.0 * step, step=step, is_final=False, n=5153, row=len(rows)))
                rows.append(_obs_row("pythia", f, "lambada_openai", "perplexity", "ppl", "Pythia", model, n,
                                     ppl * math.exp(-0.8 * s), hib=False, tokens=2_097_152.0 * step, step=step,
                                     is_final=False, n=5153, row=len(rows)))
    return _batch("pythia", rows)


def _digits_problems() -> list[tuple[int, int]]:
    rng = np.random.default_rng(4)
    one = [(int(a), int(b)) for a, b in rng.integers(1, 10, size=(24, 2))]
    mixed = [(int(a), int(b)) for a, b in zip(rng.integers(1, 10, 24), rng.integers(10, 100, 24))]
    two = [(int(a), int(b)) for a, b in rng.integers(10, 100, size=(24, 2))]
    return list(dict.fromkeys(one + mixed + two))


def multiplication() -> Batch:
    """InstructGPT completions of a*b: right more often with size and for shorter products; a wrong one differs
    in one or two digits (so edit distance falls smoothly while exact match jumps)."""
    rng = np.random.default_rng(5)
    rows = []
    for i, (model, n) in enumerate(INSTRUCTGPT.items()):
        file = f"data/multiplication_data_{model}_0_100.csv"
        for a, b in _digits_problems():
            target = str(a * b)
            p_right = float(_logistic(2.2 * (math.log10(n) - 9.0) - 0.9 * (len(target) - 2)))
            pred = target
            if rng.random() > p_right:
                k = 1 + int(rng.random() < 0.5)
                digits = list(target)
                for j in rng.choice(len(digits), size=min(k, len(digits)), replace=False):
                    digits[j] = str((int(digits[j]) + 1 + int(rng.integers(0, 8))) % 10)
                pred = "".join(digits)
            rows.append({"source": "gpt3-multiplication-tables", "task": "multiplication", "subtask": "",
                         "family": "InstructGPT", "source_family": "InstructGPT", "model": model, "params": n,
                         "shots": 0, "example_id": f"{a}*{b}", "prediction": pred, "target": target,
                         "correct": pred == target, "source_file": file, "row_ref": f"{a}*{b}"})
    return _batch("gpt3-multiplication-tables", [], pd.DataFrame(rows))


def _choice_examples(source, task, family, sizes, *, slope, centre, n_q, seed, file_of, n_choices=4,
                     non_embedding=False) -> list[dict]:
    """Per-choice log-probabilities: the right choice's logit grows by ``slope`` per decade around ``centre``."""
    rng = np.random.default_rng(seed)
    rows = []
    difficulty = rng.normal(0, 0.7, n_q)
    for model, n in sizes.items():
        for q in range(n_q):
            logits = rng.normal(0, 0.5, n_choices)
            right = q % n_choices
            logits[right] += slope * (math.log10(n) - centre) - difficulty[q]
            lp = logits - np.logaddexp.reduce(logits)
            rows.append({"source": source, "task": task, "subtask": "", "family": family, "source_family": family,
                         "model": model, "params": n, "non_embedding_params": 0.8 * n if non_embedding else None,
                         "shots": 0, "example_id": f"{task}-{q}", "choice_logprobs": [float(v) for v in lp],
                         "correct_index": right, "n_choices": n_choices, "source_file": file_of(model),
                         "row_ref": str(q)})
    return rows


def bigbench() -> Batch:
    """BIG-G T=0 full logs on two multiple-choice tasks (non-embedding sizes given, as BIG-bench's)."""
    rows = []
    for j, (task, slope, centre) in enumerate((("logical_deduction", 1.6, 9.0), ("hindu_knowledge", 2.4, 9.6))):
        rows += _choice_examples("bigbench", task, "BIG-G T=0", BIG_G, slope=slope, centre=centre, n_q=48, seed=10 + j,
                                 file_of=lambda m, t=task: f"bigbench/benchmark_tasks/{t}/results/full-log_BIG-G_T=0_{m}"
                                                           ".json", non_embedding=True)
    issues = [issue("bigbench", "config_mismatch", "bigbench/benchmark_tasks/logical_deduction/results/"
                    "scores_BIG-G_T=0_2m.json", "", "number_of_shots", "3", "fixture: shots differ from the log")]
    return _batch("bigbench", [], pd.DataFrame(rows), issues)


def inverse_scaling() -> Batch:
    """GPT-3 on a task that gets worse with size (the right choice's logit falls with scale)."""
    rows = _choice_examples("inverse-scaling-eval-pipeline", "hindsight-neglect", "GPT-3", GPT3, slope=-0.9,
                            centre=9.5, n_q=60, seed=20, file_of=lambda m: f"data/hindsight-neglect/{m}.csv")
    return _batch("inverse-scaling-eval-pipeline", [], pd.DataFrame(rows))


def monkeys() -> Batch:
    """Repeated sampling: 100 samples per problem, passes ~ Binomial(100, PU), PU(N) = exp(-c N^-alpha) per
    problem (Hu et al. 2023, Eq. 3), on two tasks of Pythia models."""
    rng = np.random.default_rng(30)
    rows = []
    for task, alpha, n_problems in (("gsm8k", 0.45, 40), ("math", 0.35, 40)):
        log_c = rng.normal(math.log(2e4) if task == "gsm8k" else math.log(4e3), 0.6, n_problems)
        for model, n in list(PYTHIA.items())[1:]:
            pu = np.exp(-np.exp(log_c) * n ** (-alpha))
            passed = rng.binomial(100, pu)
            for q in range(n_problems):
                rows.append({"source": "monkeys-powerlaws", "task": task, "subtask": "", "family": "Pythia",
                             "source_family": "Pythia", "model": model, "params": n, "shots": 0,
                             "example_id": f"{task}-{q}", "n_samples": 100, "n_correct": int(passed[q]),
                             "source_file": f"data/{task}_{model}.csv", "row_ref": str(q)})
    return _batch("monkeys-powerlaws", [], pd.DataFrame(rows))


BUILDERS = {"expemergence": expemergence, "obsscaling": obsscaling, "pythia": pythia,
            "gpt3-multiplication-tables": multiplication, "bigbench": bigbench,
            "inverse-scaling-eval-pipeline": inverse_scaling, "monkeys-powerlaws": monkeys}


def batches(names=SOURCES) -> list[tuple[Batch, dict]]:
    """Each source as the ingest hands it to the store: parsed (here: built), its examples re-scored into
    observations, with the catalogue metadata beside it."""
    from emergence.ingestion.ingest import Planned, parse_source
    out = []
    for name in names:
        batch = BUILDERS[name]()
        module = SimpleNamespace(parse=lambda root, source, progress=None, b=batch, **kw: b)
        planned = Planned(name, Path("fixture") / name, catalog.CATALOG.get(name), module)
        batch = parse_source(planned)
        spec = catalog.CATALOG.get(name)
        meta = {"root": f"fixture/{name}", "url": spec.url if spec else "", "repo": spec.repo if spec else "",
                "commit": "fixture", "license": spec.license if spec else "fixture",
                "redistributable": bool(spec.redistributable) if spec else True,
                "citation": spec.citation if spec else ""}
        out.append((batch, meta))
    return out


def build(db: str | Path, names=SOURCES) -> Path:
    """Write the fixture sources into the store at ``db`` in one atomic write (scored, FDR applied)."""
    from emergence.ingestion.ingest import fdr_step
    from emergence.analysis.series import apply_fdr, score_observations
    from emergence.store import Store
    db = Path(db)
    Store(db).write(batches(names), score=score_observations, finalize=fdr_step(apply_fdr))
    return db


if __name__ == "__main__":
    print(build(sys.argv[1] if len(sys.argv) > 1 else "fixture.duckdb"))
