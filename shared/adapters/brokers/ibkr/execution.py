"""IBKR orders exactly once per client order id, through one ib_async connection.

IB's ``orderRef`` carries our client order id. Before placing, the trades and the
executions this connection knows (after a reconnect, ib_async re-reads open orders and
executions) are searched for it: an order IB already has is never placed again. An
order IB does not acknowledge in time is a retryable error; the retry looks it up first.
An entry with a stop-loss or take-profit goes as one IB bracket; its legs are orders of
their own here (recorded, looked up, reported and cancelled by their client order ids).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, ClassVar

from ib_async import IB, Contract, Trade

from shared.domain.instruments import InstrumentSpec
from shared.domain.models import AccountSnapshot, Instrument, Order, OrderType, OrderUpdate, Quote
from shared.domain.schema import Collections
from shared.ports.broker import BrokerCapabilities, BrokerClient, BrokerError
from shared.ports.store import Store

from .connection import IbkrConnection
from .instruments import ibkr_contract, specs_from_contract_details
from .market_data import LAST_FILL_SOURCE, SNAPSHOT_SOURCE, fx_snapshot, last_execution, snapshot
from .parsing import account_snapshot, has_bracket, order_update, position_key, to_bracket, to_contract, to_ib_order

log = logging.getLogger(__name__)
OPEN_ORDERS = Collections.IBKR_ORDERS  # every order we sent, by client order id (for lookups and take_updates)
CONTRACTS = Collections.IBKR_CONTRACTS  # conId -> the instrument key we traded it as (for reconciliation)
_VALUE_TAGS = ("NetLiquidation", "TotalCashValue", "MaintMarginReq", "AvailableFunds", "GrossPositionValue")
_PENDING = ("PendingSubmit", "ApiPending")
_SNAPSHOTS_AT_ONCE = 10  # IB paces requests; a few concurrent snapshots keep a poll short
_CURRENCY = re.compile(r"^[A-Z]{3}$")
# What a price request found: the snapshot's price, and the latest execution IB reported in the contract.
_Priced = tuple[float | None, tuple[float, datetime] | None]


class IbkrBroker(BrokerClient):
    name = "ibkr"
    # Brackets as one OCA group; quotes from market data snapshots.
    capabilities: ClassVar[BrokerCapabilities] = BrokerCapabilities(
        brackets=True, oco_or_gtt=True, partial_fills=True, market_data=True, cancel=True, stop_orders=True)

    def __init__(self, store: Store, connection: IbkrConnection, clock: Callable[[], datetime]):
        self._store = store
        self._connection = connection
        self._clock = clock
        self._config = connection.config
        self._recorded_contracts: set[tuple[int, str]] = set()

    @property
    def connection(self) -> IbkrConnection:
        return self._connection

    # --- BrokerClient -----------------------------------------------------------------
    def place_order(self, order: Order) -> OrderUpdate:
        """Place the order (with its protective legs as one bracket); the entry's update."""
        timeout = self._config.answer_timeout_seconds + self._config.fill_wait_seconds + 15
        return self._connection.run(lambda ib: self._place(ib, order), timeout)

    def find_order(self, account_id: str, client_order_id: str) -> OrderUpdate | None:
        record = self._store.get(OPEN_ORDERS, client_order_id)
        if record is None:
            return None  # recorded before every placement: absent means never sent
        order = Order.model_validate(record["order"])
        return self._connection.run(lambda ib: self._lookup(ib, order), 30)

    def cancel_order(self, account_id: str, client_order_id: str) -> OrderUpdate:
        record = self._store.get(OPEN_ORDERS, client_order_id)
        if record is None:
            raise BrokerError(f"no IBKR order {client_order_id} in account {account_id}")
        order = Order.model_validate(record["order"])

        async def cancel(ib: IB) -> OrderUpdate:
            trade = _trade(ib, client_order_id)
            if trade is not None and not trade.isDone():
                ib.cancelOrder(trade.order)
                await _until(lambda: trade.isDone(), self._config.answer_timeout_seconds)
            return await self._lookup(ib, order) or OrderUpdate(client_order_id=client_order_id, status="cancelled")

        return self._connection.run(cancel, 30)

    def account_snapshot(self, account_id: str) -> AccountSnapshot:
        known = {doc["con_id"]: doc["instrument_key"] for doc in self._store.query(CONTRACTS)}

        async def snapshot_of(ib: IB) -> AccountSnapshot:
            if account_id not in ib.managedAccounts():
                raise BrokerError(f"IB Gateway does not manage account {account_id}")
            values = {v.tag: float(v.value) for v in ib.accountValues(account_id)
                      if v.tag in _VALUE_TAGS and v.currency in ("USD", "BASE") and v.value}
            positions: dict[str, float] = {}
            for position in ib.positions(account_id):
                key = position_key(position.contract, known)
                positions[key] = positions.get(key, 0.0) + float(position.position)
            return account_snapshot(values, {k: q for k, q in positions.items() if q}, self._clock())

        return self._connection.run(snapshot_of, 30)

    def quote(self, instrument: Instrument) -> Quote | None:
        """A market data snapshot; without one (no subscription, no answer) our last fill when
        ``price_fallback_last_fill`` is on, else None."""
        priced = self._connection.run(lambda ib: self._price(ib, to_contract(instrument)), self._price_timeout(1))
        return self._quote_of(priced, instrument.key)

    def fx_rate(self, base: str, quote: str) -> Quote | None:
        """One ``base`` in ``quote`` from an IDEALPRO snapshot (the inverse pair inverted)."""
        if base == quote:
            return Quote(price=1.0, as_of=self._clock(), source="same currency")
        if not (_CURRENCY.match(base) and _CURRENCY.match(quote)):
            return None
        timeout = self._config.answer_timeout_seconds
        price = self._connection.run(lambda ib: fx_snapshot(ib, base, quote, timeout), self._price_timeout(2))
        return Quote(price=price, as_of=self._clock(), source=SNAPSHOT_SOURCE) if price is not None else None

    def take_updates(self) -> list[OrderUpdate]:
        """Orders still open when placed (resting, partly filled, unacknowledged, bracket legs)
        that changed since."""
        updates = []
        for record in self._store.query(OPEN_ORDERS, where={"open": True}):
            try:
                current = self.find_order(record["account_id"], record["client_order_id"])
            except BrokerError:
                continue  # disconnected: the next poll asks again
            if current is not None and (current.status, current.filled_quantity) != (record["status"],
                                                                                     record["filled"]):
                self._remember(Order.model_validate(record["order"]), current)
                updates.append(current)
        return updates

    # --- beyond the port: the bridge's quotes and the instrument importer -------------------
    def quote_specs(self, specs: Sequence[InstrumentSpec]) -> dict[str, Quote | None]:
        """A quote per instrument master record (by key; None without a price), a few snapshots
        at a time: the bridge publishes these for cerebro, which cannot reach IB. A record whose
        IBKR ids name no contract is left out."""
        contracts: dict[str, Contract] = {}
        for spec in specs:
            try:
                contracts[spec.key] = ibkr_contract(spec)
            except (TypeError, ValueError) as error:  # a hand-edited record must not stop the others
                log.warning("no IBKR contract for %s: %s", spec.key, error)
        if not contracts:
            return {}

        async def price_all(ib: IB) -> list[_Priced]:
            gate = asyncio.Semaphore(_SNAPSHOTS_AT_ONCE)

            async def one(contract: Contract) -> _Priced:
                async with gate:
                    return await self._price(ib, contract)

            return await asyncio.gather(*(one(contract) for contract in contracts.values()))

        rounds = math.ceil(len(contracts) / _SNAPSHOTS_AT_ONCE)
        priced = self._connection.run(price_all, self._price_timeout(rounds))
        return {key: self._quote_of(found, key) for key, found in zip(contracts, priced, strict=True)}

    def instrument_specs(self, requests: Sequence[tuple[Contract, Sequence[str]]]) -> list[InstrumentSpec]:
        """Instrument master records from IB's contract details (see ``instruments``); raises
        ContractImportError naming every contract that cannot become one."""
        return self._connection.run(lambda ib: specs_from_contract_details(ib, requests),
                                    self._config.answer_timeout_seconds + 30)

    # --- internals ------------------------------------------------------------------------
    async def _place(self, ib: IB, order: Order) -> OrderUpdate:
        existing = await self._lookup(ib, order)
        if existing is not None:
            return existing
        [contract] = await ib.qualifyContractsAsync(to_contract(order.instrument))
        if contract is None:
            return OrderUpdate(client_order_id=order.client_order_id, status="rejected",
                               reason=f"IBKR has no unique contract for {order.instrument.symbol}")
        if (contract.conId, order.instrument.key) not in self._recorded_contracts:  # once per process
            self._store.put(CONTRACTS, str(contract.conId), {"con_id": str(contract.conId),
                                                             "instrument_key": order.instrument.key})
            self._recorded_contracts.add((contract.conId, order.instrument.key))
        bracket = (to_bracket(order, ib.client.getReqId()) if has_bracket(order)
                   else [(order, to_ib_order(order))])
        for placed, _ in bracket:  # recorded first: a retry after a crash looks them up
            self._remember(placed, OrderUpdate(client_order_id=placed.client_order_id, status="submitted"))
        trades = [ib.placeOrder(contract, ib_order) for _, ib_order in bracket]
        trade = trades[0]
        await _until(lambda: all(t.orderStatus.status not in _PENDING or t.isDone() for t in trades),
                     self._config.answer_timeout_seconds)
        if trade.orderStatus.status in _PENDING and not trade.isDone():
            raise BrokerError(f"IB Gateway did not acknowledge {order.client_order_id}", retryable=True)
        if order.order_type is OrderType.MARKET:
            await _until(lambda: trade.isDone(), self._config.fill_wait_seconds)
        for (leg, _), leg_trade in zip(bracket[1:], trades[1:], strict=True):
            self._remember(leg, order_update(leg, leg_trade, leg_trade.fills))
        update = await self._lookup(ib, order) or order_update(order, trade, trade.fills)
        self._remember(order, update)
        return update

    async def _lookup(self, ib: IB, order: Order) -> OrderUpdate | None:
        trade = _trade(ib, order.client_order_id)
        fills = [f for f in ib.fills() if f.execution.orderRef == order.client_order_id]
        if trade is None and not fills:
            return None
        fills = trade.fills if trade and trade.fills else fills
        # IB sends an execution's commission just after it: report the two together
        await _until(lambda: all(f.commissionReport.execId for f in fills), 2.0)
        return order_update(order, trade, fills)

    async def _price(self, ib: IB, contract: Contract) -> _Priced:
        if not (contract.conId and contract.exchange):
            [qualified] = await ib.qualifyContractsAsync(contract)
            if qualified is None:
                return None, None
            contract = qualified
        return await snapshot(ib, contract, self._config.answer_timeout_seconds), last_execution(ib, contract.conId)

    def _quote_of(self, priced: _Priced, instrument_key: str) -> Quote | None:
        """The snapshot's price now; else, when allowed, the latest of our fills (this
        connection's executions, or the ones recorded here on earlier days) at its own time."""
        price, execution = priced
        if price is not None:
            return Quote(price=price, as_of=self._clock(), source=SNAPSHOT_SOURCE)
        if not self._config.price_fallback_last_fill:
            return None
        candidates = [execution] if execution else []
        for record in self._store.query(OPEN_ORDERS, where={"instrument_key": instrument_key}):
            if record.get("last_fill"):
                candidates.append((record["last_fill"]["price"], datetime.fromisoformat(record["last_fill"]["at"])))
        if not candidates:
            return None
        fill_price, at = max(candidates, key=lambda candidate: candidate[1])
        return Quote(price=fill_price, as_of=at, source=LAST_FILL_SOURCE)

    def _price_timeout(self, rounds: int) -> float:
        """Qualifying and a snapshot per round, each bounded by the answer timeout, and slack."""
        return 2 * rounds * self._config.answer_timeout_seconds + 15

    def _remember(self, order: Order, update: OrderUpdate) -> None:
        """Merged, so the last fill recorded (the price fallback) outlives updates without fills."""
        record: dict[str, Any] = {
            "client_order_id": order.client_order_id, "account_id": order.account_id,
            "instrument_key": order.instrument.key, "order": order.model_dump(mode="json"),
            "status": update.status, "filled": update.filled_quantity, "open": not update.is_final}
        if update.fills:
            last = max(update.fills, key=lambda fill: fill.filled_at)
            record["last_fill"] = {"price": last.price, "at": last.filled_at.isoformat()}
        self._store.update(OPEN_ORDERS, order.client_order_id, record)


def _trade(ib: IB, client_order_id: str) -> Trade | None:
    return next((t for t in reversed(ib.trades()) if t.order.orderRef == client_order_id), None)


async def _until(condition: Callable[[], bool], seconds: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True
