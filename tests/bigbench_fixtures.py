"""BIG-bench fixtures built in code, shared by the parser, download and browser tests.

The shapes follow the BIG-bench package's own dataclasses (``pip download --no-deps
bigbench==1.0.0``; read, not a dependency) -- see the docstring of ``test_src_bigbench.py``
for the field-by-field references.  Sizes and scores are made up; only the shapes are BIG-bench's.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

MC_TASK = "logical_deduction"
MC_SUBTASKS = ["logical_deduction:three_objects", "logical_deduction:five_objects"]
MC_LOW = {"logical_deduction:three_objects": 1 / 3, "logical_deduction:five_objects": 1 / 5}
GEN_TASK = "modified_arithmetic"
SHOTS = [0, 1, 2]
# ModelData: name -> (total_params, non_embedding_params)
SIZES = {"2m": (9_637_376, 1_578_752), "125m": (134_228_992, 100_663_296), "2b": (2_097_218_048, 1_744_896_512)}


def model_data(family: str, name: str) -> dict:
    total, non_emb = SIZES[name]
    return {  # bigbench/api/model.py ModelData
        "model_family": family, "model_name": name, "total_params": total,
        "non_embedding_params": non_emb, "flop_matched_non_embedding_params": non_emb,
        "training_batch_size": 262144, "training_steps": 500000,
        "description": "A dense decoder-only transformer (test fixture)",
        "decoding_params": {"temperature": 0.0 if family.endswith("T=0") else 1.0},
        "additional_details": "",
    }


def mcg(m: int, shots: int, sub: int) -> float:
    """A made-up multiple choice grade: grows with model index m, shots and drops with subtask."""
    return round(0.30 + 0.10 * m + 0.02 * shots - 0.05 * sub, 6)


def mc_scores(m: int) -> list[dict]:
    """ScoreData list (bigbench/api/task.py) for the MC task with two JSON subtasks."""
    out = []
    for shots in SHOTS:
        for j, sub in enumerate(MC_SUBTASKS):
            out.append({"score_dict": {"multiple_choice_grade": mcg(m, shots, j),
                                       "calibration_multiple_choice_brier_score": round(0.25 - 0.02 * m, 6),
                                       "expected_calibration_error": round(0.3 - 0.05 * m, 6)},
                        "preferred_score": "multiple_choice_grade", "number_of_shots": shots,
                        "low_score": MC_LOW[sub], "high_score": 1.0, "subtask_description": sub})
    for shots in SHOTS:  # add_aggregate_scores: one aggregate per shot count, appended at the end
        a, b = mcg(m, shots, 0), mcg(m, shots, 1)
        out.append({"score_dict": {"multiple_choice_grade": (a + b) / 2,
                                   "calibration_multiple_choice_brier_score": round(0.25 - 0.02 * m, 6),
                                   "expected_calibration_error": round(0.3 - 0.05 * m, 6),
                                   "normalized_aggregate_score": 100 * ((a - 1 / 3) / (2 / 3) + (b - 0.2) / 0.8) / 2},
                    "preferred_score": "multiple_choice_grade", "number_of_shots": shots,
                    "low_score": (1 / 3 + 1 / 5) / 2, "high_score": 1.0, "subtask_description": MC_TASK})
    return out


def gen_scores(m: int) -> list[dict]:
    """ScoreData list for a generative task without subtasks (subtask_description = task name)."""
    return [{"score_dict": {"exact_str_match": round(0.1 * m * shots, 6), "bleu": 10.0 * m + shots,
                            "log_likelihood": -5.0 + m + 0.1 * shots},
             "preferred_score": "exact_str_match", "number_of_shots": shots,
             "low_score": 0.0, "high_score": 1.0, "subtask_description": GEN_TASK} for shots in SHOTS]


def results_file(task: str, family: str, name: str, scores: list[dict], queries=None) -> dict:
    d = {"scores": scores, "task": {"task_name": task}, "model": model_data(family, name)}  # ResultsFileData
    if queries is not None:
        d["queries"] = queries
    return d


def mc_queries() -> list[dict]:
    """MultipleChoiceQuery dicts as util.update_cond_log_prob_query writes them."""
    return [
        {"function": "cond_log_prob", "absolute_normalization": False, "shots": 0, "task": MC_SUBTASKS[0],
         "samples": [
             {"input": "Q: A is left of B ... Which is leftmost?\nA: ", "targets": ["A", "B", "C"],
              "scores": [-0.5, -1.5, -2.0], "target_values": {"A": 1, "B": 0, "C": 0}, "correct": 1.0,
              "absolute_scores": [-3.0, -4.0, -4.5], "normalized_scores": [-0.5, -1.5, -2.0]},
             {"input": "Q: ... Which is rightmost?\nA: ", "targets": ["A", "B", "C"],
              "scores": [-0.2, -2.0, -3.0], "target_values": {"A": 0, "B": 0, "C": 1}, "correct": 0.0},
         ]},
        {"function": "cond_log_prob", "absolute_normalization": False, "shots": 1, "task": MC_SUBTASKS[1],
         "samples": [
             {"input": "Q: ...\nA: ", "targets": ["x", "y"], "scores": [-1.0, -0.1],
              "target_values": {"x": 1, "y": 1}, "correct": 1.0},
         ]},
    ]


def gen_queries() -> list[dict]:
    """GenerativeQuery + ScoringQuery dicts as util.update_generative_query / the logging model write them."""
    return [
        {"function": "generate_text", "max_length": 64, "stop_string": None, "output_regex": "[^\\.\\?\\!\\;\\n]+",
         "shots": 1, "task": GEN_TASK,
         "samples": [
             {"input": "In: 3 + 4\nOut: 8\nIn: 2 + 2\nOut: ", "output": "5", "raw_output": "5\nIn:",
              "targets": {"5": {"exact_str_match": 1.0, "bleu": None}}},
             {"input": "In: 1 + 1\nOut: ", "output": "3", "targets": {"3": {"exact_str_match": 0.0}}},
         ]},
        {"function": "cond_log_prob", "absolute_normalization": True, "shots": 1, "task": GEN_TASK,
         "samples": [{"input": "In: 2 + 2\nOut: ", "targets": ["5"], "scores": [-0.7]},
                     {"input": "In: 1 + 1\nOut: ", "targets": ["3", "three"], "scores": [-1.0, -2.0]}]},
    ]


def write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) if not isinstance(data, str) else data)
    return path


def make_checkout(tmp_path: Path) -> Path:
    """A BIG-bench checkout: 2 tasks x 3 BIG-G T=0 sizes, one T=1 file, two full logs."""
    root = tmp_path / "BIG-bench"
    tasks = root / "bigbench" / "benchmark_tasks"
    for m, name in enumerate(SIZES):
        write(tasks / MC_TASK / "results" / f"scores_BIG-G_T=0_{name}.json",
              results_file(MC_TASK, "BIG-G T=0", name, mc_scores(m)))
        write(tasks / GEN_TASK / "results" / f"scores_BIG-G_T=0_{name}.json",
              results_file(GEN_TASK, "BIG-G T=0", name, gen_scores(m)))
    write(tasks / GEN_TASK / "results" / "scores_BIG-G_T=1_2b.json",
          results_file(GEN_TASK, "BIG-G T=1", "2b", gen_scores(2)))
    # full log of a run whose scores file is present: scores repeated value for value
    write(tasks / MC_TASK / "results" / "full-log_BIG-G_T=0_2b.json",
          results_file(MC_TASK, "BIG-G T=0", "2b", mc_scores(2), mc_queries()))
    # full log of a model without a scores file: its scores are the only copy
    write(tasks / GEN_TASK / "results" / "full-log_BIG-G_sparse_125m.json",
          results_file(GEN_TASK, "BIG-G sparse", "125m", gen_scores(1), gen_queries()))
    write(tasks / MC_TASK / "task.json", {"name": MC_TASK, "keywords": ["logical reasoning"]})
    return root


# ------------------------------------------------------------------ full-log archives and LFS pointers
ARCHIVE_NAME = "full-logs_BIG-G_BIG-G-sparse.tar.lrz"


def require_lrzip() -> str:
    """The lrzip binary; skipped locally when absent, a failure when CI=true (.ci/run installs it)."""
    import pytest
    exe = shutil.which("lrzip")
    if exe is None:
        msg = "lrzip not installed (apt-get install lrzip)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg + " (required when CI=true)")
        pytest.skip(msg)
    return exe


def make_archive(members: dict[str, dict], dest: Path) -> Path:
    """``members`` (name -> ResultsFileData dict) as BIG-bench ships its full logs: a tar packed
    with lrzip (``lrztar``), each log written by ``json.dump`` as ``evaluate_task.py`` does."""
    exe = require_lrzip()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tar = dest.with_name(dest.name[:-len(".lrz")])
    with tarfile.open(tar, "w") as tf:
        for name, data in members.items():
            raw = json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tf.addfile(info, io.BytesIO(raw))
    subprocess.run([exe, "-q", "-f", "-o", str(dest), str(tar)], check=True, capture_output=True)
    tar.unlink()
    return dest


def lfs_pointer_text(data: bytes) -> str:
    """The Git LFS pointer of ``data`` (https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md)."""
    import hashlib
    return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{hashlib.sha256(data).hexdigest()}\n"
            f"size {len(data)}\n")


# ------------------------------------------------------------------ a git repository laid out like google/BIG-bench
def git(*args, cwd) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def make_bigbench_repo(root: Path, *, n_tasks: int = 300, big_bytes: int = 4_000_000,
                       archives: dict[str, bytes] | None = None) -> dict:
    """A git repository with BIG-bench's layout: ``n_tasks`` task folders (task.json, README.md), the
    fixture checkout's results files in two of them plus one scores file per filler task, one large
    task file (incompressible, ``big_bytes``), and for each task in ``archives`` a Git LFS pointer at
    ``results/full-logs_BIG-G_BIG-G-sparse.tar.lrz`` (with the ``.gitattributes`` line git-lfs writes).

    Returns ``{"path", "commit", "big_blob", "results": [paths], "pointers": {path: bytes}}``.
    """
    root.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=root)
    src = make_checkout(root.parent / "checkout-src")
    # the fixture's full logs are what the LFS archives hold on GitHub: keep only the scores files in git
    for p in (src / "bigbench" / "benchmark_tasks").rglob("full-log_*.json"):
        p.unlink()
    shutil.copytree(src / "bigbench", root / "bigbench")
    tasks = root / "bigbench" / "benchmark_tasks"
    for i in range(n_tasks):
        t = tasks / f"filler_task_{i:03d}"
        write(t / "task.json", {"name": t.name, "examples": [{"input": f"{i} + 1", "target": str(i + 1)}]})
        write(t / "README.md", f"# {t.name}\n")
        write(t / "results" / "scores_BIG-G_T=0_2m.json", results_file(t.name, "BIG-G T=0", "2m", gen_scores(0)))
    big = tasks / MC_TASK / "task.json"
    big.write_bytes(os.urandom(big_bytes))
    (root / ".gitattributes").write_text("*.tar.lrz filter=lfs diff=lfs merge=lfs -text\n")
    pointers = {}
    for task, data in (archives or {}).items():
        rel = f"bigbench/benchmark_tasks/{task}/results/{ARCHIVE_NAME}"
        write(root / rel, lfs_pointer_text(data))
        pointers[rel] = data
    (root / "README.md").write_text("BIG-bench (test fixture)\n")
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "fixture", cwd=root)
    git("config", "uploadpack.allowFilter", "true", cwd=root)
    results = sorted(p.relative_to(root).as_posix() for p in tasks.rglob("results/scores_*.json"))
    return {"path": root, "commit": git("rev-parse", "HEAD", cwd=root).strip(),
            "big_blob": git("rev-parse", f"HEAD:bigbench/benchmark_tasks/{MC_TASK}/task.json", cwd=root).strip(),
            "results": results, "pointers": pointers}


# ------------------------------------------------------------------ a loopback stand-in for GitHub's LFS media host
class MediaServer:
    """Serves ``/media/<owner>/<repo>/<commit>/<path>`` like media.githubusercontent.com: the object's
    bytes, with HTTP Range.  ``mode``: ``"ok"``; ``"quota"`` answers 403 with GitHub's over-quota text;
    ``"break"`` sends the first half of a body and drops the connection (an interrupted download)."""

    def __init__(self, objects: dict[str, bytes]):
        import http.server
        import threading
        self.objects, self.mode, self.requests = objects, "ok", []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.requests.append((self.path, self.headers.get("Range")))
                key = self.path[len("/media/"):] if self.path.startswith("/media/") else None
                data = outer.objects.get(key)
                if outer.mode == "quota":
                    body = b"This repository is over its data quota. Account responsible for LFS bandwidth should " \
                           b"purchase more data packs to restore access."
                    self.send_response(403)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    start = int(rng[len("bytes="):].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.mode == "break":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_port}/media"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ------------------------------------------------------------------ BIG-G multiple-choice full logs at many sizes
#: BIG-G dense sizes (made up for the tests): name -> (total_params, non_embedding_params)
BIGG_SIZES = {"2m": (9_637_376, 1_578_752), "16m": (33_000_000, 16_000_000), "125m": (134_228_992, 100_663_296),
              "422m": (453_000_000, 403_000_000), "2b": (2_097_218_048, 1_744_896_512),
              "8b": (8_600_000_000, 8_000_000_000)}


def bigg_mc_log(task: str, subtasks: list[str], family: str, name: str, *, n_questions: int = 40,
                n_choices: int = 4, shots: int = 0, seed: int = 0) -> dict:
    """A full log (ResultsFileData with MultipleChoiceQuery queries, as ``util.update_cond_log_prob_query``
    fills them) of one BIG-G model on a JSON task with ``subtasks``.

    The log-probabilities are drawn so that the right choice's advantage grows with log size:
    ``scores[k] = 2.5 (log10 N - 8) [k = correct] + question offset + noise`` (then log-softmax'ed, as
    the model's ``cond_log_prob`` returns normalised scores).  Only the shape is BIG-bench's.
    """
    import numpy as np
    total, non_emb = BIGG_SIZES[name]
    rng = np.random.default_rng([seed, sum(map(ord, task)), int(np.log10(total) * 1000)])
    queries, grades = [], {}
    for sub in subtasks:
        samples = []
        for q in range(n_questions):
            targets = [f"choice {c}" for c in range(n_choices)]
            correct = int(rng.integers(n_choices))
            logits = rng.normal(0.0, 1.0, n_choices)
            logits[correct] += 2.5 * (np.log10(total) - 8.0) + rng.normal(0.0, 1.5)
            logp = logits - np.log(np.exp(logits - logits.max()).sum()) - logits.max()
            chosen = int(np.argmax(logp))
            samples.append({"input": f"Q{q} of {sub}: which?\nA: ", "targets": targets,
                            "scores": [float(v) for v in logp], "absolute_scores": [float(v) - 3.0 for v in logp],
                            "normalized_scores": [float(v) for v in logp],
                            "target_values": {t: int(i == correct) for i, t in enumerate(targets)},
                            "correct": float(chosen == correct)})
        grades[sub] = float(np.mean([s["correct"] for s in samples]))
        queries.append({"function": "cond_log_prob", "absolute_normalization": False, "shots": shots,
                        "task": sub, "samples": samples})
    scores = [{"score_dict": {"multiple_choice_grade": g}, "preferred_score": "multiple_choice_grade",
               "number_of_shots": shots, "low_score": 1 / n_choices, "high_score": 1.0, "subtask_description": sub}
              for sub, g in grades.items()]
    model = {"model_family": family, "model_name": name, "total_params": total, "non_embedding_params": non_emb,
             "flop_matched_non_embedding_params": non_emb, "training_batch_size": 262144, "training_steps": 500000,
             "description": "BIG-G dense (test fixture)", "decoding_params": {}, "additional_details": ""}
    return {"scores": scores, "task": {"task_name": task}, "model": model, "queries": queries}


def make_bigg_checkout(root: Path, tasks: dict[str, list[str]], family: str = "BIG-G T=0") -> Path:
    """A checkout whose tasks have one scores file per BIG-G size and the full logs in the lrzip archive."""
    bench = root / "bigbench" / "benchmark_tasks"
    for task, subtasks in tasks.items():
        members = {}
        for name in BIGG_SIZES:
            log = bigg_mc_log(task, subtasks, family, name)
            fam = family.replace(" ", "_")
            write(bench / task / "results" / f"scores_{fam}_{name}.json",
                  {k: log[k] for k in ("scores", "task", "model")})
            members[f"full-log_{fam}_{name}.json"] = log
        make_archive(members, bench / task / "results" / ARCHIVE_NAME)
    return root
