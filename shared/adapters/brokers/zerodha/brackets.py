"""An entry's stop-loss / take-profit at Kite: one GTT per filled entry.

Kite's GTT (good till triggered) holds one or two LIMIT orders and places one when the
price crosses its trigger; a two-leg GTT is OCO, so once one leg fires the other is gone.
Each leg is recorded in ``zerodha_gtts`` under its client order id (``protective_order_id``)
*before* Kite is asked, both legs in one transaction, so an entry seen filled twice, by two
processes or after a restart is protected once. A placement whose answer was lost stays
'placing' and is retried a minute later, first adopting a GTT Kite already holds with
exactly our symbol, levels and quantities.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any

import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kite_errors

from shared.domain.models import (
    Order,
    OrderType,
    OrderUpdate,
    Side,
)
from shared.domain.protection import ProtectiveLeg, protective_orders
from shared.domain.schema import Collections
from shared.ports.broker import BrokerError
from shared.ports.store import Document, Store, Transaction

from .instruments import KiteInstrument
from .parsing import order_update

ZERODHA_GTTS = Collections.ZERODHA_GTTS  # one document per protective leg, keyed by the leg's client order id
RETRY_PLACING_AFTER = timedelta(seconds=60)  # far longer than a Kite call may take
KITE_FAILURES = (kite_errors.KiteException, requests.RequestException)
_REFUSED = (kite_errors.InputException, kite_errors.OrderException)  # asking again gets the same answer
_ENDED = {"deleted": "cancelled", "cancelled": "cancelled", "disabled": "cancelled", "expired": "cancelled",
          "rejected": "rejected"}
log = logging.getLogger(__name__)


class GttBrackets:
    """Places, reads and deletes the GTTs protecting filled entries, and reports their legs once."""

    def __init__(self, store: Store, clock: Callable[[], datetime]):
        self._store = store
        self._clock = clock

    def holds(self, leg_id: str) -> bool:
        return self._store.get(ZERODHA_GTTS, leg_id) is not None

    def protect(self, kite: KiteConnect, entry: Order, filled: OrderUpdate, contract: KiteInstrument,
                product: str, units: int) -> None:
        """Protect ``units`` of a filled entry, once; a failed placement is left for ``updates`` to retry."""
        legs = sorted(protective_orders(entry, filled.filled_quantity), key=_level)  # Kite: lower trigger first
        if not legs or self.holds(legs[0].client_order_id):
            return
        fills = sum(fill.quantity for fill in filled.fills)
        last_price = (sum(f.price * f.quantity for f in filled.fills) / fills if fills else entry.reference_price)
        gtt = {"trigger_type": KiteConnect.GTT_TYPE_OCO if len(legs) == 2 else KiteConnect.GTT_TYPE_SINGLE,
               "tradingsymbol": contract.tradingsymbol, "exchange": contract.exchange,
               "trigger_values": [_level(leg) for leg in legs], "last_price": last_price,
               "orders": [{"transaction_type": leg.side.value.upper(), "quantity": units, "order_type": "LIMIT",
                           "product": product, "price": _limit_price(leg, contract.tick_size)} for leg in legs]}
        ids = [leg.client_order_id for leg in legs]
        docs = [{"leg_id": leg.client_order_id, "account_id": entry.account_id,
                 "parent_order_id": entry.client_order_id, "leg": _leg_name(leg),
                 "legs": ids, "index": index, "order": leg.model_dump(mode="json"), "gtt": gtt,
                 "contract": {**asdict(contract), "expiry": contract.expiry and contract.expiry.isoformat()},
                 "trigger_id": None, "state": "placing", "attempted_at": self._clock().isoformat(), "reason": "",
                 "status": "submitted", "filled": 0.0, "open": True} for index, leg in enumerate(legs)]
        if self._store.transaction(lambda tx: _create_all(tx, docs)):
            self._place(kite, docs[0], adopt=False)

    def updates(self, client_for: Callable[[str], KiteConnect]) -> list[OrderUpdate]:
        """Legs whose state changed since last reported (each final state once); stuck placements retried first."""
        changed = []
        gtts: dict[int, dict[str, Any]] = {}  # one read per GTT per poll, shared by its two legs
        for leg_id in [doc["leg_id"] for doc in self._store.query(ZERODHA_GTTS, where={"open": True})]:
            doc = self._store.get(ZERODHA_GTTS, leg_id)
            if doc is None:
                continue
            try:
                kite = client_for(doc["account_id"])
                if doc["state"] == "placing" and self._claim_retry(doc):
                    self._place(kite, doc, adopt=True)
                    doc = self._store.get(ZERODHA_GTTS, leg_id) or doc
                current = self._current(kite, doc, gtts)
            except (BrokerError, *KITE_FAILURES) as error:
                log.info("GTT leg %s not read (%s): next poll", leg_id, type(error).__name__)
                continue  # try again on the next poll
            if self._record(doc, current):
                changed.append(current)
        return changed

    def find(self, kite: KiteConnect, leg_id: str) -> OrderUpdate | None:
        doc = self._store.get(ZERODHA_GTTS, leg_id)
        if doc is None:
            return None
        current = self._current(kite, doc, {})
        self._record(doc, current)
        return current

    def cancel(self, kite: KiteConnect, leg_id: str) -> OrderUpdate:
        """Delete the GTT (both legs go: it is one OCO at Kite), or, once it fired, cancel the order it placed.
        A leg already ended answers its end."""
        doc = self._store.get(ZERODHA_GTTS, leg_id)
        if doc is None:
            raise BrokerError(f"no Zerodha GTT leg {leg_id}")
        current = self._current(kite, doc, {})
        if not current.is_final and current.broker_order_id and not current.broker_order_id.startswith("gtt:"):
            with contextlib.suppress(*_REFUSED):  # refused: it filled meanwhile, answered below
                kite.cancel_order(KiteConnect.VARIETY_REGULAR, current.broker_order_id)  # fired, its LIMIT rests
            current = self._current(kite, doc, {})
        elif not current.is_final:
            current = self._delete(kite, doc)
        self._record(doc, current)
        return current

    # --- internals ------------------------------------------------------------------
    def _place(self, kite: KiteConnect, doc: Document, adopt: bool) -> None:
        gtt = dict(doc["gtt"])
        try:
            trigger_id = self._placed_before(kite, doc) if adopt else None
            if trigger_id is None:
                if gtt["last_price"] is None:
                    key = f"{gtt['exchange']}:{gtt['tradingsymbol']}"
                    found = kite.ltp([key]).get(key)  # only when the entry's fills carried no price
                    if not found:
                        raise kite_errors.InputException(f"Kite has no last price for {key}")
                    gtt["last_price"] = float(found["last_price"])
                trigger_id = int(kite.place_gtt(**gtt)["trigger_id"])
        except _REFUSED as error:
            self._set_legs(doc, {"state": "rejected", "reason": f"Kite refused the GTT: {error}"}, expect="placing")
            return
        except KITE_FAILURES as error:
            log.warning("GTT protecting %s not placed (%s): retried after %ss", doc["parent_order_id"],
                        type(error).__name__, RETRY_PLACING_AFTER.total_seconds())
            return
        if not self._set_legs(doc, {"state": "active", "trigger_id": trigger_id}, expect="placing"):
            kite.delete_gtt(trigger_id)  # the legs were cancelled while Kite was being asked

    def _delete(self, kite: KiteConnect, doc: Document) -> OrderUpdate:
        trigger_id = doc["trigger_id"]
        if doc["state"] == "placing":
            trigger_id = self._placed_before(kite, doc)  # a lost answer may still have reached Kite
        try:
            if trigger_id is not None:
                kite.delete_gtt(trigger_id)
        except _REFUSED:  # it fired or ended meanwhile: answer what it is now
            return self._current(kite, doc, {})
        self._set_legs(doc, {"state": "cancelled", "reason": "cancelled on request", "trigger_id": trigger_id})
        return OrderUpdate(client_order_id=doc["leg_id"], broker_order_id=_gtt_ref(trigger_id), status="cancelled",
                           reason="cancelled on request")

    def _placed_before(self, kite: KiteConnect, doc: Document) -> int | None:
        """An active GTT at Kite that is exactly ours and recorded for no other entry."""
        want = doc["gtt"]
        wanted_orders = [_order_shape(o) for o in want["orders"]]
        for gtt in kite.get_gtts():
            condition = gtt.get("condition") or {}
            if (gtt.get("status") == "active" and gtt.get("type") == want["trigger_type"]
                    and (condition.get("exchange"), condition.get("tradingsymbol")) == (want["exchange"],
                                                                                        want["tradingsymbol"])
                    and [round(float(v), 4) for v in condition.get("trigger_values") or []]
                    == [round(float(v), 4) for v in want["trigger_values"]]
                    and [_order_shape(o) for o in gtt.get("orders") or []] == wanted_orders
                    and not self._store.query(ZERODHA_GTTS, where={"trigger_id": int(gtt["id"])}, limit=1)):
                return int(gtt["id"])
        return None

    def _claim_retry(self, doc: Document) -> bool:
        """Only one poller retries a stuck placement, and only once its last attempt is surely over."""
        now = self._clock()

        def claim(tx: Transaction) -> bool:
            legs = [tx.get(ZERODHA_GTTS, leg_id) or {} for leg_id in doc["legs"]]
            if legs[0].get("state") != "placing" or now - datetime.fromisoformat(
                    legs[0]["attempted_at"]) < RETRY_PLACING_AFTER:
                return False
            for leg in legs:
                tx.set(ZERODHA_GTTS, leg["leg_id"], {**leg, "attempted_at": now.isoformat()})
            return True

        return self._store.transaction(claim)

    def _set_legs(self, doc: Document, fields: Document, expect: str | None = None) -> bool:
        """Change both legs together (a half-written pair could be placed twice); False if not ``expect``."""

        def write(tx: Transaction) -> bool:
            legs = [tx.get(ZERODHA_GTTS, leg_id) or {} for leg_id in doc["legs"]]
            if expect is not None and any(leg.get("state") != expect for leg in legs):
                return False
            for leg in legs:
                tx.set(ZERODHA_GTTS, leg["leg_id"], {**leg, **fields})
            return True

        return self._store.transaction(write)

    def _current(self, kite: KiteConnect, doc: Document, gtts: dict[int, dict[str, Any]]) -> OrderUpdate:
        """The leg as Kite has it now: its GTT's state, then the order the GTT placed."""
        leg_id, trigger_id, state = doc["leg_id"], doc["trigger_id"], doc["state"]
        if state == "placing":
            return OrderUpdate(client_order_id=leg_id, status="submitted")
        if state in ("rejected", "cancelled"):
            return OrderUpdate(client_order_id=leg_id, broker_order_id=_gtt_ref(trigger_id), status=state,
                               reason=doc["reason"])
        if trigger_id not in gtts:
            gtts[trigger_id] = kite.get_gtt(trigger_id)
        gtt = gtts[trigger_id]
        status = gtt.get("status")
        if status in _ENDED:
            return OrderUpdate(client_order_id=leg_id, broker_order_id=_gtt_ref(trigger_id), status=_ENDED[status],
                               reason=f"GTT {trigger_id} {status}")
        fired = next((i for i, leg in enumerate(gtt.get("orders") or []) if leg.get("result")), None)
        if status != "triggered" or fired is None:
            return OrderUpdate(client_order_id=leg_id, broker_order_id=_gtt_ref(trigger_id), status="working")
        if fired != doc["index"]:
            return OrderUpdate(client_order_id=leg_id, broker_order_id=_gtt_ref(trigger_id), status="cancelled",
                               reason=f"the other leg of GTT {trigger_id} triggered")
        result = gtt["orders"][fired]["result"].get("order_result") or {}
        if not result.get("order_id"):
            return OrderUpdate(client_order_id=leg_id, broker_order_id=_gtt_ref(trigger_id), status="rejected",
                               reason=result.get("rejection_reason") or f"GTT {trigger_id} triggered, no order placed")
        latest = kite.order_history(result["order_id"])[-1]
        trades = kite.order_trades(result["order_id"]) if float(latest.get("filled_quantity") or 0) > 0 else []
        contract = KiteInstrument(**{**doc["contract"], "expiry": doc["contract"]["expiry"]
                                     and date.fromisoformat(doc["contract"]["expiry"])})
        return order_update(Order.model_validate(doc["order"]), latest, trades, contract, self._clock())

    def _record(self, doc: Document, current: OrderUpdate) -> bool:
        """Remember what was reported; True when it differs from the last report."""
        if (current.status, current.filled_quantity) == (doc["status"], doc["filled"]):
            return False
        self._store.update(ZERODHA_GTTS, doc["leg_id"], {"status": current.status, "filled": current.filled_quantity,
                                                         "open": not current.is_final})
        return True


