"""IBKR orders exactly once per client order id, through one ib_async connection.

IB's ``orderRef`` carries our client order id. Before placing, the trades and the
executions this connection knows (after a reconnect, ib_async re-reads open orders and
executions) are searched for it: an order IB already has is never placed again. An
order IB does not acknowledge in time is a retryable error; the retry looks it up first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from ib_async import IB, Trade

from shared.domain.models import AccountSnapshot, Instrument, Order, OrderType, OrderUpdate, Quote
from shared.ports.broker import BrokerClient, BrokerError
from shared.ports.store import Store

from .connection import IbkrConnection
from .parsing import account_snapshot, order_update, position_key, to_contract, to_ib_order

OPEN_ORDERS = "ibkr_orders"  # every order we sent, by client order id (for lookups and take_updates)
CONTRACTS = "ibkr_contracts"  # conId -> the instrument key we traded it as (for reconciliation)
_VALUE_TAGS = ("NetLiquidation", "TotalCashValue", "MaintMarginReq", "AvailableFunds", "GrossPositionValue")


class IbkrBroker(BrokerClient):
    name = "ibkr"
    supports_stop_orders: ClassVar[bool] = True

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

        async def snapshot(ib: IB) -> AccountSnapshot:
            if account_id not in ib.managedAccounts():
                raise BrokerError(f"IB Gateway does not manage account {account_id}")
            values = {v.tag: float(v.value) for v in ib.accountValues(account_id)
                      if v.tag in _VALUE_TAGS and v.currency in ("USD", "BASE") and v.value}
            positions: dict[str, float] = {}
            for position in ib.positions(account_id):
                key = position_key(position.contract, known)
                positions[key] = positions.get(key, 0.0) + float(position.position)
            return account_snapshot(values, {k: q for k, q in positions.items() if q}, self._clock())

        return self._connection.run(snapshot, 30)

    def quote(self, instrument: Instrument) -> Quote | None:
        return None  # market data needs IB subscriptions

    def take_updates(self) -> list[OrderUpdate]:
        """Orders still open when placed (resting, partly filled, unacknowledged) that changed since."""
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
        self._remember(order, OrderUpdate(client_order_id=order.client_order_id, status="submitted"))
        trade = ib.placeOrder(contract, to_ib_order(order))
        if not await _until(lambda: trade.orderStatus.status not in ("PendingSubmit", "ApiPending")
                            or trade.isDone(), self._config.answer_timeout_seconds):
            raise BrokerError(f"IB Gateway did not acknowledge {order.client_order_id}", retryable=True)
        if order.order_type is OrderType.MARKET:
            await _until(lambda: trade.isDone(), self._config.fill_wait_seconds)
        await _until(lambda: all(f.commissionReport.execId for f in trade.fills), 2.0)
        update = order_update(order, trade, trade.fills)
        self._remember(order, update)
        return update

    async def _lookup(self, ib: IB, order: Order) -> OrderUpdate | None:
        trade = _trade(ib, order.client_order_id)
        fills = [f for f in ib.fills() if f.execution.orderRef == order.client_order_id]
        if trade is None and not fills:
            return None
        return order_update(order, trade, trade.fills if trade and trade.fills else fills)

    def _remember(self, order: Order, update: OrderUpdate) -> None:
        self._store.put(OPEN_ORDERS, order.client_order_id, {
            "client_order_id": order.client_order_id, "account_id": order.account_id,
            "order": order.model_dump(mode="json"), "status": update.status, "filled": update.filled_quantity,
            "open": not update.is_final})


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
