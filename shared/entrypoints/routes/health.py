"""/healthz, for `devstack up/status`: the embedded server answers only while it can reach its store."""

from __future__ import annotations

from collections.abc import Callable

import flask

from shared.bootstrap import Services
from shared.domain.models import Collections


def register(app: flask.Flask, services: Services, poller_alive: Callable[[], bool]) -> None:
    @app.get("/healthz")
    def health() -> tuple[dict, int]:
        """For `devstack up/status`: answers only when this server can still reach its store."""
        body: dict = {"store": services.settings.store, "bus": services.settings.bus,
                      "use_mock_broker": services.settings.use_mock_broker}
        try:
            services.store.query(Collections.ACCOUNTS, limit=1)
        except Exception as error:  # noqa: BLE001 - any store failure makes the stack unhealthy
            return {**body, "status": "store unavailable", "error": str(error)[:200]}, 503
        if not poller_alive():
            return {**body, "status": "account poller stopped"}, 503
        return {**body, "status": "ok"}, 200
