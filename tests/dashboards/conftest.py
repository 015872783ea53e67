"""The dashboards read only through the API: every page test serves the embedded stack's API
on a free port of 127.0.0.1 and points the pages at it."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import streamlit as st
from werkzeug.serving import make_server

from devstack.embedded import create_app
from shared.bootstrap import Services


@pytest.fixture
def served(embedded: Services, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    """The embedded stack with its API served where the dashboards look for it (MT_API_URL)."""
    server = make_server("127.0.0.1", 0, create_app(embedded), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("MT_API_URL", f"http://127.0.0.1:{server.server_port}")
    st.cache_resource.clear()
    st.cache_data.clear()
    yield embedded
    server.shutdown()
