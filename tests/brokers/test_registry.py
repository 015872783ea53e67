"""The broker registry: the known brokers, what each declares, and how bootstrap builds them."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest
from pydantic import BaseModel, ValidationError

from devstack.processes import REPO_ROOT
from shared.adapters.brokers import (
    BrokerContext,
    KnownBroker,
    UnknownBroker,
    bridge_topics,
    broker_entry,
    build_local_brokers,
    known_brokers,
)
from shared.adapters.brokers.mock import MockBroker
from shared.adapters.brokers.zerodha import ZerodhaSessionExpired
from shared.adapters.store_sqlite import SqliteStore
from shared.bootstrap import build_brokers
from shared.config import Settings
from shared.domain.models import Topics
from shared.ports.broker import BrokerCapabilities, BrokerError, BrokerSessionExpired
from tests.conftest import FakeClock


def test_the_registry_knows_the_three_brokers_and_routes_ibkr_to_its_bridge():
    assert known_brokers() == ("mock", "zerodha", "ibkr")
    assert bridge_topics() == {"ibkr": Topics.IBKR_ORDERS}
    assert broker_entry("ibkr").remote and not broker_entry("zerodha").remote


def test_an_unknown_broker_is_refused_with_the_known_ones_named():
    with pytest.raises(UnknownBroker, match="no broker 'saxo': the known brokers are mock, zerodha, ibkr"):
        broker_entry("saxo")

    class Body(BaseModel):
        brokers: list[KnownBroker]

    assert Body(brokers=["zerodha"]).brokers == ["zerodha"]
    with pytest.raises(ValidationError, match="no broker 'saxo'"):
        Body(brokers=["saxo"])


def test_without_zerodha_accounts_only_the_mock_is_built(tmp_path):
    store = SqliteStore(str(tmp_path / "s.sqlite"))
    brokers = build_local_brokers(BrokerContext(store, Settings(), FakeClock()))
    assert list(brokers) == ["mock"] and isinstance(brokers["mock"], MockBroker)


def test_a_paper_run_sends_every_broker_to_the_mock(tmp_path):
    store = SqliteStore(str(tmp_path / "s.sqlite"))
    brokers = build_brokers(replace(Settings(), use_mock_broker=True), store, FakeClock())
    assert set(brokers) == set(known_brokers()) and len({id(b) for b in brokers.values()}) == 1


def test_each_broker_declares_its_capabilities():
    from shared.adapters.brokers.ibkr import IbkrBroker
    from shared.adapters.brokers.zerodha import ZerodhaBroker

    for broker in (MockBroker, ZerodhaBroker, IbkrBroker):
        assert isinstance(broker.capabilities, BrokerCapabilities) and broker.capabilities.brackets
    assert not MockBroker.capabilities.partial_fills and IbkrBroker.capabilities.partial_fills


def test_an_expired_zerodha_session_is_the_ports_session_expired():
    error = ZerodhaSessionExpired("ZD-1")
    assert isinstance(error, BrokerSessionExpired) and isinstance(error, BrokerError) and not error.retryable


def test_a_fund_without_zerodha_accounts_never_imports_kiteconnect(tmp_path):
    """The registry asks whether a broker is configured before loading its factory (and SDK)."""
    code = ("import sys; from shared.adapters.brokers import BrokerContext, build_local_brokers; "
            "from shared.adapters.store_sqlite import SqliteStore; from shared.config import Settings; "
            f"build_local_brokers(BrokerContext(SqliteStore({str(tmp_path / 's.sqlite')!r}), Settings(), None)); "
            "print(sorted(m for m in ('kiteconnect', 'ib_async') if m in sys.modules))")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           cwd=REPO_ROOT).stdout.strip()
    assert found == "[]"
