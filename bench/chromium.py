"""Debian's Chromium for Playwright: where it is and how it is launched, for the bench scripts and the
browser tests alike (tests/conftest.py's ``browser_type_launch_args`` reads these).

Playwright drives the system browser (``apt-get install chromium``; never ``playwright install`` and its
own browser build).  The arguments let it run headless as root (no sandbox, no GPU) and keep it quiet:
none of the background traffic (QUIC, component updates, sync, first-run pages) beside the app under test
on 127.0.0.1.

Imported as ``chromium`` with this folder on ``sys.path``: a bench script run as ``python bench/X.py``
has it there; tests/conftest.py puts it there.
"""
from __future__ import annotations

import shutil

#: the executable (``executable_path`` of ``playwright...chromium.launch``)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: the launch arguments (``args`` of ``playwright...chromium.launch``)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
