"""What every page shares: who is logged in, and the trading API, called with the viewer's
own key for everything a page shows or changes.

The dashboards hold no store and no credentials of their own: the API decides what each
role may see or do, once, for these pages and every other client alike. Reads are cached
per key for a few seconds; a change clears them, so the page shows what the API stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests
import streamlit as st

from shared.auth.api_keys import Principal

REFRESH = "10s"  # live pages rerun their data fragments this often
CACHE_SECONDS = 5  # a read is reused this long per key: page switches and reruns do not re-ask


def now() -> datetime:
    return datetime.now(UTC)


# Sessions. A login survives a refresh and opens deep links: the URL carries a signed,
# expiring session token (?session=...), never the API key. The key itself stays in this
# process's memory, found by the token's session id, and is checked with the API again
# at most every RECHECK_SECONDS, so a revoked key ends its open sessions within a minute.
SESSION_PARAM = "session"
SESSION_SECONDS = 12 * 3600
RECHECK_SECONDS = 30.0
SECRET_SETTING = "MT_DASHBOARD_SESSION_SECRET"  # unset: a random secret per dashboards process
ENDED = "session_ended"  # why the last session ended, shown once on the login page


@dataclass
class OpenSession:
    api_key: str  # kept server-side: the URL holds only the signed session id
    principal: Principal
    expires: float  # epoch seconds
    checked: float  # monotonic time of the last check with the API


@st.cache_resource
def _secret() -> bytes:
    configured = os.environ.get(SECRET_SETTING, "")
    return configured.encode() if configured else secrets.token_bytes(32)


@st.cache_resource
def _sessions() -> tuple[dict[str, OpenSession], threading.Lock]:
    return {}, threading.Lock()


def _signature(payload: str) -> str:
    digest = hmac.new(_secret(), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign_session(session_id: str, key_id: str, expires: int) -> str:
    """The URL's token: which session, whose key, until when; signed so none can be changed."""
    payload = f"{session_id}.{key_id}.{expires}"
    return f"{payload}.{_signature(payload)}"


def verify_session(token: str, at: float | None = None) -> tuple[str, str] | None:
    """(session id, key id) of a token this process signed and that has not expired."""
    parts = token.split(".")
    if len(parts) != 4 or not parts[2].isdigit():
        return None
    session_id, key_id, expires, signature = parts
    if not hmac.compare_digest(signature, _signature(f"{session_id}.{key_id}.{expires}")):
        return None
    if int(expires) <= (time.time() if at is None else at):
        return None
    return session_id, key_id


def login(token: str) -> str | None:
    """Open a session for ``token``; None on success, else why not, in one sentence."""
    status, found = who_is(token.strip())
    if not isinstance(found, Principal):
        return "Unknown, revoked or malformed API key." if status in (401, 403) else found
    session_id, expires = secrets.token_urlsafe(18), int(time.time() + SESSION_SECONDS)
    table, lock = _sessions()
    with lock:
        for stale in [k for k, v in table.items() if v.expires <= time.time()]:
            del table[stale]
        table[session_id] = OpenSession(token.strip(), found, expires, time.monotonic())
    _adopt(sign_session(session_id, found.key_id, expires), table[session_id])
    st.session_state.pop(ENDED, None)
    return None


def who_is(token: str) -> tuple[int, Principal | str]:
    """The API's answer to "whose key is this?" (GET /api/me): the principal, or why not."""
    if not token:
        return 401, "No API key given."
    status, body = api("GET", "/api/me", token=token)
    if status != 200:
        return status, str(body["message"])
    return status, Principal(role=body["role"], subject=body["subject"], key_id=body["key_id"])


def _adopt(signed: str, session: OpenSession) -> None:
    st.session_state["principal"] = session.principal
    st.session_state["token"] = session.api_key
    st.session_state["session"] = signed
    if st.query_params.get(SESSION_PARAM) != signed:
        st.query_params[SESSION_PARAM] = signed  # page links drop it; the URL keeps it for a refresh


def logout(why: str = "") -> None:
    """End this session everywhere it is open (other tabs end at their next check)."""
    claims = verify_session(st.session_state.get("session") or st.query_params.get(SESSION_PARAM) or "")
    if claims:
        table, lock = _sessions()
        with lock:
            table.pop(claims[0], None)
    for name in ("principal", "token", "session"):
        st.session_state.pop(name, None)
    if SESSION_PARAM in st.query_params:
        del st.query_params[SESSION_PARAM]
    if why:
        st.session_state[ENDED] = why


def resume(force_check: bool = False) -> Principal | None:
    """Who this browser is logged in as, from this session or the URL's token (after a refresh
    or on a deep link); None, with the reason kept for the login page, once it has ended."""
    signed = st.session_state.get("session") or st.query_params.get(SESSION_PARAM)
    if not signed:
        return None
    claims = verify_session(signed)
    if claims is None:
        logout("Your session has expired or its link is not valid: log in again.")
        return None
    table, lock = _sessions()
    with lock:
        session = table.get(claims[0])
    if session is None or session.principal.key_id != claims[1]:
        logout("Your session has ended (you logged out, or the dashboards restarted): log in again.")
        return None
    if force_check or time.monotonic() - session.checked >= RECHECK_SECONDS:
        status, found = who_is(session.api_key)
        if status in (401, 403) or (isinstance(found, Principal) and found != session.principal):
            with lock:
                table.pop(claims[0], None)
            logout("Your API key has been revoked, so you were logged out. Ask your fund's admin for a new key.")
            return None
        if isinstance(found, Principal):  # an unreachable API proves nothing: its pages say so themselves
            session.checked = time.monotonic()
    _adopt(signed, session)
    return session.principal


