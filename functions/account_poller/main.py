"""HTTPS function, called by Cloud Scheduler every minute: the fund's tick. Refresh every
account's snapshot, sweep up work a dead instance left behind, and release the signals
held for a market's open."""

import flask
import functions_framework

from shared.runtime import services


@functions_framework.http
def account_poller(request: flask.Request) -> tuple[dict, int]:
    if request.method != "POST":
        return {"error": "method_not_allowed", "field": "method", "reason": "use POST"}, 405
    tick = services().tick()
    failed = {account: reason for account, reason in tick["polled"].items() if reason != "ok"}
    return {"polled": len(tick["polled"]), "failed": failed, "swept": tick["swept"], "released": tick["released"]}, 200
