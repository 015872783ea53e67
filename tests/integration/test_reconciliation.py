"""Reconciliation after each poll: breaks recorded and alerted once, never silently fixed."""

from __future__ import annotations

from shared.domain.models import Collections, Instrument, Order, Side, Topics
from shared.services.account_poller import RECONCILIATION_BREAKS
from tests.conftest import signal_body


def manual_trade(embedded, side: Side, quantity: float, ref: str) -> None:
    """Someone trades at the broker directly: the broker's books move, ours do not."""
    embedded.mock_broker.place_order(Order(
        client_order_id=ref, signal_id="manual", strategy_id="none", account_id="DEMO-CLIENT-A",
        broker="mock", instrument=Instrument(symbol="AAPL", exchange="NASDAQ"), side=side, quantity=quantity,
        reference_price=190.0))


def test_a_manual_trade_at_the_broker_is_a_break_alerted_once_and_resolved_when_undone(embedded, caplog):
    from devstack.embedded import create_app

    alerts = []
    embedded.bus.subscribe(Topics.NOTIFICATIONS, lambda message: alerts.append(message.data))
    client = create_app(embedded).test_client()
    client.post("/webhook", data=signal_body(ticker="AAPL", exchange="NASDAQ", action="buy", quantity=10, price=190,
                                             signal_id="r1"), content_type="application/json")
    embedded.bus.drain()
    assert embedded.poller.poll_all() == {"DEMO-CLIENT-A": "ok", "DEMO-CLIENT-B": "ok"}
    ours_before = embedded.store.query(Collections.POSITIONS)

    manual_trade(embedded, Side.BUY, 7, "manual-1")
    assert embedded.poller.poll_all()["DEMO-CLIENT-A"] == "ok, 1 reconciliation break(s)"
    embedded.bus.drain()
    assert alerts == []  # one poll could be a fill in flight
    embedded.poller.poll_all()
    embedded.poller.poll_all()
    embedded.bus.drain()
    assert alerts == [{"kind": "reconciliation_break", "account_id": "DEMO-CLIENT-A", "symbol": "NASDAQ:AAPL",
                       "broker_quantity": 47.0, "our_quantity": 40.0}]
    logged = [r.getMessage() for r in caplog.records if "reconciliation break" in r.getMessage()]
    assert logged == ["reconciliation break in DEMO-CLIENT-A on NASDAQ:AAPL: broker 47.0, ours 40.0"]  # alerted on
    (open_break,) = embedded.store.query(RECONCILIATION_BREAKS, where={"open": True})
    assert open_break["polls"] == 3
    assert embedded.store.query(Collections.POSITIONS) == ours_before  # never "fixed"

    manual_trade(embedded, Side.SELL, 7, "manual-2")
    assert embedded.poller.poll_all()["DEMO-CLIENT-A"] == "ok"
    assert embedded.store.query(RECONCILIATION_BREAKS, where={"open": True}) == []
