"""The IBKR bridge service.

It consumes the orders execution routes to ``ibkr-orders`` and places them through the
same ExecutionService as every other broker (claim by client order id, look up by
orderRef before placing again, publish confirmations), polls its IBKR accounts for
snapshots and reconciliation, publishes fills of orders that finished after their
placement call returned, publishes reference prices (cerebro, in the cloud, cannot reach
IB Gateway), and reports its health on a loopback port for systemd and the operator.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import ValidationError

from shared.adapters.brokers.ibkr import IbkrBroker
from shared.domain.instruments import InstrumentSpec
from shared.domain.messages import OrderMessage
from shared.domain.models import Collections, Quote, Topics
from shared.ports.broker import BrokerError
from shared.ports.bus import Bus, Message
from shared.ports.store import Store
from shared.services.account_poller import AccountPoller
from shared.services.execution_service import ExecutionService
from shared.services.prices import market_price_doc_id

log = logging.getLogger(__name__)


class IbkrBridge:
    def __init__(self, store: Store, bus: Bus, broker: IbkrBroker, clock: Callable[[], datetime],
                 claim_lease_seconds: float, poll_seconds: float = 30.0):
        self._broker = broker
        self._store = store
        self._bus = bus
        self._clock = clock
        self._poll_seconds = poll_seconds
        self.execution = ExecutionService(store, bus, {"ibkr": broker}, clock, claim_lease_seconds)
        self.poller = AccountPoller(store, {"ibkr": broker}, bus, only_configured=True)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._health_server: ThreadingHTTPServer | None = None
        self.last_poll: dict[str, Any] = {}
        self.orders_handled = 0

    # --- lifecycle -------------------------------------------------------------------
    def start(self, health_port: int | None = None) -> None:
        """Connect (retrying with backoff until IB Gateway answers), then serve."""
        self._broker.connection.keep_connected(self._stop)
        self._bus.subscribe(Topics.IBKR_ORDERS, self._on_order)
        self._threads.append(threading.Thread(target=self._poll_forever, name="ibkr-poll", daemon=True))
        if health_port is not None:
            self._health_server = ThreadingHTTPServer(("127.0.0.1", health_port), self._health_handler())
            self._threads.append(threading.Thread(target=self._health_server.serve_forever, name="ibkr-health",
                                                  daemon=True))
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._health_server is not None:
            self._health_server.shutdown()
            self._health_server.server_close()
        self._broker.connection.close()

    @property
    def health_port(self) -> int | None:
        return self._health_server.server_address[1] if self._health_server else None

    def health(self) -> dict[str, Any]:
        connection = self._broker.connection
        return {"connected": connection.connected, "connects": connection.connects,
                "gateway": f"{connection.config.host}:{connection.config.port}",
                "orders_handled": self.orders_handled, "last_poll": self.last_poll}

    # --- work --------------------------------------------------------------------------
    def _on_order(self, message: Message) -> None:
        """An order to place or a working order to cancel (an exit's cancel of a resting entry or
        of a bracket leg), in the order execution published them. A failure raises, so the bus
        redelivers (Pub/Sub's retry policy, then its dead letter)."""
        order = OrderMessage.model_validate(message.data)
        if order.cancel is not None:
            self.execution.handle_cancel(order.cancel)
        elif order.order is not None:
            self.execution.handle_order(order.order)
        self.orders_handled += 1

    def poll_once(self) -> dict[str, Any]:
        connected = self._broker.connection.connected
        published = self.execution.publish_broker_updates() if connected else 0
        accounts = self.poller.poll_all()
        prices: int | str = "not connected"
        if connected:
            try:
                prices = self.publish_market_prices()
            except BrokerError as error:  # e.g. the gateway went away mid-poll: the next poll tries again
                log.warning("IBKR prices not published: %s", error)
                prices = f"failed: {error}"
        self.last_poll = {"at": self._clock().isoformat(), "accounts": accounts, "updates_published": published,
                          "prices_published": prices}
        return self.last_poll

    def publish_market_prices(self) -> int:
        """Quotes for the instruments in the master that IBKR trades, and the USD rate of each
        currency they (or the IBKR accounts) are priced in, into ``market_prices`` (ids
        ``ibkr|NASDAQ:AAPL``, ``ibkr|FX:EURUSD``): cerebro reads them there. An instrument IB
        has no price for keeps its last document, whose ``as_of`` shows its age. Returns how
        many were written."""
        specs = []
        for document in self._store.query(Collections.INSTRUMENTS):
            try:
                spec = InstrumentSpec.model_validate(document)
            except ValidationError as error:
                log.warning("instrument %s skipped: %s", document.get("key"), error)
                continue
            if "ibkr" in spec.broker_ids:
                specs.append(spec)
        quotes = dict(self._broker.quote_specs(specs))
        bases = {account.get("base_currency", "USD") for account in self._store.query(
            Collections.ACCOUNTS, where={"broker": "ibkr"})}
        for currency in sorted(({spec.currency for spec in specs} | bases) - {"USD"}):
            quotes[f"FX:{currency}USD"] = self._broker.fx_rate(currency, "USD")
        documents = {market_price_doc_id("ibkr", key): _price_document(key, quote)
                     for key, quote in quotes.items() if quote is not None}
        self._store.put_many(Collections.MARKET_PRICES, documents)
        return len(documents)

    def _poll_forever(self) -> None:
        while not self._stop.wait(self._poll_seconds):
            try:
                self.poll_once()
            except Exception:  # the next poll tries again; the loop must live
                log.exception("IBKR poll failed")

    def _health_handler(self) -> type[BaseHTTPRequestHandler]:
        bridge = self

        class Health(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                health = bridge.health()
                body = json.dumps(health).encode()
                self.send_response(200 if health["connected"] else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Health


def _price_document(instrument_key: str, quote: Quote) -> dict[str, Any]:
    return {"broker": "ibkr", "instrument_key": instrument_key, "price": quote.price,
            "as_of": quote.as_of.isoformat(), "source": quote.source}
