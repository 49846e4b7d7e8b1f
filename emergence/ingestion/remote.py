"""Fetching a source from its public repository: files at a pinned commit, a sparse partial
clone of a branch, and Git LFS objects.  Network I/O only: no parsing, no store.

Three ways, one per kind of catalogue entry (:mod:`emergence.ingestion.catalog`):

- :func:`fetch_raw`: the repository's file list from the GitHub API (``git/trees/<commit>``),
  then each pinned file from ``raw.githubusercontent.com``.  Honours ``GITHUB_TOKEN`` (the API
  allows 60 unauthenticated requests an hour) and says so when rate-limited.
- :func:`fetch_sparse`: ``google/BIG-bench`` is a multi-gigabyte repository of which the
  results are a few thousand small JSON files.  A *partial clone* (``--filter=blob:none``,
  depth 1) fetches the commit and its trees but no file contents; the blobs of the files
  that match the patterns are then fetched by id, in batches (a progress bar counts them),
  and a *sparse checkout* (non-cone patterns) writes exactly those files.  Neither the task
  data nor the LFS archives are transferred.  The branch is resolved to one commit first
  (``git ls-remote``) and everything is fetched at that commit.  Works with any git server
  that allows filters (GitHub does; a local repository needs ``uploadpack.allowFilter``,
  over ``file://``).  Git docs: ``git-clone(1)`` --filter / --sparse, ``partial-clone.txt``,
  ``git-sparse-checkout(1)``.
- :func:`fetch_lfs_object`: a file stored with Git LFS is a pointer in git
  (``oid sha256:<hex>``, ``size <bytes>``); GitHub serves the object itself at
  ``https://media.githubusercontent.com/media/<owner>/<repo>/<commit>/<path>`` (no git-lfs
  needed).  The download resumes (HTTP ``Range``) and is checked against the pointer's size
  and SHA-256.  A repository whose LFS bandwidth quota is used up answers 403 (``This
  repository is over its data quota``): :class:`LfsQuotaExceeded` says so and what to do.

Every fetch writes into a folder beside its destination and moves it into place only when
complete (``os.replace``), so an interrupted fetch never leaves a half source; run again,
a sparse fetch resumes where it stopped (git keeps the objects it has) and an LFS download
continues from its ``.part`` file.

Base URLs are overridable for mirrors and for the tests, which serve stand-ins on loopback:
``EMERGENCE_GITHUB_API``, ``EMERGENCE_GITHUB_RAW``, ``EMERGENCE_GITHUB_MEDIA``.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterable

from emergence.ingestion.sources._common import parse_lfs_pointer as read_lfs_pointer

__all__ = ["FetchError", "RateLimited", "LfsQuotaExceeded", "glob_re", "fetch_raw", "resolve_ref",
           "fetch_sparse", "git_head", "lfs_media_url", "fetch_lfs_object", "read_lfs_pointer"]

Progress = Callable[[str], None] | None

#: blobs asked for per ``git fetch`` (one request each; a few thousand files take a handful)
BLOB_BATCH = 500


class FetchError(OSError):
    """The remote could not be reached or refused: the message says why and what to do."""


class RateLimited(FetchError):
    pass


class LfsQuotaExceeded(FetchError):
    pass


def _say(progress: Progress, msg: str):
    if progress:
        progress(msg)


def glob_re(pattern: str) -> re.Pattern:
    """A file pattern as a regular expression on repository paths: ``*`` within one folder,
    ``**/`` any number of folders (as in the catalogue's ``files``)."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + "$")


# ---------------------------------------------------------------- HTTP
def _request(url: str, headers: dict | None = None, api: bool = False) -> urllib.request.Request:
    h = {"User-Agent": "emergence (https://github.com/)"}
    token = os.environ.get("GITHUB_TOKEN", "").strip()
    if api and token:
        h["Authorization"] = f"Bearer {token}"
    h.update(headers or {})
    return urllib.request.Request(url, headers=h)


def _http_error(e: urllib.error.HTTPError, url: str, what: str) -> FetchError:
    remaining = e.headers.get("X-RateLimit-Remaining") if e.headers else None
    if e.code == 429 or (e.code == 403 and remaining == "0"):
        reset = e.headers.get("X-RateLimit-Reset", "")
        when = ""
        if reset.isdigit():
            import datetime
            when = " until " + datetime.datetime.fromtimestamp(int(reset), datetime.timezone.utc).strftime(
                "%H:%M UTC")
        token = "GITHUB_TOKEN is set" if os.environ.get("GITHUB_TOKEN") else \
            "set GITHUB_TOKEN to a GitHub token to raise the limit from 60 to 5,000 requests an hour"
        return RateLimited(f"GitHub's API rate limit is used up{when} (HTTP {e.code} on {url}); {token}")
    return FetchError(f"{what}: HTTP {e.code} {e.reason} from {url}")


def fetch_raw(repo: str, commit: str, patterns: Iterable[str], dest: Path, progress: Progress = None,
              *, name: str = "", timeout: float = 10.0) -> Path:
    """Fetch the files of ``repo`` at ``commit`` that match ``patterns`` into ``dest`` (paths kept).

    Raises
    ------
    FetchError
        Offline, unreachable, rate-limited (:class:`RateLimited`), or no file matches.
    """
    api_base = os.environ.get("EMERGENCE_GITHUB_API", "https://api.github.com").rstrip("/")
    raw_base = os.environ.get("EMERGENCE_GITHUB_RAW", "https://raw.githubusercontent.com").rstrip("/")
    api = f"{api_base}/repos/{repo}/git/trees/{commit}?recursive=1"
    try:
        with urllib.request.urlopen(_request(api, api=True), timeout=timeout) as r:
            tree = json.load(r)
    except urllib.error.HTTPError as e:
        raise _http_error(e, api, "the file list") from e
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise FetchError(f"offline or unreachable ({getattr(e, 'reason', e)})") from e
    pats = [glob_re(p) for p in patterns]
    paths = [t["path"] for t in tree.get("tree", []) if t.get("type") == "blob" and any(p.match(t["path"])
                                                                                        for p in pats)]
    if not paths:
        raise FetchError(f"no pinned file found at {repo}@{commit}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        for i, path in enumerate(paths):
            _say(progress, f"{name or repo}: downloading {i + 1}/{len(paths)} files ({path})")
            url = f"{raw_base}/{repo}/{commit}/{path}"
            target = tmp / path
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with urllib.request.urlopen(_request(url), timeout=60) as r, open(target, "wb") as fh:
                    shutil.copyfileobj(r, fh)
            except urllib.error.HTTPError as e:
                raise _http_error(e, url, f"file {path}") from e
            except (urllib.error.URLError, OSError) as e:
                raise FetchError(f"file {path}: {getattr(e, 'reason', e)} ({url})") from e
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


# ---------------------------------------------------------------- git
def _git_exe() -> str:
    exe = shutil.which("git")
    if exe is None:
        raise FetchError("git is not installed (needed to fetch from a git repository)")
    return exe


def _git_env() -> dict:
    env = dict(os.environ)
    # never prompt for credentials (a public repository needs none; a wrong URL must fail, not hang), and
    # give up on a connection that has stalled (under 1 kB/s for a minute) instead of waiting for ever
    env.update(GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="true", LC_ALL="C", GIT_HTTP_LOW_SPEED_LIMIT="1000",
               GIT_HTTP_LOW_SPEED_TIME="60")
    return env


_GIT_PROGRESS = re.compile(r"(Receiving objects|Counting objects|Resolving deltas|remote: [A-Za-z ]+):\s+(\d+)% "
                           r"\((\d+)/(\d+)\)")


def _git(args: list[str], cwd: Path | None = None, *, stdin: str | None = None,
         on_progress: Callable[[str, int, int], None] | None = None, timeout: float = 3600) -> str:
    """Run git; its stderr progress lines (split on CR) feed ``on_progress(stage, done, total)``."""
    cmd = [_git_exe()] + args
    proc = subprocess.Popen(cmd, cwd=cwd, env=_git_env(), stdin=subprocess.PIPE if stdin is not None else
                            subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    import threading
    out_chunks: list[bytes] = []
    err_lines: list[str] = []

    def read_out():
        out_chunks.append(proc.stdout.read())

    t = threading.Thread(target=read_out, daemon=True)
    t.start()
    try:
        if stdin is not None:
            proc.stdin.write(stdin.encode())
            proc.stdin.close()
        buf = b""
        while True:
            chunk = proc.stderr.read1(4096) if hasattr(proc.stderr, "read1") else proc.stderr.read(4096)
            if not chunk:
                break
            buf += chunk
            parts = re.split(rb"[\r\n]", buf)
            buf = parts.pop()
            for line in parts:
                text = line.decode("utf-8", "replace").strip()
                if not text:
                    continue
                m = _GIT_PROGRESS.search(text)
                if m and on_progress:
                    on_progress(m[1], int(m[3]), int(m[4]))
                elif not m:
                    err_lines.append(text)
        if buf.strip():
            err_lines.append(buf.decode("utf-8", "replace").strip())
        rc = proc.wait(timeout=timeout)
        t.join()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    if rc != 0:
        why = next((e for e in reversed(err_lines) if e.startswith(("fatal", "error"))), err_lines[-1] if err_lines
                   else f"exit {rc}")
        raise FetchError(f"git {args[0]} failed: {why}")
    return b"".join(out_chunks).decode("utf-8", "replace")


def git_url(location: str) -> str:
    """A git URL from a URL or a local path (as ``file://``: a plain path makes git ignore filters)."""
    if re.match(r"^[a-z][a-z0-9+.-]*://", location) or re.match(r"^[\w.-]+@[\w.-]+:", location):
        return location
    return Path(location).expanduser().resolve().as_uri()


def resolve_ref(url: str, ref: str) -> str:
    """The commit ``ref`` (a branch, a tag, or a commit id) names on the remote, asked once."""
    if re.fullmatch(r"[0-9a-f]{40}", ref):
        return ref
    try:
        out = _git(["ls-remote", url, f"refs/heads/{ref}", f"refs/tags/{ref}", f"refs/tags/{ref}^{{}}"],
                   timeout=60)
    except FetchError as e:
        raise FetchError(f"offline or unreachable: {url} ({e})") from e
    refs = dict(reversed(line.split("\t", 1)) for line in out.splitlines() if "\t" in line)
    for key in (f"refs/tags/{ref}^{{}}", f"refs/heads/{ref}", f"refs/tags/{ref}"):
        if key in refs:
            return refs[key].strip()
    raise FetchError(f"{url} has no branch or tag {ref!r}")


def git_head(root: Path) -> str:
    """The commit checked out at ``root`` if ``root`` is the top of a git work tree, else ''."""
    if not (Path(root) / ".git").exists() or shutil.which("git") is None:
        return ""
    try:
        return _git(["rev-parse", "HEAD"], cwd=root, timeout=30).strip()
    except FetchError:
        return ""


_MARKER = "emergence-fetch.json"


def fetch_sparse(url: str, commit: str, patterns: Iterable[str], dest: Path, progress: Progress = None,
                 *, name: str = "") -> Path:
    """A sparse partial clone of ``url`` at ``commit`` holding the files that match ``patterns``.

    The work happens in ``<dest>.partial`` beside ``dest`` (kept across an interruption, so the
    next call resumes with the objects already fetched) and is moved to ``dest`` when every
    matching file is checked out.  A leftover from another URL or commit is started afresh, as
    is one that git cannot continue from.

    Returns
    -------
    Path
        ``dest``: a git work tree (``.git`` kept, ``HEAD`` = ``commit``) with only the matching files.
    """
    patterns = list(patterns)
    name = name or dest.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.partial")
    want = {"url": url, "commit": commit, "patterns": patterns}
    marker = partial / ".git" / _MARKER
    if partial.exists():
        try:
            state = json.loads(marker.read_text())
            usable = _git(["config", "remote.origin.url"], cwd=partial, timeout=30).strip() == url
        except (OSError, ValueError, FetchError):
            state, usable = {}, False
        if not usable or any(state.get(k) != v for k, v in want.items()):
            _say(progress, f"{name}: the fetch left in {partial} was of another commit or is damaged: "
                           "starting afresh")
            shutil.rmtree(partial)
        else:
            _say(progress, f"{name}: resuming the fetch left in {partial}")
    _sparse_steps(url, commit, patterns, partial, marker, want, progress, name)
    os.replace(partial, dest)
    return dest


def _sparse_steps(url, commit, patterns, partial: Path, marker: Path, want: dict, progress, name):
    def save(**kw):
        state = json.loads(marker.read_text()) if marker.exists() else dict(want)
        state.update(kw)
        marker.write_text(json.dumps(state))

    if (partial / ".git").exists():
        save(resumed=True)
    else:
        partial.mkdir(parents=True)
        _git(["init", "-q"], cwd=partial)
        _git(["remote", "add", "origin", url], cwd=partial)
        for k, v in (("remote.origin.promisor", "true"), ("remote.origin.partialclonefilter", "blob:none"),
                     ("core.sparseCheckout", "true"), ("advice.detachedHead", "false")):
            _git(["config", k, v], cwd=partial)
        save(resumed=False)
    state = json.loads(marker.read_text())
    if not state.get("tree"):
        def tree_progress(stage, done, total):
            _say(progress, f"{name}: fetching the file tree of {commit[:12]}: {stage.lower()} {done}/{total}")
        _say(progress, f"{name}: fetching the file tree of {commit[:12]} (no file contents)")
        _git(["fetch", "--depth", "1", "--filter=blob:none", "--no-tags", "--progress", "origin", commit],
             cwd=partial, on_progress=tree_progress)
        save(tree=True)
    regex = [glob_re(p) for p in patterns]
    needed: dict[str, str] = {}
    for entry in _git(["ls-tree", "-r", "-z", "--full-tree", commit], cwd=partial).split("\0"):
        if not entry:
            continue
        meta, path = entry.split("\t", 1)
        mode, kind, oid = meta.split()
        if kind == "blob" and mode in ("100644", "100755") and any(r.match(path) for r in regex):
            needed[path] = oid
    if not needed:
        raise FetchError(f"no file at {commit[:12]} matches {', '.join(patterns)}")
    # objects not here yet: listed without fetching them (rev-list never fetches a missing object)
    missing = {line[1:] for line in _git(["rev-list", "--objects", "--missing=print", commit], cwd=partial)
               .splitlines() if line.startswith("?")}
    todo = sorted({oid for oid in needed.values() if oid in missing})
    total, have = len(needed), len(needed) - len(todo)
    _say(progress, f"{name}: fetching {have:,}/{total:,} files at {commit[:12]} ({have:,} already here)")
    for i in range(0, len(todo), BLOB_BATCH):
        batch = todo[i:i + BLOB_BATCH]
        done_before = have + i

        def blob_progress(stage, done, n, base=done_before, size=len(batch)):
            if stage == "Receiving objects":
                _say(progress, f"{name}: fetching {base + round(done * size / max(n, 1)):,}/{total:,} files")
        _git(["-c", "fetch.negotiationAlgorithm=noop", "fetch", "--no-tags", "--no-write-fetch-head",
              "--recurse-submodules=no", "--filter=blob:none", "--progress", "--stdin", "origin"],
             cwd=partial, stdin="\n".join(batch) + "\n", on_progress=blob_progress)
        _say(progress, f"{name}: fetching {done_before + len(batch):,}/{total:,} files")
    _git(["sparse-checkout", "set", "--no-cone", *patterns], cwd=partial)
    _git(["checkout", "-q", "--detach", commit], cwd=partial)
    absent = [p for p in needed if not (partial / p).is_file()]
    if absent:
        raise FetchError(f"the checkout at {commit[:12]} lacks {len(absent)} of {total} files (e.g. {absent[0]})")
    save(done=True)


# ---------------------------------------------------------------- Git LFS
def lfs_media_url(repo: str, commit: str, path: str) -> str:
    """GitHub's public URL of the LFS object behind ``path`` at ``commit`` (``EMERGENCE_GITHUB_MEDIA``
    replaces ``https://media.githubusercontent.com/media``)."""
    base = os.environ.get("EMERGENCE_GITHUB_MEDIA", "https://media.githubusercontent.com/media").rstrip("/")
    return f"{base}/{repo}/{commit}/{path}"


_QUOTA_HINT = ("GitHub stops serving a repository's Git LFS objects when the owner's monthly LFS bandwidth is used "
               "up ('This repository is over its data quota'), which happens on popular repositories; it resets "
               "at the start of the owner's billing month")


def fetch_lfs_object(url: str, pointer: dict, dest: Path, progress: Progress = None, *, label: str = "",
                     timeout: float = 60.0, chunk: int = 1 << 20) -> Path:
    """Download the LFS object ``pointer`` from ``url`` to ``dest``, resuming ``<dest>.part``.

    The bytes are checked against the pointer's size and SHA-256 before ``dest`` is written;
    a mismatch deletes the partial file.

    Raises
    ------
    LfsQuotaExceeded
        HTTP 403/429/509 or a body saying the data quota is exceeded.
    FetchError
        Unreachable, HTTP errors, a pointer served instead of the object, a checksum mismatch.
    """
    label = label or dest.name
    size, oid = int(pointer["size"]), pointer["oid"]
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    if have > size:
        part.unlink()
        have = 0
    sha = hashlib.sha256()
    if have:
        with open(part, "rb") as fh:
            for block in iter(lambda: fh.read(chunk), b""):
                sha.update(block)
    if have < size:
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            resp = urllib.request.urlopen(_request(url, headers), timeout=timeout)
        except urllib.error.HTTPError as e:
            body = e.read(4096).decode("utf-8", "replace") if e.fp else ""
            if e.code in (403, 429, 509) or "quota" in body.lower():
                raise LfsQuotaExceeded(f"GitHub refused the Git LFS object {label} (HTTP {e.code}{': ' + body.strip()[:160] if body.strip() else ''}). "
                                       f"{_QUOTA_HINT}. Try again later, or get the file with `git lfs pull` from a "
                                       "fork or mirror (EMERGENCE_GITHUB_MEDIA points the download elsewhere)") from e
            if e.code == 416 and have:      # nothing left to send: the part is whole (checked below)
                resp = None
            else:
                raise FetchError(f"the Git LFS object {label}: HTTP {e.code} {e.reason} from {url}") from e
        except (urllib.error.URLError, OSError) as e:
            raise FetchError(f"offline or unreachable: {url} ({getattr(e, 'reason', e)})") from e
        if resp is not None:
            with resp:
                if have and resp.status != 206:        # the server ignored the range: from the start
                    have, sha = 0, hashlib.sha256()
                    mode = "wb"
                else:
                    mode = "ab" if have else "wb"
                with open(part, mode) as out:
                    first = True
                    last = -1
                    while True:
                        try:
                            block = resp.read(chunk)
                        except (OSError, ValueError) as e:
                            raise FetchError(f"the download of {label} broke off at {have:,} of {size:,} bytes "
                                             f"({e}); run again to resume") from e
                        if not block:
                            break
                        if first and have == 0 and read_lfs_pointer(block[:1024]) and size >= 1024:
                            raise FetchError(f"{url} served a Git LFS pointer, not the object {label}: the object "
                                             "is not on that server")
                        first = False
                        out.write(block)
                        sha.update(block)
                        have += len(block)
                        pct = int(100 * have / max(size, 1))
                        if pct != last:
                            last = pct
                            _say(progress, f"{label}: {have / 1e6:,.1f} of {size / 1e6:,.1f} MB ({pct}%)")
    if have != size:
        raise FetchError(f"the download of {label} broke off at {have:,} of {size:,} bytes; run again to resume")
    if sha.hexdigest() != oid:
        part.unlink(missing_ok=True)
        raise FetchError(f"{label}: the downloaded bytes do not match the LFS pointer's sha256:{oid[:12]}…; "
                         "the partial file was removed, run again")
    os.replace(part, dest)
    return dest


def read_blobs(repo_dir: Path, commit: str, patterns: Iterable[str], progress: Progress = None, *,
               name: str = "") -> dict[str, bytes]:
    """The contents at ``commit`` of the files matching ``patterns`` in the git repository at
    ``repo_dir``, fetching the blobs a partial clone lacks in one request (e.g. LFS pointers)."""
    regex = [glob_re(p) for p in patterns]
    oids: dict[str, str] = {}
    for entry in _git(["ls-tree", "-r", "-z", "--full-tree", commit], cwd=repo_dir).split("\0"):
        if entry:
            meta, path = entry.split("\t", 1)
            mode, kind, oid = meta.split()
            if kind == "blob" and any(r.match(path) for r in regex):
                oids[path] = oid
    if not oids:
        return {}
    missing = {line[1:] for line in _git(["rev-list", "--objects", "--missing=print", commit], cwd=repo_dir)
               .splitlines() if line.startswith("?")}
    todo = sorted(set(oids.values()) & missing)
    if todo:
        _say(progress, f"{name}: fetching {len(todo):,} Git LFS pointers")
        _git(["-c", "fetch.negotiationAlgorithm=noop", "fetch", "--no-tags", "--no-write-fetch-head",
              "--recurse-submodules=no", "--filter=blob:none", "--stdin", "origin"], cwd=repo_dir,
             stdin="\n".join(todo) + "\n")
    proc = subprocess.run([_git_exe(), "cat-file", "--batch"], cwd=repo_dir, env=_git_env(), capture_output=True,
                          input="".join(f"{o}\n" for o in oids.values()).encode(), timeout=600)
    if proc.returncode != 0:
        raise FetchError(f"git cat-file failed: {proc.stderr.decode('utf-8', 'replace').strip()}")
    out, pos, blobs = proc.stdout, 0, {}
    for path, oid in oids.items():
        nl = out.index(b"\n", pos)
        header = out[pos:nl].split()
        if len(header) < 3 or header[1] != b"blob":
            raise FetchError(f"git cat-file: {path} ({oid}) is not here: {out[pos:nl].decode()}")
        size = int(header[2])
        blobs[path] = out[nl + 1:nl + 1 + size]
        pos = nl + 1 + size + 1
    return blobs
