"""One book (strategy and instrument) is decided in arrival order, each signal against what
the one before it filled: an exit right behind its entry closes it, whatever the timing."""

from __future__ import annotations

from devstack.embedded import create_app
from shared.bootstrap import Services
from shared.domain.models import Collections
from tests.conftest import signal_body


def positions(services: Services) -> dict[str, float]:
    return {p["account_id"]: p["quantity"] for p in services.store.query(
        Collections.POSITIONS, where={"strategy_id": "momentum_us", "instrument_key": "NASDAQ:AAPL"})}


def send(client, **fields: object) -> str:
    answer = client.post("/webhook", data=signal_body(**fields), content_type="application/json")
    assert answer.status_code == 202, answer.get_json()
    return answer.get_json()["signal_id"]


def test_an_exit_right_behind_its_entry_closes_what_the_entry_opened(embedded: Services):
    client = create_app(embedded).test_client()
    for round_ in range(3):  # both alerts queued before either is decided
        send(client, ticker="AAPL", action="buy", quantity=10, price=190, signal_id=f"in-{round_}")
        send(client, ticker="AAPL", action="exit", price=190, signal_id=f"out-{round_}")
        assert embedded.bus.drain(timeout=30)
        assert set(positions(embedded).values()) == {0}
        assert embedded.mock_broker.account_snapshot("DEMO-CLIENT-A").positions == {}
    assert embedded.store.query(Collections.OPEN_SIGNALS) == []


def test_an_exit_behind_a_resting_entry_cancels_it_or_closes_what_it_filled(embedded: Services):
    client = create_app(embedded).test_client()
    entry = send(client, ticker="AAPL", action="buy", quantity=10, order_type="limit", limit_price=185, price=190,
                 signal_id="rest")
    send(client, ticker="AAPL", action="exit", signal_id="out")
    assert embedded.bus.drain(timeout=30)
    statuses = {o["status"] for o in embedded.store.query(Collections.ORDERS, where={"signal_id": entry})}
    assert statuses == {"cancelled"}
    embedded.mock_broker.mark_price("NASDAQ:AAPL", 180.0)  # the old limit price is crossed: nothing fills
    embedded.execution.publish_broker_updates()
    assert embedded.bus.drain(timeout=30)
    assert set(positions(embedded).values()) <= {0}
    assert embedded.mock_broker.account_snapshot("DEMO-CLIENT-A").positions == {}


def test_a_sell_behind_a_buy_of_the_same_book_sees_the_buy_filled(embedded: Services):
    client = create_app(embedded).test_client()
    send(client, ticker="AAPL", action="buy", quantity=10, price=190, signal_id="b")
    send(client, ticker="AAPL", action="sell", quantity=5, price=190, signal_id="s")
    assert embedded.bus.drain(timeout=30)
    # A: 1,000,000 x 0.4 / 100,000 = 4x -> buy 40, sell 20; B: 1.5x -> 15, 7.
    assert positions(embedded) == {"DEMO-CLIENT-A": 20, "DEMO-CLIENT-B": 8}
