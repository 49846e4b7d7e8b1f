"""The hosted first visit, end to end, as a host runs it (Playwright + Debian's Chromium).

What a host does: a virtual environment with ``requirements.txt`` installed on a copy of the
repository, ``EMERGENCE_PUBLIC=1``, no data folder, then ``streamlit run app.py``.  GitHub is a
loopback stand-in (``tests/github_standin.py``): the REST API's file lists and raw files of
every catalogue source (served from ``../shared/data``, which holds those repositories' files
at the pinned commits) and a BIG-bench-shaped git repository over smart HTTP (built here).
The first visit shows the build's progress and ends on an Overview with real rows, the
unlicensed sources listed as left out, and the Data page's ingest off.  Then once more with
one source's server answering 502: the rest still builds, and the failure is listed with how to
add it and a retry button.  Both visits run at once, each against its own stand-in.

The virtual environment is made once for the module with ``--system-site-packages`` (the packages the suite
runs with; ``pip install -r requirements.txt`` still runs in it, so a requirement that does not install fails
here): what a fresh environment with today's releases does is ``bench/fresh_env_suite.sh``'s job, which
installs everything from the package index (minutes, not a test's).  The stand-in serves Pythia's
repository narrowed to its seven standard sizes, zero-shot, with OPT and BLOOM (:func:`narrowed`): what is
tested (a public first start builds every public source from the hosted files) does not depend on how many
checkpoints Pythia holds, and its 876 checkpoint files were most of the build's time.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bigbench_fixtures import git, make_bigbench_repo
from conftest import free_port
from emergence.ingestion import catalog
from github_standin import GitHubStandIn

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
#: what a public first start builds: the redistributable sources that can be downloaded
PUBLIC = sorted(n for n, s in catalog.CATALOG.items() if s.redistributable and s.downloadable)
UNLICENSED = sorted(n for n, s in catalog.CATALOG.items() if not s.redistributable and s.downloadable)
BUILD_TIMEOUT = 300_000
DOWN_REPO = catalog.get("pythia").repo


#: Pythia's sizes the stand-in serves (evals/pythia-v1/<model>/zero-shot), beside evals/opt and evals/bloom
PYTHIA_SERVED = ("pythia-70m", "pythia-160m", "pythia-410m", "pythia-1.4b", "pythia-2.8b", "pythia-6.9b", "pythia-12b")


def narrowed(src: Path, dst: Path, keep) -> Path:
    """A copy of the tree ``src`` (symbolic links to its files) holding only the files ``keep(relative path)``."""
    for dirpath, _, files in os.walk(src):
        for f in files:
            rel = Path(dirpath, f).relative_to(src)
            if keep(rel):
                (dst / rel).parent.mkdir(parents=True, exist_ok=True)
                (dst / rel).symlink_to(Path(dirpath, f))
    return dst


def pythia_served(rel: Path) -> bool:
    parts = rel.parts
    if parts[:2] != ("evals", "pythia-v1"):
        return True
    return len(parts) >= 4 and parts[2] in PYTHIA_SERVED and parts[3] == "zero-shot"


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    """A copy of the repository (the files git knows, as a host's clone has) with a virtual environment on the
    suite's own packages in which requirements.txt is installed."""
    root = tmp_path_factory.mktemp("host")
    app = root / "app"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for f in filter(None, files):
        if (REPO / f).is_file():
            (app / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, app / f)
    venv = root / "venv"
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    # --no-compile: byte-compiling every installed module is two thirds of a fresh install's time;
    # Python compiles what the app imports when it first imports it
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                          "--no-compile", "-r", "requirements.txt"], cwd=app, capture_output=True, text=True,
                         timeout=900)
    assert pip.returncode == 0, pip.stderr[-3000:]
    print(f"\nvenv with requirements.txt: {time.time() - t0:.0f} s", file=sys.stderr)
    return {"app": app, "python": venv / "bin" / "python"}


@pytest.fixture(scope="module")
def github(tmp_path_factory, shared_data):
    """Two stand-ins for GitHub over the same files: ``ok`` answers everything; ``down`` answers 502 for
    Pythia's repository (an outage of one source's host).  Two, so both first visits can build at once."""
    shared = shared_data
    root = tmp_path_factory.mktemp("github")
    trees = {(s.repo, s.commit): shared / n for n, s in catalog.CATALOG.items()
             if s.fetch == "raw" and s.downloadable and (shared / n).is_dir()}
    pythia = catalog.get("pythia")
    trees[(pythia.repo, pythia.commit)] = narrowed(shared / "pythia", root / "trees" / "pythia", pythia_served)
    missing = [n for n in PUBLIC + UNLICENSED if catalog.get(n).fetch == "raw" and not (shared / n).is_dir()]
    assert not missing, f"no copy in {shared} of {missing}"
    upstream = make_bigbench_repo(root / "upstream" / "BIG-bench", n_tasks=120)
    bare = root / "git" / "google" / "BIG-bench.git"
    bare.parent.mkdir(parents=True)
    git("clone", "-q", "--bare", str(upstream["path"]), str(bare), cwd=root)
    git("config", "uploadpack.allowFilter", "true", cwd=bare)
    servers = {"ok": GitHubStandIn(trees, root / "git"), "down": GitHubStandIn(trees, root / "git")}
    servers["down"].fail.add(DOWN_REPO)
    yield servers
    for server in servers.values():
        server.close()


