"""The brokers the fund knows, and how each is built: adding a broker is a new folder beside
these (config, execution, parsing, factory) plus one entry in ``BROKERS``.

An entry loads its factory module only when the broker is built, so naming a broker here does
not import its SDK. A *remote* broker (IBKR) runs where its connection lives, in a bridge
process; elsewhere its orders and cancels are published on its ``bridge_topic``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, WithJsonSchema

from shared.domain.models import BrokerName, Topics
from shared.ports.broker import BrokerClient
from shared.ports.store import Store

if TYPE_CHECKING:
    from shared.config import Settings

BrokerFactory = Callable[["BrokerContext"], BrokerClient | None]


@dataclass(frozen=True)
class BrokerContext:
    """What every factory may build from: the store, the fund's settings and the clock."""

    store: Store
    settings: Settings
    clock: Callable[[], datetime]


@dataclass(frozen=True)
class BrokerEntry:
    name: str
    load: Callable[[], BrokerFactory]  # imports the broker's factory module and returns its build
    bridge_topic: Topics | None = None  # set: remote, built only in its bridge, reached over this topic
    # Asked before ``load``, so a fund that configures no account here never imports its SDK.
    configured: Callable[[Settings], bool] = lambda settings: True

    @property
    def remote(self) -> bool:
        return self.bridge_topic is not None


class UnknownBroker(ValueError):
    """An account or setting names a broker no factory builds."""


def _mock() -> BrokerFactory:
    from .mock import factory

    return factory.build


def _zerodha() -> BrokerFactory:
    from .zerodha import factory

    return factory.build


def _zerodha_configured(settings: Settings) -> bool:
    return bool(settings.zerodha_accounts)


def _ibkr() -> BrokerFactory:
    # Imported by name, not statement: only the gateway VM's bridge builds it (with the whole
    # repository installed), and a visible import would put ib_async into every Cloud Function's
    # requirements (devstack/package_functions.py derives them from the import statements).
    return import_module(f"{__package__}.ibkr.factory").build


BROKERS: dict[str, BrokerEntry] = {
    entry.name: entry for entry in (
        BrokerEntry("mock", _mock),
        BrokerEntry("zerodha", _zerodha, configured=_zerodha_configured),
        BrokerEntry("ibkr", _ibkr, bridge_topic=Topics.IBKR_ORDERS),
    )
}


def known_brokers() -> tuple[str, ...]:
    return tuple(BROKERS)


def broker_entry(name: str) -> BrokerEntry:
    """The entry for ``name``, or UnknownBroker naming the brokers that exist."""
    try:
        return BROKERS[name]
    except KeyError:
        raise UnknownBroker(f"no broker {name!r}: the known brokers are {', '.join(BROKERS)}") from None


def build_broker(name: str, context: BrokerContext) -> BrokerClient | None:
    """Build one broker; None when its settings configure no account for it."""
    return broker_entry(name).load()(context)


def build_local_brokers(context: BrokerContext) -> dict[str, BrokerClient]:
    """Every configured broker this process talks to directly (remote ones live in their bridge)."""
    built = {name: build_broker(name, context) for name, entry in BROKERS.items()
             if not entry.remote and entry.configured(context.settings)}
    return {name: broker for name, broker in built.items() if broker is not None}


def bridge_topics() -> dict[str, str]:
    """Remote broker -> the topic its bridge takes orders and cancels from."""
    return {name: entry.bridge_topic for name, entry in BROKERS.items() if entry.bridge_topic is not None}


def require_known(name: str) -> str:
    """A pydantic validator: the name of a broker the registry can build (UnknownBroker otherwise)."""
    broker_entry(name)
    return name


# A broker name in a request: the domain's open BrokerName, checked against the registry (and
# documented as the list of known brokers, as the API's schema listed them before).
KnownBroker = Annotated[BrokerName, AfterValidator(require_known),
                        WithJsonSchema({"enum": list(BROKERS), "title": "Broker", "type": "string"})]
