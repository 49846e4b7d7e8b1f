"""Who may write to the store from the Data page (README, 'Deploying and sharing')."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from emergence.ingestion.build import env_flag

#: Headers a reverse proxy adds: behind one, every visitor's connection comes from the proxy (often loopback).
FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip", "via",
                      "x-client-ip", "true-client-ip", "cf-connecting-ip", "fastly-client-ip", "x-cluster-client-ip",
                      "x-original-forwarded-for")
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")


def _host_is_loopback(value: str) -> bool:
    """``localhost:8501``, ``127.0.0.1``, ``[::1]:8501``, ``http://localhost:8501`` -> True."""
    from urllib.parse import urlsplit
    v = value.strip().lower()
    host = urlsplit(v).hostname if "://" in v else urlsplit("//" + v).hostname
    if host is None:
        return False
    return host in _LOOPBACK_HOSTS or host.startswith("127.") or host.endswith(".localhost")


def visitor_is_local(ip: str | None, headers: dict[str, str]) -> bool:
    """True only for a browser on this machine talking to Streamlit directly.

    ``ip`` is ``st.context.ip_address``, which Streamlit gives as None for a loopback peer
    (and when it knows no peer at all); ``headers`` are the visitor's websocket handshake
    headers.  Local means: no peer address (loopback), handshake headers present (so the
    peer is a real connection, not an unknown one), no proxy forwarding header (behind a
    reverse proxy every visitor looks local), and the ``Host`` (and ``Origin``, when sent)
    name this machine.  Anything else is treated as remote: the check fails closed.
    """
    h = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    if ip is not None or not h:
        return False
    if any(k in h for k in FORWARDING_HEADERS):
        return False
    if not _host_is_loopback(h.get("host", "")):
        return False
    return "origin" not in h or _host_is_loopback(h["origin"])


def visitor() -> tuple[str | None, dict[str, str]]:
    """The visitor's address and handshake headers (Streamlit's ``st.context``)."""
    try:
        return st.context.ip_address, dict(st.context.headers.items())
    except Exception:      # no session context (e.g. a bare script run): unknown, so not local
        return "unknown", {}


@dataclass(frozen=True)
class WriteAccess:
    """What the Data page lets this visitor do to the store, and why not."""

    upload: bool
    path: bool
    remove: bool
    reason: str = ""


def write_access(public: bool, allow: bool, local: bool) -> WriteAccess:
    """The Data page's rule (README, 'Deploying and sharing').

    - a public deployment (``EMERGENCE_PUBLIC=1``): nothing, unless ``EMERGENCE_ALLOW_INGEST=1``
      turns ingest (upload and path) on; removing sources stays off;
    - otherwise uploads (capped) for every visitor; ingest from a server path and removing a
      source only for a visitor on this machine (:func:`visitor_is_local`) or with
      ``EMERGENCE_ALLOW_INGEST=1``.
    """
    if public:
        if allow:
            return WriteAccess(True, True, False, "removing sources is off on a public deployment")
        return WriteAccess(False, False, False, "ingest is disabled on this public deployment "
                                                "(set EMERGENCE_ALLOW_INGEST=1 to enable it)")
    if local or allow:
        return WriteAccess(True, True, True)
    return WriteAccess(True, False, False, "ingest from a path on the server and removing sources work only for a "
                                           "visitor on the server itself (or with EMERGENCE_ALLOW_INGEST=1)")


def page_write_access() -> WriteAccess:
    """:func:`write_access` for this session's visitor and environment."""
    from app_support import visitor      # looked up on the package, where a test may replace it
    ip, headers = visitor()
    return write_access(env_flag("EMERGENCE_PUBLIC"), env_flag("EMERGENCE_ALLOW_INGEST"), visitor_is_local(ip, headers))


