"""Run the bridge on the gateway VM (systemd: gateway_vm/mt-ibkr-bridge.service).

    IBKR_GATEWAY=127.0.0.1:4002 MT_STORE=firestore MT_BUS=pubsub GOOGLE_CLOUD_PROJECT=... \\
        python -m gateway_vm.bridge

IBKR_PRICE_FALLBACK_LAST_FILL=1 lets quotes fall back to our last fill (shared/adapters/brokers/ibkr/config.py).
The broker is built by the broker registry's IBKR factory, as bootstrap builds the others.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

from gateway_vm.bridge.service import IbkrBridge
from shared.adapters.brokers import BrokerContext, build_broker
from shared.adapters.brokers.ibkr import IbkrBroker
from shared.adapters.bus_pubsub import PubSubBus
from shared.bootstrap import build_bus, build_store, utcnow
from shared.config import Settings
from shared.journey import configure as configure_journey
from shared.logs import configure_logging


def main() -> None:
    settings = Settings.from_env()
    configure_logging("ibkr_bridge", settings)  # LOG_LEVEL, LOG_FORMAT, LOG_DIR (shared/logs.py)
    configure_journey(settings.log_dir, settings.structured_logs)
    store = build_store(settings)
    bus = PubSubBus(settings.gcp_project, subscriber_name="bridge") if settings.bus == "pubsub" else build_bus(settings)
    broker = build_broker("ibkr", BrokerContext(store, settings, utcnow))  # IBKR_GATEWAY, IBKR_CLIENT_ID, ...
    assert isinstance(broker, IbkrBroker)
    bridge = IbkrBridge(store, bus, broker, utcnow, settings.order_claim_lease_seconds,
                        poll_seconds=float(os.environ.get("IBKR_POLL_SECONDS", "30")))
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    bridge.start(health_port=int(os.environ.get("BRIDGE_HEALTH_PORT", "8765")))
    logging.getLogger(__name__).info("IBKR bridge up: %s", bridge.health())
    stopped.wait()
    bridge.stop()
    bus.close()
    store.close()


if __name__ == "__main__":
    main()
