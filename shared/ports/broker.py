"""The Broker port: what execution and the account poller need from a broker."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from shared.domain.models import AccountSnapshot, Instrument, Order, OrderUpdate, Quote


class BrokerError(Exception):
    """The broker refused or failed; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


class BrokerClient(ABC):
    """One broker connection. Subclasses declare what they support."""

    name: ClassVar[str]
    supports_stop_orders: ClassVar[bool] = True
    # Places an entry's stop_loss / take_profit as protective orders at the venue, and
    # cancels the survivor when one of them fills (IB: OCA group; Kite: GTT OCO; Mock: simulated).
    supports_brackets: ClassVar[bool] = False

    @abstractmethod
    def place_order(self, order: Order) -> OrderUpdate:
        """Place the order, carrying ``order.client_order_id`` to the broker."""

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