def start_app(host, github, work: Path) -> tuple[subprocess.Popen, str]:
    """`streamlit run app.py` from the host's venv, as a public deployment with no data folder."""
    work.mkdir(parents=True)
    (work / "data").mkdir()
    port = free_port()
    env = {"PATH": os.environ["PATH"], "HOME": str(work), "LANG": "C.UTF-8",
           "EMERGENCE_PUBLIC": "1", "EMERGENCE_DB": str(work / "emergence.duckdb"),
           "EMERGENCE_DATA_DIR": str(work / "data"),
           "EMERGENCE_GITHUB_API": f"{github.base}/api", "EMERGENCE_GITHUB_RAW": f"{github.base}/raw",
           "EMERGENCE_BIGBENCH_REPO": f"{github.base}/git/google/BIG-bench.git"}
    proc = subprocess.Popen([str(host["python"]), "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--browser.gatherUsageStats", "false"],
                            cwd=host["app"], env=env, stdout=subprocess.DEVNULL, stderr=open(work / "stderr", "w"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            stop(proc)
            pytest.fail(f"streamlit did not start: {(work / 'stderr').read_text()[-2000:]}")
        time.sleep(0.3)


def stop(proc: subprocess.Popen):
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def sources_metric(page) -> int:
    m = page.get_by_test_id("stMetric").filter(has_text="sources").get_by_test_id("stMetricValue")
    return int(m.inner_text())


def wait_for_overview(page):
    page.wait_for_function("() => Array.from(document.querySelectorAll('[data-testid=stMain] h1'))"
                           ".some(h => h.innerText.trim() === 'Overview')", timeout=BUILD_TIMEOUT)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=60_000)
    page.wait_for_selector('[data-testid="stMetric"]', timeout=60_000)


def test_hosted_first_visits(browser, host, github, tmp_path):
    """Two first visits at once (the builds are single-threaded: two use the machine's two cores):

    - every host answers: the first start shows its progress and ends on an Overview with real rows
      from every public source, BIG-bench's too; the unlicensed sources are listed as left out; the
      Data page's ingest is off;
    - Pythia's host answers 502: the other sources build, Pythia is listed with why and how to add it,
      and a retry is offered.  (Pythia, the source whose series take longest to score, keeps this build
      short; the retry itself is exercised under AppTest in test_app_first_start.py.)
    """
    ok_proc, ok_url = start_app(host, github["ok"], tmp_path / "ok")
    down_proc, down_url = start_app(host, github["down"], tmp_path / "down")
    ok, down = browser.new_page(), browser.new_page()
    try:
        t0 = time.time()
        ok.goto(ok_url)
        down.goto(down_url)
        # the first start shows its progress (a bar per source, and one for the current download)
        ok.wait_for_selector("text=Building the store", timeout=60_000)
        ok.wait_for_selector('[data-testid="stProgress"]', timeout=60_000)

        wait_for_overview(down)
        assert sources_metric(down) == len(PUBLIC) - 1       # the rest still builds
        assert github["down"].hits.get(DOWN_REPO, 0) >= 1      # it was asked, and it failed
        alert = down.get_by_test_id("stAlert").filter(has_text="could not be added")
        assert "1 source(s) could not be added (pythia); the others were built" in alert.inner_text()
        down.get_by_text("Why, and how to add them").click()
        why = down.get_by_test_id("stExpander").filter(has_text="Why, and how to add them")
        why.get_by_text("HTTP 502").wait_for()
        text = why.inner_text()
        assert "pythia" in text and "HTTP 502" in text and "To add it" in text
        assert why.locator("code").filter(has_text="evals/pythia-v1/**/*.json").count() == 1   # the glob, as code
        assert why.get_by_role("button", name="Retry pythia").is_visible()

        wait_for_overview(ok)
        print(f"\nhosted first builds (both at once): {time.time() - t0:.0f} s", file=sys.stderr)
        assert sources_metric(ok) == len(PUBLIC)              # real rows from every public source, BIG-bench too
        ok.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg', timeout=60_000)
        text = ok.locator('[data-testid="stMain"]').inner_text()
        for name in UNLICENSED:                               # left out, and why
            assert f"{name}: license" in text
        assert "does not allow redistribution" in text and "could not be added" not in text
        assert github["ok"].hits.get("google/BIG-bench", 0) > 0  # fetched over the stand-in's smart HTTP
        ok.goto(f"{ok_url}/data")
        ok.wait_for_selector("text=Ingest is disabled on this public deployment", timeout=60_000)
        assert not ok.get_by_test_id("stFileUploader").count()
    finally:
        ok.close()
        down.close()
        stop(ok_proc)
        stop(down_proc)
