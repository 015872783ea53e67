"""The paper venue's BrokerClient, a cash equities venue: every order fills whole at the
instrument's last price, less a fixed commission. Its books live in this object's memory (a
venue that must survive a restart or run in a stateless function keeps them in the store, as
the Mock does)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

from shared.domain.models import AccountSnapshot, Instrument, Order, OrderUpdate, Quote
from shared.ports.broker import BrokerCapabilities, BrokerClient, BrokerError

from . import parsing
from .config import PaperVenueConfig


class PaperVenueBroker(BrokerClient):
    name = "paper_venue"
    # Fills market orders whole and prices them; no protective orders, no stops.
    capabilities: ClassVar[BrokerCapabilities] = BrokerCapabilities(
        brackets=False, partial_fills=False, market_data=True, cancel=True, stop_orders=False)

    def __init__(self, config: PaperVenueConfig, clock: Callable[[], datetime]):
        self._config = config
        self._clock = clock
        self._accounts: dict[str, dict[str, Any]] = {
            account: {"cash": cash, "positions": {}} for account, cash in config.accounts.items()}
        self._last: dict[str, float] = {}  # instrument key -> the venue's last traded price
        self._orders: dict[str, tuple[Order, dict[str, Any]]] = {}  # "account:ref" -> (order, report)

    def set_last_price(self, symbol: str, price: float) -> None:
        """The venue's tape: the price the next order in ``symbol`` fills at."""
        self._last[symbol] = price

    # --- BrokerClient -----------------------------------------------------------
    def place_order(self, order: Order) -> OrderUpdate:
        wire = parsing.ticket(order)
        key = f"{wire['account']}:{wire['ref']}"
        if key in self._orders:  # the same client order id again: the first order, not a second trade
            return parsing.order_update(*self._orders[key])
        account = self._accounts.get(wire["account"])
        if account is None:
            raise BrokerError(f"the paper venue has no account {wire['account']}")  # retrying cannot help
        price = self._last.get(wire["symbol"])
        report = {"venue_order_id": f"pv-{len(self._orders) + 1}", "ref": wire["ref"], "qty": wire["qty"],
                  "px": price, "fee": self._config.commission_per_order, "ts": self._clock().isoformat()}
        if price is None:
            report.update(status="REJECTED", text=f"no last price for {wire['symbol']}")
        else:
            signed = wire["qty"] if wire["side"] == "BUY" else -wire["qty"]
            account["positions"][wire["symbol"]] = account["positions"].get(wire["symbol"], 0.0) + signed
            account["cash"] -= signed * price + self._config.commission_per_order
            report["status"] = "FILLED"
        self._orders[key] = (order, report)
        return parsing.order_update(order, report)

    def find_order(self, account_id: str, client_order_id: str) -> OrderUpdate | None:
        found = self._orders.get(f"{account_id}:{client_order_id}")
        return parsing.order_update(*found) if found else None

    def cancel_order(self, account_id: str, client_order_id: str) -> OrderUpdate:
        found = self._orders.get(f"{account_id}:{client_order_id}")
        if found is None:
            raise BrokerError(f"no order {client_order_id} in account {account_id}")
        return parsing.order_update(*found)  # every order is final at once: nothing rests to cancel

    def account_snapshot(self, account_id: str) -> AccountSnapshot:
        account = self._accounts.get(account_id)
        if account is None:
            raise BrokerError(f"the paper venue has no account {account_id}")
        return parsing.account_snapshot(account, self._last, self._clock())

    def quote(self, instrument: Instrument) -> Quote | None:
        price = self._last.get(instrument.key)
        return parsing.quote(price, self._clock()) if price is not None else None
