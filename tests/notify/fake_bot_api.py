"""A local Telegram Bot API for tests: the real client library talks HTTP to it.

Serves /bot<token>/<method> like api.telegram.org: form or JSON parameters,
{"ok": true, "result": ...} answers, 401 for a wrong token, 429 with
parameters.retry_after when told to rate-limit.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response


@dataclass
class FakeBotApi:
    token: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    rate_limit_next: int = 0  # answer this many sendMessage calls with 429
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True, request_handler=_Quiet)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def start(self) -> FakeBotApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)

    def texts(self) -> list[str]:
        return [m["text"] for m in self.messages]

    def _app(self, environ: dict, start_response: Any) -> Any:
        request = Request(environ)
        response = self._answer(request)
        return response(environ, start_response)

    def _answer(self, request: Request) -> Response:
        prefix, _, method = request.path.lstrip("/").partition("/")
        if prefix != f"bot{self.token}":
            return _json({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)
        params = request.get_json(silent=True) if request.is_json else request.form.to_dict()
        if method == "getMe":
            return _json({"ok": True, "result": {"id": 4242, "is_bot": True, "first_name": "Mathematricks",
                                                 "username": "mathematricks_test_bot"}})
        if method == "sendMessage":
            if self.rate_limit_next > 0:
                self.rate_limit_next -= 1
                return _json({"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 3",
                              "parameters": {"retry_after": 3}}, 429)
            if not params.get("text") or not params.get("chat_id"):
                return _json({"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"},
                             400)
            message = {"message_id": next(self._ids), "date": int(time.time()), "text": params["text"],
                       "chat": {"id": int(params["chat_id"]), "type": "group", "title": "fund alerts"}}
            self.messages.append(message)
            return _json({"ok": True, "result": message})
        return _json({"ok": False, "error_code": 404, "description": "Not Found: method not found"}, 404)


class _Quiet(WSGIRequestHandler):
    """Telegram's access log is not ours to keep (and its URLs carry the token)."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


def _json(payload: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, content_type="application/json")
