"""What every page shares: the store, who is logged in, cached role-scoped documents,
and the registry API for anything that changes state.

Reads go straight to the store (read-only, scoped here to what the caller may see);
writes go through the authenticated registry API with the caller's own key, so the
same server-side checks apply as for any other client, and the embedded stack's
in-process bus does the work in the process that owns it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import requests
import streamlit as st

from shared.auth.api_keys import ApiKeys, Principal
from shared.bootstrap import build_store
from shared.config import Settings
from shared.dashboards.documents import admin_health, client_document, strategy_document
from shared.ports.store import Store

REFRESH = "10s"  # live pages rerun their data fragments this often


@st.cache_resource
def store() -> Store:
    return build_store(Settings.from_env())


def now() -> datetime:
    return datetime.now(UTC)


def login(token: str) -> Principal | None:
    found = ApiKeys(store()).authenticate(token.strip())
    if found is None:
        return None
    st.session_state["principal"] = found[0]
    st.session_state["token"] = token.strip()
    return found[0]


def principal() -> Principal | None:
    return st.session_state.get("principal")


def require(role: str) -> Principal:
    """Every page checks its role again: navigation alone is not authorisation."""
    who = principal()
    if who is None or who.role != role:
        st.error("This page is not available to you.")
        st.stop()
    assert who is not None
    return who


# Cached per user: the caller's subject is part of every key.
@st.cache_data(ttl=10, show_spinner=False)
def client_view(client_id: str) -> dict[str, Any]:
    return client_document(store(), client_id, now())


@st.cache_data(ttl=10, show_spinner=False)
def strategy_view(developer: str, strategy_id: str) -> dict[str, Any] | None:
    document = strategy_document(store(), strategy_id, now())
    if document is None or (developer != "*admin*" and document["owner"] != developer):
        return None
    return document


@st.cache_data(ttl=5, show_spinner=False)
def health_view() -> dict[str, Any]:
    return admin_health(store(), now())


def api(method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    """Call the registry API as the logged-in user (MT_API_URL; the embedded stack's by default)."""
    base = os.environ.get("MT_API_URL", "http://127.0.0.1:8080").rstrip("/")
    try:
        answer = requests.request(method, f"{base}{path}", timeout=60,
                                  headers={"Authorization": f"Bearer {st.session_state.get('token', '')}"}, **kwargs)
    except requests.RequestException as error:
        return 503, {"error": "unreachable", "field": "MT_API_URL", "reason": str(error)}
    try:
        return answer.status_code, answer.json()
    except ValueError:
        return answer.status_code, {"error": "bad_answer", "field": "body", "reason": answer.text[:200]}


def fetch(path: str) -> Any:
    """GET from the registry API; on a refusal, show it and stop the page."""
    status, body = api("GET", path)
    if status != 200:
        show_error(body)
        st.stop()
    return body


def show_error(body: Any) -> None:
    st.error(f"{body.get('field', '?')}: {body.get('reason', body)}" if isinstance(body, dict) else str(body))
