"""Mock broker for paper runs: fills against reference prices, books kept in the store.

Keeping its state in the store (not in memory) makes it behave the same inside a
stateless Cloud Function as in the embedded process, and survive restarts. Like a
real venue it knows each order by our client order id, so a second placement of
the same id returns the first order instead of trading again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.domain.models import (
    AccountSnapshot,
    AssetClass,
    Broker,
    Fill,
    Instrument,
    Order,
    OrderType,
    OrderUpdate,
    PositionLot,
    Side,
)
from shared.domain.positions import apply_fill
from shared.ports.broker import BrokerClient, BrokerError
from shared.ports.store import Store, Transaction

ACCOUNTS = "mock_broker_accounts"
ORDERS = "mock_broker_orders"
PRICES = "mock_broker_prices"
OUTBOX = "mock_broker_outbox"

DEFAULT_MARGIN_RATES = {
    AssetClass.EQUITY: 0.5,
    AssetClass.FUTURE: 0.1,
    AssetClass.FOREX: 0.05,
    AssetClass.CRYPTO: 1.0,
    AssetClass.OPTION: 1.0,
}


@dataclass(frozen=True)
class MockBrokerConfig:
    slippage_bps: float = 1.0
    commission_per_unit: float = 0.005
    min_commission: float = 1.0
    margin_rates: dict[AssetClass, float] = field(default_factory=lambda: dict(DEFAULT_MARGIN_RATES))


def _utcnow() -> datetime:
    return datetime.now(UTC)


class MockBroker(BrokerClient):
    name = "mock"

    def __init__(self, store: Store, config: MockBrokerConfig | None = None,
                 clock: Callable[[], datetime] = _utcnow):
        self._store = store
        self._config = config or MockBrokerConfig()
        self._clock = clock

    # --- set-up -----------------------------------------------------------------
    def open_account(self, account_id: str, cash: float) -> None:
        self._store.create(ACCOUNTS, account_id, {"account_id": account_id, "cash": cash, "lots": {}})

    def list_instrument(self, instrument: Instrument, price: float) -> None:
        """Make a symbol tradable at a starting price."""
        self._store.put(PRICES, instrument.symbol, {"price": price, "instrument": instrument.model_dump(mode="json")})

    # --- BrokerClient -----------------------------------------------------------
    def place_order(self, order: Order) -> OrderUpdate:
        order_key = f"{order.account_id}:{order.client_order_id}"
        if order.reference_price and self._store.query(
            ORDERS, where={"symbol": order.instrument.symbol, "status": "working"}, limit=1
        ):
            self.mark_price(order.instrument.symbol, order.reference_price)

        def place(tx: Transaction) -> OrderUpdate:
            existing = tx.get(ORDERS, order_key)
            if existing is not None:
                return OrderUpdate.model_validate(existing["update"])
            account = tx.get(ACCOUNTS, order.account_id)
            listing = tx.get(PRICES, order.instrument.symbol)
            if account is None:
                return self._record(tx, order, order_key, "rejected", f"unknown account {order.account_id}")
            if listing is None:
                return self._record(tx, order, order_key, "rejected", f"unknown symbol {order.instrument.symbol}")
            mark = order.reference_price or listing["price"]
            if mark != listing["price"]:
                tx.set(PRICES, order.instrument.symbol, {**listing, "price": mark})
            fill_price = self._fill_price(order, mark)
            if fill_price is None:
                return self._record(tx, order, order_key, "working", "waiting for price")
            return self._fill(tx, order, order_key, account, fill_price, mark)[0]

        return self._store.transaction(place)

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
            if update.status != "working":
                return update  # filled, rejected or already cancelled: nothing to do
            cancelled = update.model_copy(update={"status": "cancelled", "reason": "cancelled by request"})
            self._save(tx, Order.model_validate(record["order"]), order_key, cancelled)
            return cancelled

        return self._store.transaction(cancel)

    def account_snapshot(self, account_id: str) -> AccountSnapshot:
        account = self._store.get(ACCOUNTS, account_id)
        if account is None:
            raise BrokerError(f"unknown account {account_id}")
        marks = {doc["instrument"]["symbol"]: doc["price"] for doc in self._store.query(PRICES)}
        return self._snapshot(account, marks)

    def last_price(self, instrument: Instrument) -> float | None:
        listing = self._store.get(PRICES, instrument.symbol)
        return listing["price"] if listing else None

    # --- price marks and working orders ----------------------------------------------
    def mark_price(self, symbol: str, price: float) -> list[OrderUpdate]:
        """Move a symbol's price; the working orders it triggers fill.

        Their fills are also queued for ``take_updates``, since whoever placed those
        orders is no longer waiting for an answer.
        """
        working = self._store.query(ORDERS, where={"symbol": symbol, "status": "working"})

        def mark(tx: Transaction) -> list[OrderUpdate]:
            listing = tx.get(PRICES, symbol)
            if listing is None:
                raise BrokerError(f"unknown symbol {symbol}")
            records = [tx.get(ORDERS, r["order_key"]) for r in working]
            accounts = {r["order"]["account_id"]: tx.get(ACCOUNTS, r["order"]["account_id"]) for r in records if r}
            tx.set(PRICES, symbol, {**listing, "price": price})
            updates = []
            for record in records:
                if record is None or record["status"] != "working":
                    continue
                order = Order.model_validate(record["order"])
                fill_price = self._fill_price(order, price)
                if fill_price is not None:
                    update, accounts[order.account_id] = self._fill(
                        tx, order, record["order_key"], accounts[order.account_id], fill_price, price
                    )
                    tx.set(OUTBOX, record["order_key"], update.model_dump(mode="json"))
                    updates.append(update)
            return updates

        return self._store.transaction(mark)

    def take_updates(self) -> list[OrderUpdate]:
        updates = []
        for doc in self._store.query(OUTBOX):
            update = OrderUpdate.model_validate(doc)
            self._store.delete(OUTBOX, update.broker_order_id or "")
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
        """Book a fill; returns the update and the account as it now stands."""
        instrument = order.instrument
        signed = order.quantity * order.side.sign
        commission = max(self._config.min_commission, self._config.commission_per_unit * order.quantity)
        lots = dict(account["lots"])
        before = PositionLot.from_document(lots.get(instrument.key))
        after = apply_fill(before, signed, price, instrument.multiplier)
        cash = account["cash"] - commission
        if instrument.asset_class is AssetClass.FUTURE:
            cash += after.realized_pnl - before.realized_pnl  # futures settle only P&L
        else:
            cash -= signed * price * instrument.multiplier
        lots[instrument.key] = {**after.model_dump(), "mark": mark, "instrument": instrument.model_dump(mode="json")}
        new_account = {**account, "cash": cash, "lots": lots}
        snapshot = self._snapshot(new_account, {})
        increases = abs(after.quantity) > abs(before.quantity)
        if increases and snapshot.margin_available < 0:
            reason = f"insufficient margin: needs {snapshot.margin_used:,.2f}, equity {snapshot.equity:,.2f}"
            return self._record(tx, order, order_key, "rejected", reason), account
        tx.set(ACCOUNTS, order.account_id, new_account)
        now = self._clock()
        fill = Fill(
            exec_id=f"{order_key}:1", client_order_id=order.client_order_id, signal_id=order.signal_id,
            strategy_id=order.strategy_id, account_id=order.account_id, broker=Broker.MOCK,
            instrument=instrument, side=order.side, quantity=order.quantity, price=price,
            commission=commission, filled_at=now,
        )
        update = OrderUpdate(client_order_id=order.client_order_id, broker_order_id=order_key, status="filled",
                             filled_quantity=order.quantity, fills=[fill])
        self._save(tx, order, order_key, update)
        return update, new_account

    def _record(self, tx: Transaction, order: Order, order_key: str, status: str, reason: str) -> OrderUpdate:
        update = OrderUpdate(client_order_id=order.client_order_id, broker_order_id=order_key,
                             status=status, reason=reason)  # type: ignore[arg-type]
        self._save(tx, order, order_key, update)
        return update

    @staticmethod
    def _save(tx: Transaction, order: Order, order_key: str, update: OrderUpdate) -> None:
        tx.set(ORDERS, order_key, {
            "order_key": order_key, "symbol": order.instrument.symbol, "status": update.status,
            "order": order.model_dump(mode="json"), "update": update.model_dump(mode="json"),
        })

    def _snapshot(self, account: dict[str, Any], marks: dict[str, float]) -> AccountSnapshot:
        equity = cash = account["cash"]
        margin_used = gross = 0.0
        positions: dict[str, float] = {}
        for key, lot in account["lots"].items():
            if not lot["quantity"]:
                continue
            instrument = Instrument.model_validate(lot["instrument"])
            mark = marks.get(instrument.symbol, lot.get("mark", lot["avg_price"]))
            notional = lot["quantity"] * mark * instrument.multiplier
            if instrument.asset_class is AssetClass.FUTURE:
                equity += lot["quantity"] * (mark - lot["avg_price"]) * instrument.multiplier
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
