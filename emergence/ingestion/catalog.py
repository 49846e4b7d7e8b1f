"""The catalogue: every known source, its parser, public origin, pinned commit and license.

Catalogue names are the folder names in ``../shared/data`` (plus ``bigbench``, ``lm-eval-results``,
``lm-eval-samples``, ``zeroeval`` and ``mmlu-pro``, which read a user's own checkout or output folder).  Each entry pins the
public repository to a commit and a file list (glob patterns relative to the repository
root, which is also the layout of the local copy), so a store built from the download and
one built from the local copy hold the same rows.

Adding a source means one parser module in :mod:`emergence.ingestion.sources` and one entry here.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass

__all__ = ["SourceSpec", "CATALOG", "get", "names", "parser"]


@dataclass(frozen=True)
class SourceSpec:
    name: str
    module: str                      # emergence.ingestion.sources.<module>
    description: str
    repo: str = ""                   # owner/name on GitHub ('' = user-supplied data only)
    commit: str = ""
    license: str = "unknown"
    redistributable: bool = False    # may a public deployment serve it by default?
    files: tuple[str, ...] = ()      # glob patterns, relative to the repository root
    citation: str = ""
    paper_url: str = ""
    #: how a missing copy is fetched: "raw" (the pinned files at ``commit`` through the GitHub API
    #: and raw.githubusercontent.com) or "git" (a sparse partial clone of branch ``ref``, resolved to a
    #: commit once per fetch and recorded; see :mod:`emergence.ingestion.remote`)
    fetch: str = "raw"
    ref: str = ""
    #: environment variable that replaces the git location (a URL or a local path), for mirrors and tests
    repo_env: str = ""
    #: Git LFS files fetched only on request (``--full-logs``), through GitHub's LFS media URL
    lfs_files: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        if not self.repo:
            return ""
        base = f"https://github.com/{self.repo}"
        return f"{base}/tree/{self.commit}" if self.commit else base

    @property
    def downloadable(self) -> bool:
        """Can a missing copy be fetched from the public repository?"""
        return bool(self.repo) and (bool(self.commit) if self.fetch == "raw" else bool(self.ref))

    def git_location(self) -> str:
        """Where a "git" source is cloned from: ``$<repo_env>`` if set, else its GitHub repository."""
        env = os.environ.get(self.repo_env, "").strip() if self.repo_env else ""
        return env or f"https://github.com/{self.repo}.git"


_CATALOG: list[SourceSpec] = [
    SourceSpec(
        "pythia", "lm_eval_results",
        "EleutherAI Pythia suite: lm-eval-harness results, 16 models x training checkpoints, 0/5-shot; OPT and BLOOM baselines",
        repo="EleutherAI/pythia", commit="a19eecb807ec2c79a39ebf18108816e6ffffc1d5", license="Apache-2.0",
        redistributable=True,
        files=("evals/pythia-v1/**/*.json", "evals/opt/*.json", "evals/bloom/*.json"),
        citation="Biderman et al. 2023, Pythia: A Suite for Analyzing Large Language Models Across Training and Scaling",
        paper_url="https://arxiv.org/abs/2304.01373"),
    SourceSpec(
        "lm-eval-harness-results-2023", "lm_eval_results",
        "lm-evaluation-harness 2023 results for BLOOM, LLaMA, XGLM, OPT, MPT (BIG-Bench-Hard for some)",
        repo="EleutherAI/lm-evaluation-harness", commit="3cd3921f7dfc74eaaaf93f846642438d5dbcd34b",
        license="MIT", redistributable=True, files=("results/**/*.json",),
        citation="Gao et al., A framework for few-shot language model evaluation (lm-evaluation-harness)",
        paper_url="https://github.com/EleutherAI/lm-evaluation-harness"),
    SourceSpec(
        "obsscaling", "obsscaling",
        "Observational Scaling Laws: per-model benchmark tables with size, tokens, FLOPs; 2-shot BIG-bench emergent tasks",
        repo="ryoungj/ObsScaling", commit="4d6e1e43fd2635d04654aa77d1df9d5266ea0382", license="Apache-2.0",
        redistributable=True, files=("eval_results/*.csv",),
        citation="Ruan, Maddison & Hashimoto 2024, Observational Scaling Laws and the Predictability of Language Model Performance",
        paper_url="https://arxiv.org/abs/2405.10938"),
    SourceSpec(
        "expemergence", "expemergence",
        "Accuracy and Brier score (overall and per difficulty group) on 6 BIG-bench MC tasks + ARC, HellaSwag, MMLU",
        repo="tony10101105/U-shaped-and-Inverted-U-Scaling-behind-Emergent-Abilities-of-Large-Language-Models",
        commit="288b731d68fbc0328de28d394af108da71a09d36", license="MIT", redistributable=True,
        files=("data/*/*.csv",),
        citation="Wu & Lo 2025, U-shaped and Inverted-U Scaling behind Emergent Abilities of Large Language Models (ICLR)",
        paper_url="https://arxiv.org/abs/2410.01692"),
    SourceSpec(
        "on-emergence", "on_emergence",
        "5,055 runs, 24 models, 23 mostly BIG-bench tasks: exact match, BERTScore, edit distance, prompt types, shots, seeds",
        repo="UKPLab/on-emergence", commit="f791b653c42251a4dbd0bdc7a064c41ea0a3c51b", license="CC-BY-SA-4.0",
        redistributable=True, files=("evaluation_scores.csv",),
        citation="Lu et al. 2024, Are Emergent Abilities in Large Language Models just In-Context Learning? (ACL)",
        paper_url="https://arxiv.org/abs/2309.01809"),
    SourceSpec(
        "mlfoundations-scaling", "mlfoundations",
        "104 OpenLM models (10.6M-6.9B) x 3 corpora x token multipliers, 46 in-context tasks incl. 15 BIG-bench",
        repo="mlfoundations/scaling", commit="a003c4913793ac2ae7ef87b28ecb562955d026d5", license="MIT",
        redistributable=True,
        files=("exp_data/evals/*.json", "exp_data/models/*.json", "exp_data/eval_metadata.csv"),
        citation="Gadre et al. 2024, Language models scale reliably with over-training and on downstream tasks",
        paper_url="https://arxiv.org/abs/2403.08540"),
    SourceSpec(
        "epoch-benchmark-stitching", "epoch",
        "Epoch AI per-benchmark score CSVs (mostly frontier models, no sizes)",
        repo="epoch-research/benchmark-stitching", commit="f87d3cc8e8a8f8471be475ebce58fb9a73b4e756",
        license="MIT", redistributable=True, files=("data/external_benchmark_*.csv",),
        citation="Epoch AI 2025, benchmark stitching data", paper_url="https://github.com/epoch-research/benchmark-stitching"),
    SourceSpec(
        "openllm-leaderboard-benchbench", "openllm",
        "Open LLM Leaderboard v1 (1,804 models) / v2 (348) snapshots, 2024-08-29, no sizes",
        repo="IBM/benchbench", commit="1dfd46a6f5dbc6ca8b7728425f1991625a6d4088", license="MIT",
        redistributable=True, files=("src/bat/assets/benchmarks_old/hf_open_llm_v*.csv",),
        citation="Perlitz et al. 2024, Do These LLM Benchmarks Agree? (BenchBench)",
        paper_url="https://arxiv.org/abs/2407.13696"),
    SourceSpec(
        "inverse-scaling-eval-pipeline", "inverse_scaling",
        "Per-example class-normalised -log p(correct) for GPT-2 (4 sizes) and GPT-3 (ada..davinci) on classification tasks",
        repo="naimenz/inverse-scaling-eval-pipeline", commit="34c8c7b066c5134fd26d6658ffa1522d2785d1d4",
        license="none stated", redistributable=False, files=("results/*/*.csv",),
        citation="McKenzie et al. 2023, Inverse Scaling: When Bigger Isn't Better (eval pipeline)",
        paper_url="https://arxiv.org/abs/2306.09479"),
    SourceSpec(
        "gpt3-multiplication-tables", "multiplication",
        "Raw completions for all 10,000 two-digit products: InstructGPT ada/babbage/curie-001, davinci-003, GPT-2, GPT-Neo",
        repo="mukobi/GPT-3-Multiplication-Tables", commit="63c437f235500b9ae8d01e78c414f9b8b61b6b79",
        license="MIT", redistributable=True, files=("data/*.csv",),
        citation="Mukobi 2022, GPT-3 Multiplication Tables", paper_url="https://github.com/mukobi/GPT-3-Multiplication-Tables"),
    SourceSpec(
        "monkeys-powerlaws", "monkeys",
        "Per-problem sample and correct counts: Pythia 70M-12B x 128 MATH problems x 10,000 samples; Pythia checkpoints on GSM8K/MATH",
        repo="RylanSchaeffer/KoyejoLab-Large-How-Do-Language-Monkey-Power-Get-Their-Power",
        commit="cd078aef2a13e4310fab204860b99c4c39c25d40", license="none stated", redistributable=False,
        files=("data/processed_data/*.parquet", "data/raw_data/large_language_monkeys/*.parquet",
               "data/raw_data/gpt4_gsm8k/models_pythia.csv"),
        citation="Schaeffer et al. 2025, How Do Large Language Monkeys Get Their Power (Laws)? (ICML); "
                 "Brown et al. 2024, Large Language Monkeys",
        paper_url="https://arxiv.org/abs/2502.17578"),
    SourceSpec(
        "zeroeval-results", "zeroeval",
        "ZeroEval per-example zero-shot CoT generations: GSM8K (gemma-2, Llama-3.1, 3 sizes each), MATH level 5 "
        "(Qwen2.5, 4 sizes); answers extracted and scored as ZeroEval does",
        repo="WildEval/ZeroEval", commit="8c1485edf12c6efb5f69135a562927c5ad484059", license="Apache-2.0",
        redistributable=True,
        files=tuple(f"result_dirs/gsm/{m}.json" for m in (
            "gemma-2-2b-it", "gemma-2-9b-it", "gemma-2-27b-it@together", "Meta-Llama-3.1-8B-Instruct",
            "Meta-Llama-3.1-70B-Instruct", "Meta-Llama-3.1-405B-Instruct@hyperbolic"))
        + tuple(f"result_dirs/math-l5/Qwen2.5-{s}-Instruct.json" for s in ("3B", "7B", "32B", "72B")),
        citation="Lin et al. 2024, ZeroEval: A Unified Framework for Evaluating Language Models",
        paper_url="https://github.com/WildEval/ZeroEval"),
    SourceSpec(
        "mmlu-pro-outputs", "mmlu_pro",
        "MMLU-Pro per-question 5-shot CoT outputs of 12 open models on 12,032 questions (parsed letter vs answer)",
        repo="TIGER-AI-Lab/MMLU-Pro", commit="f418b116db00b065c2aea046518d8fcf74d39872", license="Apache-2.0",
        redistributable=True,
        files=tuple(f"eval_results/model_outputs_{m}_5shots.zip" for m in (
            "Meta-Llama-3-8B", "Meta-Llama-3-70B", "Meta-Llama-3_1-8B", "Meta-Llama-3_1-70B", "Yi-6B", "Yi-34B",
            "Mistral-7B-v0.1", "Mixtral-8x7B-v0.1", "Qwen1.5-7B-Chat", "Qwen1.5-72B-Chat", "Qwen1.5-110B",
            "gemma-7b")),
        citation="Wang et al. 2024, MMLU-Pro: A More Robust and Challenging Multi-Task Language Understanding "
                 "Benchmark (NeurIPS Datasets and Benchmarks)",
        paper_url="https://arxiv.org/abs/2406.01574"),
    SourceSpec(
        "bigbench", "bigbench",
        "BIG-bench native results: every task's scores_<family>_<model>.json (BIG-G, BIG-G sparse, GPT, PaLM); "
        "with --full-logs, the BIG-G per-query logs for Brier re-scoring",
        repo="google/BIG-bench", commit="", license="Apache-2.0", redistributable=True,
        # full-log_*.json: none are committed as plain files as far as we know, but a checkout that has
        # them reads them, so the download takes them too and both give the same rows
        files=("bigbench/benchmark_tasks/*/results/scores_*.json",
               "bigbench/benchmark_tasks/*/results/full-log_*.json"),
        citation="Srivastava et al. 2022, Beyond the Imitation Game (BIG-bench)",
        paper_url="https://arxiv.org/abs/2206.04615",
        fetch="git", ref="main", repo_env="EMERGENCE_BIGBENCH_REPO",
        lfs_files=("bigbench/benchmark_tasks/*/results/full-logs_*.tar.lrz",)),
    SourceSpec(
        "lm-eval-results", "lm_eval_results",
        "lm-evaluation-harness results JSON (old or new key style) from a user's own runs",
        license="user data", redistributable=False, files=("**/*.json",),
        citation="Gao et al., lm-evaluation-harness", paper_url="https://github.com/EleutherAI/lm-evaluation-harness"),
    SourceSpec(
        "zeroeval", "zeroeval",
        "ZeroEval result_dirs/<task>/<model>.json from a user's own runs",
        license="user data", redistributable=False, files=("result_dirs/*/*.json",),
        citation="Lin et al. 2024, ZeroEval", paper_url="https://github.com/WildEval/ZeroEval"),
    SourceSpec(
        "mmlu-pro", "mmlu_pro",
        "MMLU-Pro eval_results/model_outputs_<model>_<k>shots.zip from a user's own runs",
        license="user data", redistributable=False, files=("eval_results/model_outputs_*shots.zip",),
        citation="Wang et al. 2024, MMLU-Pro", paper_url="https://arxiv.org/abs/2406.01574"),
    SourceSpec(
        "lm-eval-samples", "lm_eval_samples",
        "lm-evaluation-harness --log_samples per-example jsonl (per-choice log-likelihoods) from a user's own runs",
        license="user data", redistributable=False, files=("**/samples_*.jsonl",),
        citation="Gao et al., lm-evaluation-harness", paper_url="https://github.com/EleutherAI/lm-evaluation-harness"),
]

CATALOG: dict[str, SourceSpec] = {s.name: s for s in _CATALOG}


def names() -> list[str]:
    return list(CATALOG)


def get(name: str) -> SourceSpec:
    try:
        return CATALOG[name]
    except KeyError:
        raise KeyError(f"unknown source {name!r}; known: {', '.join(CATALOG)}") from None


def parser(name_or_module: str):
    """The parser module of a catalogue entry (imported on demand)."""
    module = CATALOG[name_or_module].module if name_or_module in CATALOG else name_or_module
    return importlib.import_module(f"emergence.ingestion.sources.{module}")
