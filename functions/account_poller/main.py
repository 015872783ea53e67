"""HTTPS function, called by Cloud Scheduler: refresh every account's snapshot."""

import flask
import functions_framework

from shared.runtime import services


@functions_framework.http
def account_poller(request: flask.Request) -> tuple[dict, int]:
    if request.method != "POST":
        return {"error": "method_not_allowed", "field": "method", "reason": "use POST"}, 405
    results = services().poller.poll_all()
    failed = {account: reason for account, reason in results.items() if reason != "ok"}
    return {"polled": len(results), "failed": failed}, 200
