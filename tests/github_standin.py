"""A loopback stand-in for GitHub, for the hosted first-visit test: the REST API's git trees,
raw.githubusercontent.com's files, and a git repository over smart HTTP.

- ``/api/repos/<owner>/<repo>/git/trees/<commit>?recursive=1``: the file list of a catalogue
  source, made from its folder in ``../shared/data`` (copied byte for byte from that repository
  at that commit, so the folder *is* the repository's file tree).
- ``/raw/<owner>/<repo>/<commit>/<path>``: the file itself.
- ``/git/<owner>/<repo>.git/...``: ``git http-backend`` (the CGI program git ships for serving
  repositories over HTTP), with the protocol-v2 header passed through, so a partial clone with
  ``--filter=blob:none`` works as it does against github.com.

``fail`` names repositories whose server answers 502 (an outage of one source's host); ``hits``
counts requests per repository.
"""
from __future__ import annotations

import http.server
import json
import os
import subprocess
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = ["GitHubStandIn"]


class GitHubStandIn:
    def __init__(self, trees: dict[tuple[str, str], Path], git_root: Path):
        """``trees``: (owner/repo, commit) -> the folder holding the repository's files at that commit;
        ``git_root``: a folder of bare repositories, ``<owner>/<repo>.git``."""
        self.trees, self.git_root = trees, git_root
        self.fail: set[str] = set()
        self.hits: dict[str, int] = {}
        self._lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                outer._handle(self, "GET")

            def do_POST(self):
                outer._handle(self, "POST")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_port}"

    # ------------------------------------------------------------------ routing
    def _handle(self, h, method: str):
        url = urlsplit(h.path)
        parts = unquote(url.path).lstrip("/").split("/")
        kind = parts[0] if parts else ""
        # /api/repos/<owner>/<repo>/..., /raw/<owner>/<repo>/..., /git/<owner>/<repo>.git/...
        first = 2 if kind == "api" else 1
        repo = "/".join(parts[first:first + 2]).removesuffix(".git") if len(parts) >= first + 2 else ""
        with self._lock:
            self.hits[repo] = self.hits.get(repo, 0) + 1
        if repo in self.fail:
            return self._send(h, 502, b"Bad Gateway (stand-in outage)", "text/plain")
        if kind == "api" and len(parts) >= 7 and parts[1] == "repos" and parts[4:6] == ["git", "trees"]:
            return self._tree(h, repo, parts[6])
        if kind == "raw" and len(parts) >= 5:
            return self._raw(h, repo, parts[3], "/".join(parts[4:]))
        if kind == "git":
            return self._git(h, method, "/" + "/".join(parts[1:]), url.query)
        return self._send(h, 404, b"not found", "text/plain")

    def _send(self, h, code: int, body: bytes, ctype: str = "application/octet-stream", headers=()):
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)

    def _tree(self, h, repo: str, commit: str):
        root = self.trees.get((repo, commit))
        if root is None:
            return self._send(h, 404, b'{"message": "Not Found"}', "application/json")
        entries = []
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            dirnames.sort()
            rel = Path(dirpath).relative_to(root).as_posix()
            for d in dirnames:
                entries.append({"path": f"{rel}/{d}".lstrip("./") if rel != "." else d, "type": "tree"})
            for f in sorted(filenames):
                entries.append({"path": f if rel == "." else f"{rel}/{f}", "type": "blob"})
        body = json.dumps({"sha": commit, "tree": entries, "truncated": False}).encode()
        self._send(h, 200, body, "application/json")

    def _raw(self, h, repo: str, commit: str, path: str):
        root = self.trees.get((repo, commit))
        target = (root / path) if root is not None else None
        if target is None or ".." in Path(path).parts or not target.is_file():
            return self._send(h, 404, b"404: Not Found", "text/plain")
        self._send(h, 200, target.read_bytes())

    def _git(self, h, method: str, path_info: str, query: str):
        length = int(h.headers.get("Content-Length") or 0)
        if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(h.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    h.rfile.readline()
                    break
                body += h.rfile.read(size)
                h.rfile.readline()
        else:
            body = h.rfile.read(length) if length else b""
        env = {"PATH": os.environ.get("PATH", ""), "GIT_PROJECT_ROOT": str(self.git_root), "GIT_HTTP_EXPORT_ALL": "1",
               "PATH_INFO": path_info, "QUERY_STRING": query, "REQUEST_METHOD": method,
               "CONTENT_TYPE": h.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
               "REMOTE_ADDR": "127.0.0.1", "GIT_PROTOCOL": h.headers.get("Git-Protocol", ""),
               "HTTP_CONTENT_ENCODING": h.headers.get("Content-Encoding", ""), "GIT_CONFIG_NOSYSTEM": "1",
               "HOME": str(self.git_root)}
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, timeout=300)
        raw = out.stdout
        sep = raw.find(b"\r\n\r\n")
        head, payload = (raw[:sep], raw[sep + 4:]) if sep >= 0 else raw.split(b"\n\n", 1)
        code, headers, ctype = 200, [], "application/octet-stream"
        for line in head.decode("latin-1").splitlines():
            k, _, v = line.partition(":")
            if k.lower() == "status":
                code = int(v.strip().split()[0])
            elif k.lower() == "content-type":
                ctype = v.strip()
            elif k.strip() and k.lower() not in ("content-length",):
                headers.append((k.strip(), v.strip()))
        self._send(h, code, payload, ctype, headers)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
