"""HTTPS function, called by Cloud Scheduler: the fund's tick. Refresh every account's
snapshot and release the signals held for a market's open."""

import flask
import functions_framework

from shared.runtime import services


@functions_framework.http
def account_poller(request: flask.Request) -> tuple[dict, int]:
    if request.method != "POST":
        return {"error": "method_not_allowed", "field": "method", "reason": "use POST"}, 405
    tick = services().tick()
    failed = {account: reason for account, reason in tick["polled"].items() if reason != "ok"}
    return {"polled": len(tick["polled"]), "failed": failed, "released": tick["released"]}, 200