def _create_all(tx: Transaction, docs: list[Document]) -> bool:
    if any(tx.get(ZERODHA_GTTS, doc["leg_id"]) is not None for doc in docs):
        return False
    for doc in docs:
        tx.set(ZERODHA_GTTS, doc["leg_id"], doc)
    return True


def _leg_name(leg: Order) -> str:
    return (ProtectiveLeg.STOP_LOSS if leg.order_type is OrderType.STOP else ProtectiveLeg.TAKE_PROFIT).value


def _level(leg: Order) -> float:
    return float(leg.stop_price if leg.order_type is OrderType.STOP else leg.limit_price or 0)


# A GTT's orders must be LIMIT: the stop leg's limit sits this far beyond its trigger, so a
# price that gaps through the stop still fills (a limit at the trigger itself would rest unfilled).
STOP_LIMIT_BUFFER = 0.01


def _limit_price(leg: Order, tick_size: float) -> float:
    level = _level(leg)
    if leg.order_type is not OrderType.STOP:
        return level
    ticks = level * (1 - STOP_LIMIT_BUFFER if leg.side is Side.SELL else 1 + STOP_LIMIT_BUFFER) / tick_size
    return round((math.floor(ticks) if leg.side is Side.SELL else math.ceil(ticks)) * tick_size, 6)


def _order_shape(order: dict[str, Any]) -> tuple[str, int, float]:
    return str(order.get("transaction_type")), int(order.get("quantity") or 0), round(float(order.get("price") or 0), 4)


def _gtt_ref(trigger_id: int | None) -> str | None:
    return None if trigger_id is None else f"gtt:{trigger_id}"
