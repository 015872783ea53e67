"""The one routing table: every Cloud Function, its signature, the topics that trigger it and
the handler it runs them through.

The embedded stack's in-process bus (``Services.subscribe_pipeline``), the emulated stack
(devstack/emulated.py), each ``functions/<name>/main.py`` and the function packager read it;
tests/infra checks Terraform's functions.tf against it. So a topic's route is written once.

Handlers are named as ``"module:function"`` and imported when first used, not imported here:
every function imports this table, and a handler named in it would otherwise pull its code
into every function's zip (the packager follows names), the dashboard creator's pandas and
scipy into all of them.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from shared.domain.models import Topics

if TYPE_CHECKING:
    from shared.bootstrap import Services
    from shared.ports.bus import Message

# A topic's handler: the services of this process and the delivered message; it validates
# the payload into its model (shared/domain/messages.py). Raising asks for redelivery.
Handler = Callable[["Services", "Message"], None]
# The same for several messages at once (the in-process bus's batches): each one's outcome.
BatchHandler = Callable[["Services", "list[Message]"], "list[Exception | None]"]


class Signature(StrEnum):
    """functions-framework's signature type; ``firestore`` is a CloudEvent function triggered
    by document creations (Eventarc in GCP, devstack's RawSignalForwarder when emulated)."""

    HTTP = "http"
    CLOUDEVENT = "cloudevent"
    FIRESTORE = "firestore"

    @property
    def framework(self) -> str:
        return "cloudevent" if self is Signature.FIRESTORE else self.value


class Stack(StrEnum):
    EMBEDDED = "embedded"  # one process, the in-process bus
    EMULATED = "emulated"  # functions-framework processes on the Pub/Sub and Firestore emulators
    CLOUD = "cloud"  # GCP, as Terraform declares it


EVERYWHERE = frozenset(Stack)


class OnPoison(StrEnum):
    """What a function does with a message it can never handle (undecodable, invalid)."""

    DEAD_LETTER = "dead_letter"  # publish it to its topic's dead letter and ack (pipeline stages)
    DROP = "drop"  # log and ack: derived data, the next scheduled refresh repairs it
    REDELIVER = "redeliver"  # raise: Pub/Sub retries, then its dead-letter policy takes it


@dataclass(frozen=True)
class Subscription:
    topic: str
    # Where it exists. The embedded stack runs no dashboard creator on its bus (its timer
    # refreshes them), and only GCP produces the dead letters of dashboard-refresh and of the
    # bridge's pull subscription, so only there does the notifier subscribe to them.
    stacks: frozenset[Stack] = EVERYWHERE


@dataclass(frozen=True)
class Function:
    name: str
    signature: Signature
    handler: str = ""  # "module:function" (see the module docstring); "" for non-topic functions
    subscriptions: tuple[Subscription, ...] = ()
    on_poison: OnPoison = OnPoison.DEAD_LETTER
    batch_handler: str = ""  # the handler for batches, where the bus delivers them (embedded)

    def topics(self, stack: Stack = Stack.CLOUD) -> tuple[str, ...]:
        return tuple(s.topic for s in self.subscriptions if stack in s.stacks)

    @property
    def handler_module(self) -> str:
        return self.handler.partition(":")[0]

    @property
    def handler_name(self) -> str:
        return self.handler.partition(":")[2]

    def resolve(self) -> Handler:
        return _resolve(self.handler)

    def resolve_batch(self) -> BatchHandler | None:
        return _resolve(self.batch_handler) if self.batch_handler else None


@functools.cache
def _resolve(reference: str) -> Callable[..., Any]:
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


def _on(*topics: str, stacks: frozenset[Stack] = EVERYWHERE) -> tuple[Subscription, ...]:
    return tuple(Subscription(topic, stacks) for topic in topics)


HANDLERS = "shared.entrypoints.handlers"
NOT_EMBEDDED = frozenset({Stack.EMULATED, Stack.CLOUD})

FUNCTIONS: dict[str, Function] = {function.name: function for function in (
    Function("webhook", Signature.HTTP),
    Function("cerebro", Signature.CLOUDEVENT, f"{HANDLERS}:on_signal", _on(Topics.SIGNALS)),
    Function("execution", Signature.CLOUDEVENT, f"{HANDLERS}:on_order", _on(Topics.ORDERS),
             batch_handler=f"{HANDLERS}:on_orders"),
    Function("confirmations", Signature.CLOUDEVENT, f"{HANDLERS}:on_confirmation", _on(Topics.CONFIRMATIONS),
             batch_handler=f"{HANDLERS}:on_confirmations"),
    Function("account_poller", Signature.HTTP),
    Function("strategy_registry", Signature.HTTP),
    Function("raw_signals", Signature.FIRESTORE),
    Function("dashboard_creator", Signature.CLOUDEVENT, f"{HANDLERS}:on_dashboard_event",
             _on(Topics.CONFIRMATIONS, Topics.DASHBOARD_REFRESH, stacks=NOT_EMBEDDED), OnPoison.DROP),
    Function("notifier", Signature.CLOUDEVENT, f"{HANDLERS}:notify", (
        *_on(Topics.CONFIRMATIONS, Topics.NOTIFICATIONS,
             Topics.SIGNALS.dead_letter, Topics.ORDERS.dead_letter, Topics.CONFIRMATIONS.dead_letter),
        # Its own dead letters (notifications-dead-letter) it cannot announce: the archive keeps them.
        *_on(Topics.DASHBOARD_REFRESH.dead_letter, Topics.IBKR_ORDERS.dead_letter, stacks=frozenset({Stack.CLOUD})),
    ), OnPoison.REDELIVER),
)}


def event_functions(stack: Stack) -> list[Function]:
    """The functions some topic triggers on this stack, in the table's order."""
    return [function for function in FUNCTIONS.values() if function.topics(stack)]


def routes(stack: Stack = Stack.CLOUD) -> list[tuple[str, Function]]:
    """Every (topic, function) push subscription ``<topic>-<function>`` on this stack."""
    return [(topic, function) for function in event_functions(stack) for topic in function.topics(stack)]
