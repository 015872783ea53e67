"""The bus messages' handlers: the same code behind the in-process bus and the Cloud Functions.

Each takes this process's services and the delivered message, validates the payload into
its model and hands it to a service. They live here, not on the composition root, so the
services stay unaware of the bus and the root only wires; routing.py names which topics
reach which handler.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from shared.domain.messages import ConfirmationMessage, OrderMessage, SignalMessage
from shared.domain.models import Order

if TYPE_CHECKING:
    from shared.bootstrap import Services
    from shared.ports.bus import Message

log = logging.getLogger(__name__)
T = TypeVar("T")


def on_signal(services: Services, message: Message) -> None:
    """Cerebro: size a standardized signal per account and decide."""
    services.cerebro.handle(SignalMessage.model_validate(message.data).signal)


def on_order(services: Services, message: Message) -> None:
    """Execution: an order to place, or a working order to cancel (both on the orders topic,
    so an exit's cancel and its close travel in the order cerebro published them)."""
    if (outcome := on_orders(services, [message])[0]) is not None:
        raise outcome


def on_orders(services: Services, messages: list[Message]) -> list[Exception | None]:
    """Execution, a batch at a time where the bus delivers batches: the orders are placed
    together, cancels one by one; each message's outcome in order."""

    def order_or_cancel(message: Message) -> Order | None:
        parsed = OrderMessage.model_validate(message.data)
        if parsed.cancel is not None:
            services.execution.handle_cancel(parsed.cancel)
        return parsed.order

    return _together(messages, order_or_cancel, services.execution.handle_orders)


def on_confirmation(services: Services, message: Message) -> None:
    """Confirmations: record fills and move positions."""
    if (outcome := on_confirmations(services, [message])[0]) is not None:
        raise outcome


def on_confirmations(services: Services, messages: list[Message]) -> list[Exception | None]:
    """Confirmations, a batch at a time: recorded in one transaction; each message's outcome."""
    return _together(messages, lambda message: ConfirmationMessage.model_validate(message.data).update,
                     services.confirmations.handle_updates)


def _together(messages: list[Message], take: Callable[[Message], T | None],
              handle: Callable[[list[T]], list[Exception | None]]) -> list[Exception | None]:
    """Each message's outcome in order: ``take`` reads one message on its own (what it raises
    is that message's outcome; None: it handled the message itself), then ``handle`` takes
    every item read, together, and answers each one's outcome."""
    outcomes: dict[int, Exception | None] = {}
    items: dict[int, T] = {}
    for index, message in enumerate(messages):
        try:
            item = take(message)
        except Exception as error:  # noqa: BLE001 - this message's outcome; the others go on
            outcomes[index] = error
            continue
        if item is None:
            outcomes[index] = None
        else:
            items[index] = item
    if items:
        outcomes.update(zip(items, handle(list(items.values())), strict=True))
    return [outcomes[index] for index in range(len(messages))]


def notify(services: Services, message: Message) -> None:
    """The notifier reads every topic it is subscribed to (updates, notifications, dead letters),
    and ignores what it has no text for, so it takes the payload as it came: validating it into
    one model would turn an unknown kind from ignored into failed."""
    services.notifier.handle(message.message_id, message.data)


def on_dashboard_event(services: Services, message: Message) -> None:
    """The dashboard creator: an order update refreshes what it touched, a refresh tick rebuilds
    everything (it drops an invalid update itself: derived data, the next refresh repairs it)."""
    services.dashboards.handle(message.data)