@st.fragment(run_every=RECHECK_SECONDS)
def watch_session() -> None:
    """Pages refresh only their fragments, so nothing else would notice a revoked key on an
    open page: this checks it every RECHECK_SECONDS and sends an ended session to the login."""
    if st.session_state.get("session") and resume(force_check=True) is None:
        st.rerun(scope="app")


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


def api_url() -> str:
    return os.environ.get("MT_API_URL", "http://127.0.0.1:8080").rstrip("/")


def api(method: str, path: str, token: str | None = None, **kwargs: Any) -> tuple[int, Any]:
    """Call the trading API as the logged-in user (MT_API_URL; the embedded stack's by default).
    A failure comes back as a refusal whose "message" is one sentence for a person (see problem)."""
    base = api_url()
    key = st.session_state.get("token", "") if token is None else token
    try:
        answer = requests.request(method, f"{base}{path}", timeout=60, headers={"Authorization": f"Bearer {key}"},
                                  **kwargs)
    except requests.Timeout:
        return 504, problem(method, 504, {"error": "timeout", "field": "MT_API_URL"}, base)
    except requests.RequestException:
        return 503, problem(method, 503, {"error": "unreachable", "field": "MT_API_URL"}, base)
    try:
        body = answer.json()
    except ValueError:
        body = None
    if answer.status_code >= 400 or body is None:
        return answer.status_code, problem(method, answer.status_code, body, base)
    if method.upper() != "GET":
        _read.clear()  # the next read shows what this change stored
    return answer.status_code, body


def problem(method: str, status: int, body: Any, base: str) -> dict[str, Any]:
    """A refusal or failure as the API's {error, field, reason} plus "message": what failed and
    what to do, in one sentence, so no page shows a status code, a traceback or a dict."""
    body = body if isinstance(body, dict) else {}
    error, field = str(body.get("error") or "bad_answer"), str(body.get("field") or "")
    reason = " ".join(str(body.get("reason") or "").split())[:300]
    reading = method.upper() == "GET"
    task = "load its data" if reading else "make this change"
    if error == "unreachable":
        message = (f"Could not reach the trading API at {base}, so this page could not {task}"
                   f"{'' if reading else ' (nothing was changed)'}: start the stack (python -m devstack up) or "
                   "correct the MT_API_URL setting, then reload the page.")
    elif error == "timeout":
        message = (f"The trading API at {base} did not answer within 60 seconds, so this page could not {task}"
                   f"{'' if reading else ' (it may still happen: check before trying again)'}; try again in a "
                   "minute.")
    elif not body:
        message = (f"The trading API answered HTTP {status} without a readable reply, so this page could not "
                   f"{task}: check that MT_API_URL ({base}) points at the trading API.")
    elif status == 401:
        message = "Your API key is no longer accepted (revoked or replaced): log out and log in with a current key."
    elif status == 403:
        message = f"Your role may not do this ({reason or 'forbidden'}): ask your fund's admin if you need it."
    elif status == 404:
        message = f"Not found: {reason or 'no such item'}. It may have been removed; reload the page."
    elif status == 429:
        message = "Too many requests with your API key in the last minute: wait a minute, then try again."
    elif status >= 500:
        message = (f"The trading API failed while trying to {task} ({reason or f'HTTP {status}'}): try again in a "
                   "minute; if it keeps failing, an admin can look at System health and the logs.")
    else:
        message = (f"Not done: {reason or 'the request was refused'}{f' ({field})' if field else ''}. "
                   "Correct it and try again.")
    return {"error": error, "field": field or "?", "reason": reason or message, "message": message}


class Refused(Exception):
    """A read the API refused or could not answer; never cached."""

    def __init__(self, body: Any):
        super().__init__(str(body))
        self.body = body


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def _read(token: str, path: str) -> Any:
    status, body = api("GET", path, token=token)
    if status != 200:
        raise Refused(body)
    return body


def fetch(path: str, **query: Any) -> Any:
    """GET from the trading API with the viewer's key (cached per key for CACHE_SECONDS); on a
    refusal, show it in one sentence and stop the page."""
    listed = [(name, v) for name, value in query.items() if value not in (None, "", [])
              for v in (value if isinstance(value, list | tuple) else [value])]
    if listed:
        path += "?" + "&".join(f"{name}={quote(str(value), safe='')}" for name, value in listed)
    try:
        return _read(st.session_state.get("token", ""), path)
    except Refused as refused:
        show_error(refused.body)
        st.stop()


def show_error(body: Any) -> None:
    """One sentence for a person, whatever the API (or its absence) answered."""
    if isinstance(body, dict) and body.get("message"):
        st.error(str(body["message"]))
    elif isinstance(body, dict):
        st.error(problem("POST", 400, body, api_url())["message"])
    else:
        st.error("The trading API answered something this page cannot read: reload the page and try again.")


def describe_flatten(result: Any) -> str:
    """Flatten's answer ({"flattening": {strategy: signal id}}) as a sentence for the admin."""
    flattening = result.get("flattening") if isinstance(result, dict) else None
    if not isinstance(flattening, dict):
        return "Flatten submitted, but the API did not say which strategies: check Signal journey."
    if not flattening:
        return "Flatten submitted: nothing to close, no strategy holds a position or a working order."
    listed = ", ".join(f"{strategy} (signal {flattening[strategy]})" for strategy in sorted(flattening))
    plural = "strategy" if len(flattening) == 1 else "strategies"
    return (f"Flatten submitted for {len(flattening)} {plural}: {listed}. Working orders are cancelled first, then "
            "positions are closed at market; follow each signal in Signal journey.")
