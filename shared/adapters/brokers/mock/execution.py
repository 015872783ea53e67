"""Mock broker for paper runs: a paper market with its own marks, books kept in the store.

The price model is documented and simple: each listed instrument has a mark that stays
where it is until the paper market's feed moves it (``mark_price``: the admin's
``POST /api/admin/mock/marks``, or a test). Orders fill at the mark (market orders with
``slippage_bps`` against them), never at a price an alert claims, and an alert never
moves a mark. FX rates are the marks of the listed forex pairs, plus a table of rates
for pairs it does not list (``set_fx_rate``).

Keeping its state in the store makes it behave the same inside a stateless Cloud
Function as in the embedded process, and survive restarts. Like a real venue it knows
each order by our client order id, so a second placement of the same id returns the
first order instead of trading again. Protective orders (an entry's stop loss and take
profit) rest as one OCA group once the entry fills: when one fills the other is cancelled.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from shared.domain.instruments import InstrumentSpec
from shared.domain.models import (
    AccountSnapshot,
    AssetClass,
    Fill,
    Instrument,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PositionLot,
    Quote,
    Side,
)
from shared.domain.positions import apply_fill
from shared.domain.protection import protective_orders
from shared.ports.broker import BrokerCapabilities, BrokerClient, BrokerError
from shared.ports.store import Store, Transaction, write_behind

from .config import MockBrokerConfig
from .parsing import ACCOUNTS, FX_RATES, ORDERS, OUTBOX, PRICES, doc_id, fx


def _prefetched(tx: Transaction, keys: list[tuple[str, str]]) -> Callable[[str, str], dict | None]:
    """``tx.get``, with these documents read up front in one round trip."""
    read = dict(zip(keys, tx.get_all(keys), strict=True))

    def get(collection: str, doc_id: str) -> dict | None:
        key = (collection, doc_id)
        return read[key] if key in read else tx.get(collection, doc_id)

    return get


def _utcnow() -> datetime:
    return datetime.now(UTC)


class MockBroker(BrokerClient):
    name = "mock"
    # Fills whole at the mark; protective legs rest as a simulated OCA group.
    capabilities: ClassVar[BrokerCapabilities] = BrokerCapabilities(
        brackets=True, oco_or_gtt=True, partial_fills=False, market_data=True, cancel=True, stop_orders=True)

    def __init__(self, store: Store, config: MockBrokerConfig | None = None,
                 clock: Callable[[], datetime] = _utcnow):
        self._store = store
        self._config = config or MockBrokerConfig()
        self._clock = clock

    # --- set-up -----------------------------------------------------------------
    def open_account(self, account_id: str, cash: float, currency: str = "USD") -> None:
        self._store.create(ACCOUNTS, account_id, {"account_id": account_id, "cash": cash, "currency": currency,
                                                  "lots": {}})

    def list_instrument(self, spec: InstrumentSpec, price: float) -> None:
        """Make an instrument tradable at a starting mark."""
        self._store.put(PRICES, doc_id(spec.key), {"key": spec.key, "price": price,
                                                    "as_of": self._clock().isoformat(), "spec": spec.document()})

    def set_fx_rate(self, pair: str, rate: float) -> None:
        """A rate for a pair the paper market does not list as an instrument (e.g. USDINR)."""
        self._store.put(FX_RATES, pair, {"pair": pair, "rate": rate})

    def instrument_specs(self) -> list[InstrumentSpec]:
        """The listings, as the instrument master imports them."""
        return [InstrumentSpec.model_validate(doc["spec"]) for doc in self._store.query(PRICES)]

    # --- BrokerClient -----------------------------------------------------------
    def place_order(self, order: Order) -> OrderUpdate:
        return self._store.transaction(write_behind(lambda tx: self._place(tx, order)))

    def place_orders(self, orders: list[Order]) -> list[OrderUpdate | Exception]:
        """All in one transaction, as a venue takes a basket: a bar close's fan-out costs one
        commit, not one per order."""
        return self._store.transaction(write_behind(lambda tx: [self._place(tx, order) for order in orders]))

    def _place(self, tx: Transaction, order: Order) -> OrderUpdate:
        order_key = f"{order.account_id}:{order.client_order_id}"
        existing, account, listing = tx.get_all(
            [(ORDERS, order_key), (ACCOUNTS, order.account_id), (PRICES, doc_id(order.instrument.key))])
        if existing is not None:
            return OrderUpdate.model_validate(existing["update"])
        if account is None:
            return self._record(tx, order, order_key, "rejected", f"unknown account {order.account_id}")
        if listing is None:
            return self._record(tx, order, order_key, "rejected", f"unknown symbol {order.instrument.key}")
        fill_price = self._fill_price(order, listing["price"])
        if fill_price is None:
            return self._record(tx, order, order_key, "working", "waiting for price")
        return self._fill(tx, order, order_key, account, fill_price, listing["price"])[0]

    def find_order(self, account_id: str, client_order_id: str) -> OrderUpdate | None:
        record = self._store.get(ORDERS, f"{account_id}:{client_order_id}")
        return OrderUpdate.model_validate(record["update"]) if record else None

    def cancel_order(self, account_id: str, client_order_id: str) -> OrderUpdate:
        order_key = f"{account_id}:{client_order_id}"

        def cancel(tx: Transaction) -> OrderUpdate:
            record = tx.get(ORDERS, order_key)
            if record is None:
                raise BrokerError(f"no order {client_order_id} in account {account_id}")
            update = OrderUpdate.model_validate(record["update"])
            if update.status != OrderStatus.WORKING:
                return update  # filled, rejected or already cancelled: nothing to do
            cancelled = update.model_copy(update={"status": OrderStatus.CANCELLED, "reason": "cancelled by request"})
            self._save(tx, Order.model_validate(record["order"]), order_key, cancelled)
            return cancelled

        return self._store.transaction(cancel)

    def account_snapshot(self, account_id: str) -> AccountSnapshot:
        account = self._store.get(ACCOUNTS, account_id)
        if account is None:
            raise BrokerError(f"unknown account {account_id}")
        return self._snapshot(account, self._store.get)

    def quote(self, instrument: Instrument) -> Quote | None:
        """The mark is the paper market's live price until the feed moves it."""
        listing = self._store.get(PRICES, doc_id(instrument.key))
        return Quote(price=listing["price"], as_of=self._clock(), source="mock mark") if listing else None

    def fx_rate(self, base: str, quote: str) -> Quote | None:
        rate = fx(self._store.get, base, quote)
        return Quote(price=rate, as_of=self._clock(), source="mock fx") if rate is not None else None

    # --- the paper market's feed ---------------------------------------------------
    def mark_price(self, instrument_key: str, price: float) -> list[OrderUpdate]:
        """Move a mark; the working orders it triggers fill (protective siblings cancel).

        Their updates are also queued for ``take_updates``, since whoever placed those
        orders is no longer waiting for an answer.
        """
        if not price > 0:
            raise BrokerError(f"a mark must be a positive price, not {price}")
        working = self._store.query(ORDERS, where={"instrument_key": instrument_key, "status": OrderStatus.WORKING})

        def mark(tx: Transaction) -> list[OrderUpdate]:
            listing = tx.get(PRICES, doc_id(instrument_key))
            if listing is None:
                raise BrokerError(f"unknown symbol {instrument_key}")
            records = [tx.get(ORDERS, r["order_key"]) for r in working]
            accounts = {r["order"]["account_id"]: tx.get(ACCOUNTS, r["order"]["account_id"]) for r in records if r}
            tx.set(PRICES, doc_id(instrument_key), {**listing, "price": price, "as_of": self._clock().isoformat()})
            updates: list[OrderUpdate] = []
            done: set[str] = set()
            for record in records:
                if record is None or record["status"] != OrderStatus.WORKING or record["order_key"] in done:
                    continue
                order = Order.model_validate(record["order"])
                fill_price = self._fill_price(order, price)
                if fill_price is None:
                    continue
                update, accounts[order.account_id] = self._fill(
                    tx, order, record["order_key"], accounts[order.account_id], fill_price, price)
                updates.append(update)
                for sibling in (r for r in records if r and r.get("oca_group") and r["order_key"] != record[
                        "order_key"] and r["oca_group"] == record.get("oca_group")
                        and r["status"] == OrderStatus.WORKING):
                    cancelled = OrderUpdate.model_validate(sibling["update"]).model_copy(
                        update={"status": OrderStatus.CANCELLED, "reason": "its protective sibling filled (OCA)"})
                    self._save(tx, Order.model_validate(sibling["order"]), sibling["order_key"], cancelled)
                    done.add(sibling["order_key"])
                    updates.append(cancelled)
            for update in updates:
                tx.set(OUTBOX, f"{update.broker_order_id}:{update.status}", update.model_dump(mode="json"))
            return updates

        return self._store.transaction(mark)

    def take_updates(self) -> list[OrderUpdate]:
        updates = []
        for doc in self._store.query(OUTBOX):
            update = OrderUpdate.model_validate(doc)
            self._store.delete(OUTBOX, f"{update.broker_order_id}:{update.status}")
            updates.append(update)
        return updates

    # --- internals -----------------------------------------------------------------

    def _fill_price(self, order: Order, mark: float) -> float | None:
        slip = mark * self._config.slippage_bps / 10_000 * order.side.sign
        buy = order.side is Side.BUY
        if order.order_type is OrderType.MARKET:
            return mark + slip
        if order.order_type is OrderType.LIMIT:
            assert order.limit_price is not None
            marketable = mark <= order.limit_price if buy else mark >= order.limit_price
            return (min if buy else max)(mark, order.limit_price) if marketable else None
        assert order.stop_price is not None
        triggered = mark >= order.stop_price if buy else mark <= order.stop_price
        return mark + slip if triggered else None

    def _fill(self, tx: Transaction, order: Order, order_key: str, account: dict[str, Any],
              price: float, mark: float) -> tuple[OrderUpdate, dict[str, Any]]:
        """Book a fill, in the account's currency; returns the update and the account as it now stands."""
        instrument = order.instrument
        # The marks of the account's other lots, for its margin check, in one read.
        read = _prefetched(tx, [(PRICES, doc_id(key)) for key, lot in account["lots"].items()
                                if lot["quantity"] and key != instrument.key])
        to_base = fx(read, instrument.currency, account.get("currency", "USD"))
        if to_base is None:
            reason = f"no {instrument.currency}/{account.get('currency', 'USD')} rate to book this trade"
            return self._record(tx, order, order_key, "rejected", reason), account
        signed = order.quantity * order.side.sign
        commission = max(self._config.min_commission, self._config.commission_per_unit * order.quantity)
        lots = dict(account["lots"])
        before = PositionLot.from_document(lots.get(instrument.key))
        after = apply_fill(before, signed, price, instrument.multiplier)
        cash = account["cash"] - commission
        if instrument.asset_class is AssetClass.FUTURE:
            cash += (after.realized_pnl - before.realized_pnl) * to_base  # futures settle only P&L
        else:
            cash -= signed * price * instrument.multiplier * to_base
        lots[instrument.key] = {**after.model_dump(), "mark": mark, "instrument": instrument.model_dump(mode="json")}
        new_account = {**account, "cash": cash, "lots": lots}
        snapshot = self._snapshot(new_account, read, {instrument.key: mark})
        if abs(after.quantity) > abs(before.quantity) and snapshot.margin_available < 0:
            reason = f"insufficient margin: needs {snapshot.margin_used:,.2f}, equity {snapshot.equity:,.2f}"
            return self._record(tx, order, order_key, "rejected", reason), account
        tx.set(ACCOUNTS, order.account_id, new_account)
        fill = Fill(
            exec_id=f"{order_key}:1", client_order_id=order.client_order_id, signal_id=order.signal_id,
            strategy_id=order.strategy_id, account_id=order.account_id, broker=self.name,
            instrument=instrument, side=order.side, quantity=order.quantity, price=price,
            commission=commission, filled_at=self._clock(),
        )
        update = OrderUpdate(client_order_id=order.client_order_id, broker_order_id=order_key, status="filled",
                             filled_quantity=order.quantity, fills=[fill])
        self._save(tx, order, order_key, update)
        for leg in protective_orders(order, order.quantity):
            self._rest_protective(tx, leg, f"oca-{order.client_order_id}")
        return update, new_account

    def _rest_protective(self, tx: Transaction, leg: Order, oca_group: str) -> None:
        leg_key = f"{leg.account_id}:{leg.client_order_id}"
        if tx.get(ORDERS, leg_key) is None:
            update = OrderUpdate(client_order_id=leg.client_order_id, broker_order_id=leg_key, status="working",
                                 reason="protective order resting")
            self._save(tx, leg, leg_key, update, oca_group)

    def _record(self, tx: Transaction, order: Order, order_key: str, status: str, reason: str) -> OrderUpdate:
        update = OrderUpdate(client_order_id=order.client_order_id, broker_order_id=order_key,
                             status=status, reason=reason)  # type: ignore[arg-type]
        self._save(tx, order, order_key, update)
        return update

    @staticmethod
    def _save(tx: Transaction, order: Order, order_key: str, update: OrderUpdate, oca_group: str = "") -> None:
        tx.set(ORDERS, order_key, {
            "order_key": order_key, "instrument_key": order.instrument.key, "status": update.status,
            "order": order.model_dump(mode="json"), "update": update.model_dump(mode="json"),
            "oca_group": oca_group or (f"oca-{order.parent_order_id}" if order.parent_order_id else ""),
        })

    def _snapshot(self, account: dict[str, Any], read: Callable[[str, str], dict | None],
                  marks: dict[str, float] | None = None) -> AccountSnapshot:
        """Equity, margin and exposure in the account's currency, at the current marks."""
        base = account.get("currency", "USD")
        equity = cash = account["cash"]
        margin_used = gross = 0.0
        positions: dict[str, float] = {}
        for key, lot in account["lots"].items():
            if not lot["quantity"]:
                continue
            instrument = Instrument.model_validate(lot["instrument"])
            listing = read(PRICES, doc_id(key)) if not marks or key not in marks else None
            mark = (marks or {}).get(key) or (listing["price"] if listing else lot.get("mark", lot["avg_price"]))
            to_base = fx(read, instrument.currency, base) or 0.0
            notional = lot["quantity"] * mark * instrument.multiplier * to_base
            if instrument.asset_class is AssetClass.FUTURE:
                equity += lot["quantity"] * (mark - lot["avg_price"]) * instrument.multiplier * to_base
            else:
                equity += notional
            gross += abs(notional)
            margin_used += abs(notional) * self._config.margin_rates.get(instrument.asset_class, 1.0)
            positions[key] = lot["quantity"]
        return AccountSnapshot(
            equity=round(equity, 6), cash=round(cash, 6), margin_used=round(margin_used, 6),
            margin_available=round(equity - margin_used, 6), gross_exposure=round(gross, 6),
            positions=positions, as_of=self._clock(),
        )


