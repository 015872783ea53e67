"""Zerodha through the official kiteconnect client, exactly once per client order id.

Kite's ``tag`` (up to 20 characters) carries our client order id. Before placing,
and again after any timeout, the order book is searched for that tag: an order
Kite already has is never placed a second time. An entry's stop-loss / take-profit
become one GTT once the entry has filled (see ``brackets``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kite_errors

from shared.domain.instruments import InstrumentSpec
from shared.domain.models import AccountSnapshot, Instrument, Order, OrderType, OrderUpdate, Quote
from shared.domain.schema import Collections
from shared.ports.broker import BrokerCapabilities, BrokerClient, BrokerError
from shared.ports.store import Store

from .brackets import GttBrackets
from .config import ZerodhaConfig
from .instruments import InstrumentBook, KiteInstrument, specs_from_book
from .parsing import account_snapshot, order_update, parse_quote
from .session import ZerodhaSessionExpired, ZerodhaSessions
from .tokens import TokenCipher

OPEN_ORDERS = Collections.ZERODHA_OPEN_ORDERS  # orders still working, for take_updates
CONTRACTS = Collections.ZERODHA_CONTRACTS  # Kite's EXCHANGE:TRADINGSYMBOL -> the instrument key and lot size we traded
_ORDER_TYPES = {OrderType.MARKET: "MARKET", OrderType.LIMIT: "LIMIT", OrderType.STOP: "SL-M"}
_TRANSIENT = (requests.Timeout, requests.ConnectionError, kite_errors.NetworkException,
              kite_errors.GeneralException, kite_errors.DataException)


class ZerodhaBroker(BrokerClient):
    name = "zerodha"
    # Stops as SL-M (stop-market); brackets as one GTT (two-leg OCO, or single) per filled entry.
    capabilities: ClassVar[BrokerCapabilities] = BrokerCapabilities(
        brackets=True, oco_or_gtt=True, partial_fills=True, market_data=True, cancel=True, stop_orders=True,
        concurrent_accounts=8)  # each account is its own Kite user, with its own rate limit
    max_tag_length: ClassVar[int] = 20

    def __init__(self, store: Store, config: ZerodhaConfig, instruments: Callable[[KiteConnect], InstrumentBook],
                 clock: Callable[[], datetime], cipher: TokenCipher | None = None):
        """``instruments`` loads the instrument book with a logged-in client (cache it: the CSV is large);
        ``cipher`` seals the session tokens (None: its keys come from the environment)."""
        self._store = store
        self._sessions = ZerodhaSessions(store, config, clock, cipher)
        self._load_instruments = instruments
        self._book: InstrumentBook | None = None
        self._book_lock = threading.Lock()
        self._recorded_contracts: set[tuple[str, str]] = set()
        self._clock = clock
        self._brackets = GttBrackets(store, clock)

    @property
    def sessions(self) -> ZerodhaSessions:
        return self._sessions

    # --- BrokerClient -----------------------------------------------------------
    def place_order(self, order: Order) -> OrderUpdate:
        if len(order.client_order_id) > self.max_tag_length:
            raise BrokerError(f"client order id {order.client_order_id} is longer than Kite's 20-character tag")
        kite = self._sessions.client(order.account_id)
        if self._brackets.holds(order.client_order_id):  # a protective leg Kite already holds in a GTT
            return self._call(order.account_id, lambda: self._brackets.find(kite, order.client_order_id))
        existing = self._call(order.account_id, lambda: self._lookup(kite, order))
        if existing is not None:
            return existing
        contract = self._contract(kite, order.instrument)
        if (contract.key, order.instrument.key) not in self._recorded_contracts:  # once per process
            self._store.put(CONTRACTS, contract.key.replace("/", "_"), {
                "kite_key": contract.key, "instrument_key": order.instrument.key, "lot_size": contract.lot_size})
            self._recorded_contracts.add((contract.key, order.instrument.key))
        params: dict[str, Any] = {
            "variety": "regular", "exchange": contract.exchange, "tradingsymbol": contract.tradingsymbol,
            "transaction_type": order.side.value.upper(), "quantity": self._book_for(kite).kite_quantity(
                contract, order.quantity), "product": self._product(order.account_id, contract),
            "order_type": _ORDER_TYPES[order.order_type], "tag": order.client_order_id,
        }
        if order.order_type is OrderType.LIMIT:
            params["price"] = order.limit_price
        if order.order_type is OrderType.STOP:
            params["trigger_price"] = order.stop_price
        try:
            order_id = self._call(order.account_id, lambda: kite.place_order(**params))
        except BrokerError as error:
            if not error.retryable:
                raise
            # The request may have reached Kite before the answer was lost: look before anyone retries.
            found = self._call(order.account_id, lambda: self._lookup(kite, order))
            if found is not None:
                return found
            raise
        except (kite_errors.InputException, kite_errors.OrderException) as error:
            return OrderUpdate(client_order_id=order.client_order_id, status="rejected", reason=str(error))
        return self._state(kite, order, {"order_id": order_id}, contract)

    def find_order(self, account_id: str, client_order_id: str) -> OrderUpdate | None:
        if self._brackets.holds(client_order_id):
            kite = self._sessions.client(account_id)
            return self._call(account_id, lambda: self._brackets.find(kite, client_order_id))
        record = self._store.get(OPEN_ORDERS, client_order_id)
        if record is None:
            return None
        kite = self._sessions.client(account_id)
        return self._call(account_id, lambda: self._lookup(kite, Order.model_validate(record["order"])))

    def cancel_order(self, account_id: str, client_order_id: str) -> OrderUpdate:
        if self._brackets.holds(client_order_id):  # deletes the whole GTT: its other leg is cancelled too
            kite = self._sessions.client(account_id)
            return self._call(account_id, lambda: self._brackets.cancel(kite, client_order_id))
        record = self._store.get(OPEN_ORDERS, client_order_id)
        if record is None:
            raise BrokerError(f"no Zerodha order {client_order_id} in account {account_id}")
        kite = self._sessions.client(account_id)
        order = Order.model_validate(record["order"])
        current = self._call(account_id, lambda: self._lookup(kite, order))
        if current is None or current.status not in ("working", "partially_filled", "submitted"):
            return current or OrderUpdate(client_order_id=client_order_id, status="cancelled")
        self._call(account_id, lambda: kite.cancel_order("regular", current.broker_order_id))
        return self._call(account_id, lambda: self._lookup(kite, order)) or current

    def account_snapshot(self, account_id: str) -> AccountSnapshot:
        kite = self._sessions.client(account_id)
        margins, positions, holdings = self._call(account_id, lambda: (kite.margins(), kite.positions(),
                                                                       kite.holdings()))
        snapshot = account_snapshot(margins, positions, holdings, self._clock())
        return snapshot.model_copy(update={"positions": self._as_traded(snapshot.positions)})

    def _as_traded(self, kite_positions: dict[str, float]) -> dict[str, float]:
        """Kite's positions (EXCHANGE:TRADINGSYMBOL, in units) under the instrument keys we traded
        them as, in our quantities (lots), so reconciliation compares like with like."""
        traded = {doc["kite_key"]: doc for doc in self._store.query(CONTRACTS)}
        positions: dict[str, float] = {}
        for key, units in kite_positions.items():
            mapping = traded.get(key)
            ours = (mapping["instrument_key"], units / mapping["lot_size"]) if mapping else (key, units)
            positions[ours[0]] = positions.get(ours[0], 0.0) + ours[1]
        return {key: quantity for key, quantity in positions.items() if quantity}

    def quote(self, instrument: Instrument) -> Quote | None:
        accounts = self._sessions.logged_in()
        if not accounts:
            return None
        kite = self._sessions.client(accounts[0])
        contract = self._contract(kite, instrument)
        quotes = self._call(accounts[0], lambda: kite.quote([contract.key]))
        found = quotes.get(contract.key)
        return parse_quote(found) if found else None

    def fx_rate(self, base: str, quote: str) -> Quote | None:
        """Kite accounts and instruments are INR only, so the one rate known is a currency's own: never a guess."""
        if base.upper() != quote.upper():
            return None
        return Quote(price=1.0, as_of=self._clock(), source="identity")

    def instrument_specs(self, wanted: list[str]) -> list[InstrumentSpec]:
        """Instrument-master specs for ``wanted`` tickers, from Kite's instruments dump."""
        accounts = self._sessions.logged_in()
        if not accounts:
            raise BrokerError("no Zerodha account is logged in today: log in before importing instruments")
        kite = self._sessions.client(accounts[0])
        try:
            return specs_from_book(self._book_for(kite), wanted, self._clock().date())
        except ValueError as error:
            raise BrokerError(str(error)) from None

    def take_updates(self) -> list[OrderUpdate]:
        """Orders that were still working when placed and have changed since, then protective legs."""
        updates = []
        for record in self._store.query(OPEN_ORDERS, where={"open": True}):
            order = Order.model_validate(record["order"])
            try:
                kite = self._sessions.client(order.account_id)
                current = self._lookup(kite, order)
            except (BrokerError, *_TRANSIENT):
                continue  # try again on the next poll
            if current is not None and (current.status, current.filled_quantity) != (record["status"],
                                                                                     record["filled"]):
                updates.append(current)
        return updates + self._brackets.updates(self._sessions.client)

    # --- internals ------------------------------------------------------------------
    def _lookup(self, kite: KiteConnect, order: Order) -> OrderUpdate | None:
        """Our order in Kite's order book, found by tag; None if Kite never saw it."""
        for kite_order in kite.orders():
            if kite_order.get("tag") == order.client_order_id or order.client_order_id in (kite_order.get("tags")
                                                                                           or []):
                contract = self._contract(kite, order.instrument)
                return self._state(kite, order, kite_order, contract)
        return None

    def _state(self, kite: KiteConnect, order: Order, kite_order: dict[str, Any],
               contract: KiteInstrument) -> OrderUpdate:
        order_id = kite_order["order_id"]
        latest = kite.order_history(order_id)[-1]
        trades = kite.order_trades(order_id) if float(latest.get("filled_quantity") or 0) > 0 else []
        update = order_update(order, latest, trades, contract, self._clock())
        if (order.stop_loss or order.take_profit) and update.status == "filled":
            # Only a filled entry: that is when the books record its legs, so an exit can cancel them.
            # Before the entry's record closes, so a crash in between finds it open and protects it then.
            self._brackets.protect(kite, order, update, contract, self._product(order.account_id, contract),
                                   self._book_for(kite).kite_quantity(contract, update.filled_quantity))
        self._store.put(OPEN_ORDERS, order.client_order_id, {
            "order": order.model_dump(mode="json"), "account_id": order.account_id, "order_id": str(order_id),
            "status": update.status, "filled": update.filled_quantity,
            "open": update.status in ("submitted", "working", "partially_filled"),
        })
        return update

    def _contract(self, kite: KiteConnect, instrument: Instrument) -> KiteInstrument:
        return self._book_for(kite).resolve(instrument, self._clock().date())

    def _book_for(self, kite: KiteConnect) -> InstrumentBook:
        with self._book_lock:  # accounts place side by side: the large CSV is loaded once
            if self._book is None:
                self._book = self._load_instruments(kite)
            return self._book

    def _product(self, account_id: str, contract: KiteInstrument) -> str:
        if self._sessions.account(account_id).intraday:
            return "MIS"
        return "NRML" if contract.is_derivative else "CNC"

    def _call(self, account_id: str, work: Callable[[], Any]) -> Any:
        """Run a Kite call, translating its failures into what execution understands."""
        try:
            return work()
        except kite_errors.TokenException:
            self._sessions.mark_expired(account_id)
            raise ZerodhaSessionExpired(account_id) from None
        except kite_errors.PermissionException as error:
            raise BrokerError(f"Zerodha refused: {error}") from None
        except _TRANSIENT as error:
            raise BrokerError(f"Zerodha unavailable: {type(error).__name__}", retryable=True) from None


def load_instruments(kite: KiteConnect) -> InstrumentBook:
    """The production loader: the full instruments CSV (tens of MB), once per process."""
    return InstrumentBook.from_csv(kite._get("market.instruments.all"))
