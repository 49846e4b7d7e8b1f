"""The app's environment: flags, upload cap, optional modules."""
from __future__ import annotations

import os

from emergence.ingestion.build import env_flag  # noqa: F401  (re-exported)


def autobuild() -> bool:
    """Build the store on first start unless EMERGENCE_AUTOBUILD=0."""
    return os.environ.get("EMERGENCE_AUTOBUILD", "1").strip().lower() not in ("0", "false", "no", "off")


def max_upload_mb() -> int:
    try:
        return max(1, int(os.environ.get("EMERGENCE_MAX_UPLOAD_MB", "200")))
    except ValueError:
        return 200


def optional_module(name: str):
    """Import a module that may not exist in this build (None if absent)."""
    import importlib
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and name.startswith(e.name):
            return None
        raise
