"""The Broker port: what execution and the account poller need from a broker."""

from __future__ import annotations

from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar

from shared.domain.models import AccountSnapshot, Instrument, Order, OrderUpdate, Quote


class BrokerError(Exception):
    """The broker refused or failed; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


class BrokerSessionExpired(BrokerError):
    """The broker's login expired (Kite's daily token): only a human logging in again helps,
    so the account poller alerts on it instead of retrying."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


@dataclass(frozen=True)
class BrokerCapabilities:
    """What a broker does at the venue, declared once per BrokerClient subclass so callers ask
    the broker instead of branching on its name."""

    # Places an entry's stop_loss / take_profit as protective orders at the venue, and
    # cancels the survivor when one of them fills.
    brackets: bool = False
    oco_or_gtt: bool = False  # how: IB's OCA group, Kite's GTT OCO, the Mock's simulated OCA group
    partial_fills: bool = False  # may report an order partially filled
    market_data: bool = False  # quote() can answer with the venue's price
    cancel: bool = True  # cancel_order() withdraws a working order
    stop_orders: bool = True  # accepts stop (stop-market) orders
    # How many accounts' orders may be placed at the same time: each account is its own
    # session at the venue, so a bar close's fan-out waits for the slowest account, not the sum.
    concurrent_accounts: int = 1


class BrokerClient(ABC):
    """One broker connection. Subclasses declare what they support in ``capabilities``."""

    name: ClassVar[str]
    capabilities: ClassVar[BrokerCapabilities] = BrokerCapabilities()

    @abstractmethod
    def place_order(self, order: Order) -> OrderUpdate:
        """Place the order, carrying ``order.client_order_id`` to the broker."""

    def place_orders(self, orders: list[Order]) -> list[OrderUpdate | Exception]:
        """Place several orders (a bar close's fan-out); each one's answer in order, or the
        exception its placement raised. Each account's orders go one after another; up to
        ``capabilities.concurrent_accounts`` accounts at once. A broker that can do better (one
        transaction, one request) overrides it."""
        by_account: dict[str, list[int]] = {}
        for index, order in enumerate(orders):
            by_account.setdefault(order.account_id, []).append(index)
        answers: dict[int, OrderUpdate | Exception] = {}

        def place(indexes: list[int]) -> None:
            for index in indexes:
                try:
                    answers[index] = self.place_order(orders[index])
                except Exception as error:  # noqa: BLE001 - answered per order, as place_order raises it
                    answers[index] = error

        workers = min(self.capabilities.concurrent_accounts, len(by_account))
        if workers <= 1:
            for indexes in by_account.values():
                place(indexes)
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{self.name}-orders") as pool:
                list(pool.map(place, by_account.values()))
        return [answers[index] for index in range(len(orders))]

    @abstractmethod
    def find_order(self, account_id: str, client_order_id: str) -> OrderUpdate | None:
        """Look an order up by our client order id; None if the broker never saw it."""

    @abstractmethod
    def cancel_order(self, account_id: str, client_order_id: str) -> OrderUpdate: ...

    @abstractmethod
    def account_snapshot(self, account_id: str) -> AccountSnapshot: ...

    @abstractmethod
    def quote(self, instrument: Instrument) -> Quote | None:
        """The broker's reference price for sizing; None when it has none."""

    def fx_rate(self, base: str, quote: str) -> Quote | None:
        """The price of one ``base`` in ``quote`` (EUR, USD -> 1.08); None when unknown."""
        return None

    def take_updates(self) -> list[OrderUpdate]:
        """Order updates that happened since the last call (e.g. resting orders filled)."""
        return []
