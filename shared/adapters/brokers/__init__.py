"""Every broker adapter, one package each in the same file set (config, execution, parsing,
factory), and the registry that knows them and builds them."""

from .registry import (
    BROKERS,
    BrokerContext,
    BrokerEntry,
    KnownBroker,
    UnknownBroker,
    bridge_topics,
    broker_entry,
    build_broker,
    build_local_brokers,
    known_brokers,
    require_known,
)

__all__ = ["BROKERS", "BrokerContext", "BrokerEntry", "KnownBroker", "UnknownBroker", "bridge_topics", "broker_entry",
           "build_broker", "build_local_brokers", "known_brokers", "require_known"]
