"""Absurd sizes never reach a broker, on the embedded stack: the webhook refuses an alert past
the plausibility bounds with a 422 naming the field, cerebro refuses to size past them (exits
and flattens too), and execution refuses any such order just before the broker call.

How orders of over 1e12 shares reached the Mock: every risk cap is a notional (order notional,
position and margin as a share of equity, broker allocation), so at a near-zero reference price
(an admin's Mock mark, a bad quote) each cap's room in shares is near-infinite and an ordinary
alert (a quantity, a size_pct) sized to billions of shares; nothing bounded the share count.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from devstack.embedded import create_app
from shared.adapters.brokers.mock import ORDERS as MOCK_ORDERS
from shared.bootstrap import Services
from shared.demo import DEMO_API_KEYS
from shared.domain.models import (
    Collections,
    Fill,
    Instrument,
    Order,
    OrderUpdate,
    Side,
    SizingKind,
    Topics,
)
from shared.domain.risk import MAX_ORDER_NOTIONAL, MAX_ORDER_UNITS, MAX_PRICE
from tests.conftest import signal_body

ADMIN = {"Authorization": f"Bearer {DEMO_API_KEYS['admin', 'admin']}"}
AAPL = Instrument(symbol="AAPL", exchange="NASDAQ")


@pytest.fixture
def client(embedded: Services):
    return create_app(embedded).test_client()


def journey_log(services: Services) -> str:
    return (services.settings.log_dir / "signal_processing.log").read_text(encoding="utf-8")


def placed_at_the_mock(services: Services) -> list[dict]:
    return services.store.query(MOCK_ORDERS)


def send(client, services: Services, **fields: object):
    answer = client.post("/webhook", data=signal_body(**fields), content_type="application/json")
    services.bus.drain()
    return answer


@pytest.mark.parametrize(("field", "value"), [
    ("target_position", 1e308), ("target_position", -1e10), ("position_size", 2e9), ("quantity", 1e12),
    ("contracts", MAX_ORDER_UNITS * 1.5), ("price", 1e300), ("limit_price", MAX_PRICE * 10), ("stop_loss", 1e200),
    ("take_profit", 1e15), ("multiplier", 1e12),
])
def test_the_webhook_refuses_an_absurd_number_naming_the_field(client, embedded, field, value):
    fields = {"ticker": "AAPL", "action": "buy", field: value}
    if field not in ("target_position", "position_size", "quantity", "contracts"):
        fields["quantity"] = 1
    if field == "limit_price":
        fields["order_type"] = "limit"
    answer = send(client, embedded, **fields)
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["field"] == field
    assert embedded.store.query(Collections.SIGNALS) == [] and placed_at_the_mock(embedded) == []


def test_text_alerts_and_non_finite_numbers_are_refused_too(client, embedded):
    text = "order buy @ 1 filled on AAPL. New strategy position is 1e308"
    answer = client.post("/webhook?strategy_id=momentum_us&passphrase=demo-momentum-us-passphrase", data=text,
                         content_type="text/plain")
    assert answer.status_code == 422 and answer.get_json()["field"] == "target_position"
    body = signal_body(ticker="AAPL", action="buy").replace(b'"action"', b'"quantity": Infinity, "action"')
    assert client.post("/webhook", data=body, content_type="application/json").status_code == 400
    assert send(client, embedded, ticker="AAPL", action="buy", quantity=MAX_ORDER_UNITS).status_code == 202


def test_an_alert_sized_at_a_near_zero_price_never_reaches_the_broker(client, embedded):
    """The exact path of the 1e12-share orders: a mark of 1e-8, then an ordinary alert."""
    moved = client.post("/api/admin/mock/marks", headers=ADMIN, json={"instrument": "NASDAQ:AAPL", "price": 1e-8})
    assert moved.status_code == 200
    for fields in ({"size_pct": 10, "signal_id": "pct-1"}, {"quantity": MAX_ORDER_UNITS, "signal_id": "qty-1"}):
        answer = send(client, embedded, ticker="AAPL", action="buy", **fields)
        assert answer.status_code == 202
        record = embedded.store.get(Collections.SIGNALS, answer.get_json()["signal_id"])
        for decision in record["decisions"]:
            assert decision["status"] == "rejected" and decision["orders"] == []
            assert decision["reason"].startswith("plausibility: buy ") and "past the hard ceiling of 1e+09 units" in (
                decision["reason"])
            assert any(c["name"] == "plausibility" and c["outcome"] == "fail" for c in decision["checks"])
    assert placed_at_the_mock(embedded) == []
    assert "DEMO-CLIENT-A: rejected - plausibility: buy 4e+12 NASDAQ:AAPL" in journey_log(embedded)


def book_absurd_position(services: Services, quantity: float) -> None:
    """A position of ``quantity`` AAPL for momentum_us in DEMO-CLIENT-A, booked as fills are (as the
    old code could leave one): exits and flattens of it skip every risk-adding check."""
    fill = Fill(exec_id="old-fill-1", client_order_id="mt-old-0000000000001", signal_id="old",
                strategy_id="momentum_us", account_id="DEMO-CLIENT-A", broker="mock", instrument=AAPL,
                side=Side.BUY, quantity=quantity, price=190.0, commission=0.0,
                filled_at=datetime(2026, 11, 24, 14, tzinfo=UTC))
    services.confirmations.handle_update(OrderUpdate(client_order_id=fill.client_order_id, status="filled",
                                                     filled_quantity=quantity, fills=[fill]))
    services.bus.drain()


def test_an_exit_and_a_flatten_of_an_absurd_position_are_refused_not_placed(client, embedded):
    book_absurd_position(embedded, 4e12)
    exit_ = send(client, embedded, ticker="AAPL", action="exit", signal_id="exit-1")
    assert exit_.status_code == 202
    decisions = embedded.store.get(Collections.SIGNALS, exit_.get_json()["signal_id"])["decisions"]
    (decision,) = [d for d in decisions if d["account_id"] == "DEMO-CLIENT-A"]
    assert decision["status"] == "rejected"
    assert "plausibility: sell 4e+12 NASDAQ:AAPL" in decision["reason"]

    flatten = client.post("/api/admin/flatten", headers=ADMIN, json={"confirm": "FLATTEN ALL",
                                                                     "strategy_ids": ["momentum_us"]})
    assert flatten.status_code == 202, flatten.get_json()
    embedded.bus.drain()
    assert placed_at_the_mock(embedded) == []
    assert journey_log(embedded).count("DEMO-CLIENT-A: rejected - plausibility: sell 4e+12 NASDAQ:AAPL") == 2


@pytest.mark.parametrize(("quantity", "price", "why"), [
    (2e12, 190.0, "quantity is past the hard ceiling of 1e+09 units"),
    (MAX_ORDER_UNITS * 1.01, 0.01, "quantity is past the hard ceiling of 1e+09 units"),
    (9e8, 1e6, f"notional 9e+14 USD is past the hard ceiling of {MAX_ORDER_NOTIONAL:g}"),
])
def test_execution_refuses_an_absurd_order_on_the_topic_even_a_reducing_one(embedded, quantity, price, why):
    """The last gate: an order already on the orders topic (decided by anything, a risk-reducing exit
    included) is rejected with its reason and never placed."""
    order = Order(client_order_id="mt-absurd-000000001", signal_id="sig-absurd", strategy_id="momentum_us",
                  account_id="DEMO-CLIENT-A", broker="mock", instrument=AAPL, side=Side.SELL,
                  quantity=quantity, reference_price=price, reduce_only=True)
    embedded.bus.publish(Topics.ORDERS, {"order": json.loads(order.model_dump_json())},
                         {"signal_id": order.signal_id, "client_order_id": order.client_order_id})
    embedded.bus.drain()
    assert placed_at_the_mock(embedded) == []
    stored = embedded.store.get(Collections.ORDERS, order.client_order_id)
    assert (stored["status"], stored["open"]) == ("rejected", False) and why in stored["reason"]
    assert f"DEMO-CLIENT-A sell {quantity:g} AAPL: rejected plausibility: sell {quantity:g} NASDAQ:AAPL" in (
        journey_log(embedded))


def test_a_non_finite_order_is_implausible():
    """Such an order cannot even travel on a topic (JSON has no infinity), but the gate judges it anyway."""
    from shared.domain.risk import implausible

    order = Order(client_order_id="mt-x", signal_id="s", strategy_id="momentum_us", account_id="DEMO-CLIENT-A",
                  broker="mock", instrument=AAPL, side=Side.BUY, quantity=1, reference_price=190.0)
    assert implausible(order) == ""
    assert "quantity is past" in implausible(order.model_copy(update={"quantity": float("inf")}))
    assert "quantity is past" in implausible(order.model_copy(update={"quantity": float("nan")}))
    assert "notional inf" in implausible(order.model_copy(update={"reference_price": 1e308, "quantity": 1e3}))
    assert "notional" in implausible(order.model_copy(update={"take_profit": 1e12, "quantity": 1e3}))


@pytest.mark.parametrize(("value", "price"), [(1e308, 200.0), (10.0, 1e-320)])
def test_sizing_that_overflows_is_a_rejection_not_a_dead_letter(value, price):
    """A signal decided outside the webhook's bounds (a record from before them, another writer) or a
    denormal reference price: the sizing overflows, and cerebro refuses by name instead of crashing."""
    from tests.unit.test_cerebro import market, run, signal

    decision = run(signal(kind=SizingKind.TARGET_POSITION, value=value), mkt=market(price=price))
    assert decision.status == "rejected" and decision.orders == []
    assert decision.reason.startswith("plausibility: ") and "not a finite number of units" in decision.reason
