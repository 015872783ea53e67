"""Trading rules that once went wrong, end to end on the embedded stack.

Every test drives the real Flask webhook (and the admin API) and checks what a user
sees: the webhook's answer, the signal's journey (GET /api/signals/<id>), the Mock
broker's books, our positions, and the journey log.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devstack.embedded import create_app
from shared.bootstrap import Services
from shared.demo import DEMO_API_KEYS
from shared.domain.models import Collections, Topics
from tests.conftest import FakeClock, signal_body

ADMIN = {"Authorization": f"Bearer {DEMO_API_KEYS['admin', 'admin']}"}
A, B = "DEMO-CLIENT-A", "DEMO-CLIENT-B"


class Desk:
    """The embedded stack as a user reaches it: the webhook, the admin API, the Mock's books."""

    def __init__(self, services: Services):
        self.services = services
        self.http = create_app(services).test_client()

    # -- sending ---------------------------------------------------------------------------
    def alert(self, strategy: str = "momentum_us", expect: int | None = 202, **fields: Any) -> dict[str, Any]:
        """POST one alert to the webhook, let the pipeline settle, return the answer's JSON."""
        answer = self.http.post("/webhook", data=signal_body(strategy, **fields), content_type="application/json")
        assert self.services.bus.drain()
        if expect is not None:
            assert answer.status_code == expect, answer.get_json()
        return {**answer.get_json(), "http": answer.status_code}

    def admin(self, method: str, path: str, body: dict | None = None, expect: int | None = 200) -> dict[str, Any]:
        answer = self.http.open(path, method=method, headers=ADMIN, json=body)
        assert self.services.bus.drain()
        if expect is not None:
            assert answer.status_code == expect, answer.get_json()
        return answer.get_json()

    def mark(self, instrument: str, price: float) -> dict[str, Any]:
        """The paper market's feed moves (the admin's POST /api/admin/mock/marks)."""
        return self.admin("POST", "/api/admin/mock/marks", {"instrument": instrument, "price": price})

    # -- reading ---------------------------------------------------------------------------
    def journey(self, signal_id: str) -> dict[str, Any]:
        return self.admin("GET", f"/api/signals/{signal_id}")

    def decisions(self, signal_id: str) -> dict[str, dict[str, Any]]:
        return {d["account_id"]: d for d in self.journey(signal_id)["signal"]["decisions"]}

    def order_statuses(self, signal_id: str) -> dict[str, str]:
        """Client order id -> status, for every order of the signal (protective legs included)."""
        return {o["client_order_id"]: o["status"] for o in self.journey(signal_id)["orders"]}

    def positions(self, **where: Any) -> dict[tuple[str, str, str], float]:
        """Our books: (account, strategy, instrument key) -> quantity."""
        return {(p["account_id"], p["strategy_id"], p["instrument_key"]): p["quantity"]
                for p in self.services.store.query(Collections.POSITIONS, where=where or None)}

    def broker_position(self, account_id: str, key: str) -> float:
        """The account's net position in an instrument at the Mock broker."""
        return self.services.mock_broker.account_snapshot(account_id).positions.get(key, 0.0)

    def share_of_equity(self, account_id: str, key: str, unit_value: float) -> float:
        """The account's whole position in an instrument at the Mock, as a share of its equity."""
        snapshot = self.services.mock_broker.account_snapshot(account_id)
        return abs(snapshot.positions.get(key, 0.0)) * unit_value / snapshot.equity

    def log(self) -> str:
        return (self.services.settings.log_dir / "signal_processing.log").read_text()

    def log_lines(self, signal_id: str, service: str = "CEREBRO") -> list[str]:
        return [line for line in self.log().splitlines() if f"| [{service}] | {signal_id}:" in line]

    def stored_signals(self) -> int:
        store = self.services.store
        return len(store.query(Collections.RAW_SIGNALS)) + len(store.query(Collections.SIGNALS))


@pytest.fixture
def desk(embedded: Services) -> Desk:
    return Desk(embedded)


# --- 1. the alert's price is a sanity check, never the fill ----------------------------------


def test_an_alert_price_outside_the_collar_is_refused_and_stores_nothing(desk):
    answer = desk.alert(ticker="AAPL", action="buy", quantity=1000, price=19, signal_id="fat-finger", expect=422)
    assert answer["field"] == "price"
    assert "19" in answer["reason"] and "190" in answer["reason"] and "collar" in answer["reason"]
    assert desk.stored_signals() == 0
    assert desk.services.store.query(Collections.ORDERS) == []
    assert desk.services.mock_broker.quote(desk.services.instruments.get("NASDAQ:AAPL").instrument).price == 190


def test_a_buy_fills_at_the_mocks_mark_and_is_capped_at_ten_percent(desk):
    answer = desk.alert(ticker="AAPL", action="buy", quantity=1000, price=191, signal_id="big-aapl")
    journey = desk.journey(answer["signal_id"])
    assert {o["account_id"]: o["status"] for o in journey["orders"]} == {A: "filled", B: "filled"}
    for fill in journey["fills"]:
        assert 189.9 < fill["price"] < 190.1  # the Mock's mark (with its slippage), not the alert's 191
    for decision in journey["signal"]["decisions"]:
        assert decision["inputs"]["price"] == 190 and decision["inputs"]["alert_price"] == 191
        assert decision["status"] == "approved" and "max_position_size" in decision["reason"]
    for account_id in (A, B):
        assert desk.broker_position(account_id, "NASDAQ:AAPL") > 0
        assert desk.share_of_equity(account_id, "NASDAQ:AAPL", 190) <= 0.10


# --- 2. a future's multiplier comes from the instrument master --------------------------------


def test_an_es_order_is_valued_with_the_masters_multiplier(desk):
    answer = desk.alert("trend_futures", ticker="ES1!", action="buy", quantity=7, price=5801, signal_id="es-7")
    record = desk.journey(answer["signal_id"])["signal"]
    assert record["signal"]["instrument"]["multiplier"] == 50
    decision = {d["account_id"]: d for d in record["decisions"]}[A]  # trend_futures trades only in client A
    # 7 x (1,000,000 x 0.4 / 500,000) = 5 contracts of 5800 x 50 = 290,000 each: one is 29% of equity.
    assert decision["status"] == "rejected"
    assert "max_position_size" in decision["reason"] and "cap 10%" in decision["reason"]
    assert "145.0% of equity" in decision["reason"]  # the value: five contracts would be 1,450,000
    assert desk.broker_position(A, "CME:ES1!") == 0
    assert desk.positions(instrument_key="CME:ES1!") == {}


def test_a_micro_future_is_capped_to_ten_percent_of_equity_with_the_multiplier(desk):
    answer = desk.alert("trend_futures", ticker="CME_MINI:MES1!", action="buy", quantity=7, signal_id="mes-7")
    decision = desk.decisions(answer["signal_id"])[A]
    # 5 contracts x 5800 x 5 = 145,000 > 100,000: capped to 3 (87,000).
    assert decision["status"] == "approved" and decision["orders"][0]["quantity"] == 3
    assert "max_position_size: 5 cut to 3" in decision["reason"] and "cap 10%" in decision["reason"]
    assert desk.broker_position(A, "CME:MES1!") == 3
    assert desk.share_of_equity(A, "CME:MES1!", 5800 * 5) <= 0.10


def test_an_alert_claiming_another_multiplier_is_refused(desk):
    answer = desk.alert("trend_futures", ticker="ES1!", action="buy", quantity=1, multiplier=1, signal_id="es-m1",
                        expect=422)
    assert answer["field"] == "multiplier" and "50" in answer["reason"]
    assert desk.stored_signals() == 0


# --- 3. an instrument priced in another currency is converted to the account's ---------------


@pytest.mark.parametrize(("sizing", "expected"), [
    ({"quantity": 50_000}, {A: 40_000, B: 20_000}),  # scaled by 0.8 (A) and 0.4 (B)
    ({"size_pct": 10}, {A: 20_000, B: 10_000}),  # 10% of 200,000 and 100,000 allocated, 1 USD a unit
])
def test_usdjpy_is_valued_in_usd_through_the_fx_rate(desk, sizing, expected):
    answer = desk.alert("fx_carry", ticker="OANDA:USDJPY", action="buy", signal_id="jpy", **sizing)
    journey = desk.journey(answer["signal_id"])
    for decision in journey["signal"]["decisions"]:
        assert decision["inputs"]["price"] == pytest.approx(150.2)
        assert decision["inputs"]["fx_rate"] == pytest.approx(1 / 150.2)
        assert decision["status"] == "approved"
        assert not [c for c in decision["checks"] if c["outcome"] != "pass"], decision["checks"]
    assert {f["account_id"]: f["quantity"] for f in journey["fills"]} == expected
    assert {a: desk.broker_position(a, "FX:USDJPY") for a in (A, B)} == expected
    for account_id, quantity in expected.items():  # 1 unit of USDJPY is worth 1 USD
        snapshot = desk.services.mock_broker.account_snapshot(account_id)
        assert snapshot.gross_exposure == pytest.approx(quantity, rel=1e-6)


# --- 4. the position cap is the account's, across strategies ----------------------------------


def test_the_position_cap_holds_across_strategies(desk):
    first = desk.alert(ticker="NVDA", action="buy", quantity=500, signal_id="nvda-momentum")
    assert "max_position_size" in desk.decisions(first["signal_id"])[A]["reason"]
    assert desk.share_of_equity(A, "NASDAQ:NVDA", 130) <= 0.10
    held_before = desk.broker_position(A, "NASDAQ:NVDA")
    assert held_before > 700  # 100,000 / 130 = 769: the first strategy used the room

    second = desk.alert("trend_futures", ticker="NVDA", action="buy", quantity=500, signal_id="nvda-trend")
    decision = desk.decisions(second["signal_id"])[A]
    assert decision["status"] == "rejected"
    assert "max_position_size" in decision["reason"] and "cap 10%" in decision["reason"]
    assert f"holds +{held_before:g}" in decision["reason"]
    assert desk.broker_position(A, "NASDAQ:NVDA") == held_before
    assert desk.share_of_equity(A, "NASDAQ:NVDA", 130) <= 0.10


def test_the_position_cap_holds_across_strategies_signalling_through_the_api(desk):
    desk.alert(ticker="NVDA", action="buy", quantity=500, signal_id="nvda-momentum")
    held_before = desk.broker_position(A, "NASDAQ:NVDA")
    answer = desk.admin("POST", "/api/signals", {"strategy_id": "fx_carry", "ticker": "NASDAQ:NVDA",
                                                 "action": "buy", "quantity": 5000, "signal_id": "nvda-fx"},
                        expect=202)
    decision = desk.decisions(answer["signal_id"])[A]
    assert decision["status"] == "rejected" and "max_position_size" in decision["reason"]
    assert desk.broker_position(A, "NASDAQ:NVDA") == held_before


# --- 5. every spelling of an instrument lands in one book ---------------------------------------


def test_aapl_and_nasdaq_aapl_are_one_book(desk):
    desk.alert(ticker="AAPL", action="buy", quantity=10, signal_id="bare")
    desk.alert(ticker="NASDAQ:AAPL", action="buy", quantity=5, signal_id="qualified")
    desk.alert(ticker="AAPL", exchange="NASDAQ", action="buy", quantity=5, signal_id="split")
    assert desk.positions() == {(A, "momentum_us", "NASDAQ:AAPL"): 80, (B, "momentum_us", "NASDAQ:AAPL"): 29}
    desk.alert(ticker="NASDAQ:AAPL", action="exit", signal_id="out")
    assert desk.positions() == {(A, "momentum_us", "NASDAQ:AAPL"): 0, (B, "momentum_us", "NASDAQ:AAPL"): 0}
    assert desk.broker_position(A, "NASDAQ:AAPL") == desk.broker_position(B, "NASDAQ:AAPL") == 0


def test_fx_venue_prefixes_are_one_book(desk):
    desk.alert("fx_carry", ticker="OANDA:EURUSD", action="buy", quantity=10_000, price=1.08, signal_id="oanda")
    assert desk.positions() == {(A, "fx_carry", "FX:EURUSD"): 8000, (B, "fx_carry", "FX:EURUSD"): 4000}
    desk.alert("fx_carry", ticker="FX_IDC:EURUSD", action="exit", signal_id="fx-idc")
    assert desk.positions() == {(A, "fx_carry", "FX:EURUSD"): 0, (B, "fx_carry", "FX:EURUSD"): 0}
    assert desk.broker_position(A, "FX:EURUSD") == desk.broker_position(B, "FX:EURUSD") == 0


def test_an_unknown_ticker_is_refused_by_name_and_stores_nothing(desk):
    answer = desk.alert(ticker="ZZZZ", action="buy", quantity=1, signal_id="unknown", expect=422)
    assert answer["field"] == "ticker" and "ZZZZ" in answer["reason"]
    assert desk.stored_signals() == 0


# --- 6. halted and paused: risk-reducing orders always pass ------------------------------------


def test_the_kill_switch_refuses_new_risk_but_lets_exits_and_reducing_sells_through(desk):
    desk.alert(ticker="AAPL", action="buy", quantity=10, signal_id="in")
    assert desk.positions() == {(A, "momentum_us", "NASDAQ:AAPL"): 40, (B, "momentum_us", "NASDAQ:AAPL"): 15}
    desk.admin("POST", "/api/admin/kill-switch", {"enabled": True, "reason": "drill"})

    more = desk.alert(ticker="AAPL", action="buy", quantity=10, signal_id="more")
    for decision in desk.decisions(more["signal_id"]).values():
        assert decision["status"] == "rejected" and "HALTED" in decision["reason"]
    assert desk.journey(more["signal_id"])["orders"] == []

    sell = desk.alert(ticker="AAPL", action="sell", quantity=5, signal_id="trim")
    assert {a: d["status"] for a, d in desk.decisions(sell["signal_id"]).items()} == {A: "approved", B: "approved"}
    assert desk.positions() == {(A, "momentum_us", "NASDAQ:AAPL"): 20, (B, "momentum_us", "NASDAQ:AAPL"): 8}

    desk.alert(ticker="AAPL", action="exit", signal_id="out")
    assert set(desk.positions().values()) == {0}
    assert desk.broker_position(A, "NASDAQ:AAPL") == desk.broker_position(B, "NASDAQ:AAPL") == 0


def test_the_kill_switch_cancels_resting_entries_but_keeps_the_stops(desk):
    dip = desk.alert(ticker="SPY", action="buy", quantity=10, order_type="limit", limit_price=500, signal_id="dip")
    held = desk.alert(ticker="AAPL", action="buy", quantity=10, stop_loss=180, signal_id="held")
    halted = desk.admin("POST", "/api/admin/kill-switch", {"enabled": True, "reason": "drill"})
    assert len(halted["cancelled"]) == 2  # the resting SPY entry in each account
    assert set(desk.order_statuses(dip["signal_id"]).values()) == {"cancelled"}
    stops = {s for cid, s in desk.order_statuses(held["signal_id"]).items() if cid.startswith("mp")}
    assert stops == {"working"}  # protection stays on while halted
    desk.mark("NYSEARCA:SPY", 490)
    assert (desk.broker_position(A, "NYSEARCA:SPY"), desk.broker_position(B, "NYSEARCA:SPY")) == (0, 0)
    desk.mark("NASDAQ:AAPL", 179)
    assert set(desk.positions(strategy_id="momentum_us").values()) == {0}


def test_a_sell_past_flat_under_the_kill_switch_only_closes(desk):
    desk.alert(ticker="AAPL", action="buy", quantity=10, signal_id="in")
    desk.admin("POST", "/api/admin/kill-switch", {"enabled": True, "reason": "drill"})
    flip = desk.alert(ticker="AAPL", action="sell", quantity=30, signal_id="flip")
    for decision in desk.decisions(flip["signal_id"]).values():
        assert decision["status"] == "approved" and "HALTED" in decision["reason"]
    assert set(desk.positions().values()) == {0}  # closed, never turned short


def test_a_paused_strategy_can_exit_but_not_add(desk):
    desk.alert(ticker="MSFT", action="buy", quantity=10, signal_id="in")
    assert desk.admin("PATCH", "/api/strategies/momentum_us", {"status": "paused"})["strategy"]["status"] == "paused"
    more = desk.alert(ticker="MSFT", action="buy", quantity=10, signal_id="more")
    for decision in desk.decisions(more["signal_id"]).values():
        assert decision["status"] == "rejected" and "strategy paused" in decision["reason"]
    assert desk.positions() == {(A, "momentum_us", "NASDAQ:MSFT"): 40, (B, "momentum_us", "NASDAQ:MSFT"): 15}
    out = desk.alert(ticker="MSFT", action="exit", signal_id="out")
    assert out["http"] == 202
    assert set(desk.positions().values()) == {0}
    assert desk.broker_position(A, "NASDAQ:MSFT") == 0


# --- 7. flatten cancels resting orders before it closes ---------------------------------------


def test_flatten_all_cancels_resting_orders_and_closes_every_position(desk):
    resting = desk.alert(ticker="SPY", action="buy", quantity=10, order_type="limit", limit_price=500,
                         signal_id="spy-dip")
    assert set(desk.order_statuses(resting["signal_id"]).values()) == {"working"}
    desk.alert(ticker="AAPL", action="buy", quantity=10, signal_id="aapl")
    desk.alert("fx_carry", ticker="EURUSD", action="buy", quantity=10_000, signal_id="eur")
    assert all(desk.positions().values())

    answer = desk.admin("POST", "/api/admin/flatten", {"confirm": "FLATTEN ALL"}, expect=202)
    assert set(answer["flattening"]) == {"momentum_us", "fx_carry"}
    assert set(desk.order_statuses(resting["signal_id"]).values()) == {"cancelled"}
    assert set(desk.positions().values()) == {0}
    for account_id in (A, B):
        assert desk.services.mock_broker.account_snapshot(account_id).positions == {}

    assert desk.mark("SPY", 490)["triggered"] == []  # through the old limit: nothing opens
    assert desk.positions(instrument_key="NYSEARCA:SPY") == {}
    assert desk.broker_position(A, "NYSEARCA:SPY") == desk.broker_position(B, "NYSEARCA:SPY") == 0


def test_flatten_of_one_account_leaves_the_others(desk):
    desk.alert(ticker="AAPL", action="buy", quantity=10, signal_id="aapl")
    desk.alert("fx_carry", ticker="EURUSD", action="buy", quantity=10_000, signal_id="eur")
    desk.admin("POST", "/api/admin/flatten", {"confirm": "FLATTEN ALL", "account_ids": [B]}, expect=202)
    assert desk.positions() == {(A, "momentum_us", "NASDAQ:AAPL"): 40, (B, "momentum_us", "NASDAQ:AAPL"): 0,
                                (A, "fx_carry", "FX:EURUSD"): 8000, (B, "fx_carry", "FX:EURUSD"): 0}
    assert desk.services.mock_broker.account_snapshot(B).positions == {}
    assert desk.broker_position(A, "NASDAQ:AAPL") == 40 and desk.broker_position(A, "FX:EURUSD") == 8000


# --- 8. protective orders rest at the broker after the entry fills ------------------------------


def entry_and_legs(desk: Desk, signal_id: str) -> tuple[dict[str, str], dict[str, str]]:
    orders = desk.journey(signal_id)["orders"]
    entries = {o["account_id"]: o["status"] for o in orders if not o.get("parent_order_id")}
    legs = {o["client_order_id"]: o["status"] for o in orders if o.get("parent_order_id")}
    return entries, legs


def test_a_stop_loss_fills_when_the_mark_falls_through_it_and_cancels_the_take_profit(desk):
    answer = desk.alert(ticker="AAPL", action="buy", quantity=10, stop_loss=180, take_profit=210,
                        signal_id="bracketed")
    entries, legs = entry_and_legs(desk, answer["signal_id"])
    assert entries == {A: "filled", B: "filled"}
    assert len(legs) == 4 and set(legs.values()) == {"working"}  # a stop and a target per account

    triggered = desk.mark("NASDAQ:AAPL", 179)["triggered"]
    assert sorted(t["status"] for t in triggered) == ["cancelled", "cancelled", "filled", "filled"]
    orders = desk.journey(answer["signal_id"])["orders"]
    by_kind = {(o["account_id"], o["order"]["order_type"]): o["status"] for o in orders if o.get("parent_order_id")}
    assert by_kind == {(A, "stop"): "filled", (A, "limit"): "cancelled",
                       (B, "stop"): "filled", (B, "limit"): "cancelled"}
    assert set(desk.positions().values()) == {0}
    assert desk.broker_position(A, "NASDAQ:AAPL") == desk.broker_position(B, "NASDAQ:AAPL") == 0
    assert desk.mark("NASDAQ:AAPL", 215)["triggered"] == []  # the cancelled target never fills


def test_an_exit_cancels_the_resting_protective_orders(desk):
    answer = desk.alert(ticker="AAPL", action="buy", quantity=10, stop_loss=180, take_profit=210,
                        signal_id="bracketed")
    desk.alert(ticker="AAPL", action="exit", signal_id="out")
    _, legs = entry_and_legs(desk, answer["signal_id"])
    assert len(legs) == 4 and set(legs.values()) == {"cancelled"}
    assert set(desk.positions().values()) == {0}
    assert desk.mark("NASDAQ:AAPL", 170)["triggered"] == []  # no stop left to turn the account short
    assert desk.broker_position(A, "NASDAQ:AAPL") == desk.broker_position(B, "NASDAQ:AAPL") == 0


def test_a_sell_that_closes_a_bracketed_long_leaves_no_stop_to_turn_it_short(desk):
    answer = desk.alert(ticker="AAPL", action="buy", quantity=10, stop_loss=180, take_profit=210,
                        signal_id="bracketed")
    desk.alert(ticker="AAPL", action="sell", quantity=10, signal_id="sold")
    assert set(desk.positions().values()) == {0}
    desk.mark("NASDAQ:AAPL", 179)
    assert set(desk.positions().values()) == {0}  # actual: A -40, B -15
    assert desk.broker_position(A, "NASDAQ:AAPL") == desk.broker_position(B, "NASDAQ:AAPL") == 0
    _, legs = entry_and_legs(desk, answer["signal_id"])
    assert "working" not in legs.values()


def test_a_partial_exit_cancels_the_protection_it_would_otherwise_oversell(desk):
    """Protective orders are sized to their entry: once the position shrinks they are cancelled
    (never left to oversell it); the rest of the position is the strategy's to exit."""
    entry = desk.alert(ticker="AAPL", action="buy", quantity=10, stop_loss=180, take_profit=210,
                       signal_id="bracketed")
    half = desk.alert(ticker="AAPL", action="exit", size_pct=50, signal_id="half")
    assert desk.positions() == {(A, "momentum_us", "NASDAQ:AAPL"): 20, (B, "momentum_us", "NASDAQ:AAPL"): 8}
    legs = {s for cid, s in desk.order_statuses(entry["signal_id"]).items() if cid.startswith("mp")}
    assert legs == {"cancelled"}
    assert any("cancels its protective order" in line for line in desk.log_lines(half["signal_id"], "EXECUTION"))
    desk.mark("NASDAQ:AAPL", 179)
    assert desk.positions() == {(A, "momentum_us", "NASDAQ:AAPL"): 20, (B, "momentum_us", "NASDAQ:AAPL"): 8}
    assert (desk.broker_position(A, "NASDAQ:AAPL"), desk.broker_position(B, "NASDAQ:AAPL")) == (20, 8)


def test_resting_protective_orders_do_not_make_room_under_the_position_cap(desk):
    desk.alert(ticker="AAPL", action="buy", quantity=1000, stop_loss=150, take_profit=250, signal_id="bracketed")
    for account_id in (A, B):
        assert desk.share_of_equity(account_id, "NASDAQ:AAPL", 190) == pytest.approx(0.10, abs=0.002)  # at the cap
    more = desk.alert(ticker="AAPL", action="buy", quantity=1000, signal_id="more")
    for account_id, decision in desk.decisions(more["signal_id"]).items():
        assert decision["status"] == "rejected" and "max_position_size" in decision["reason"]
        assert desk.share_of_equity(account_id, "NASDAQ:AAPL", 190) <= 0.10  # actual: about 30%


# --- 9. cancelling a signal's resting orders ---------------------------------------------------


def test_cancel_a_resting_limit_order(desk):
    answer = desk.alert(ticker="SPY", action="buy", quantity=10, order_type="limit", limit_price=500,
                        signal_id="spy-dip")
    assert set(desk.order_statuses(answer["signal_id"]).values()) == {"working"}
    cancelling = desk.admin("POST", f"/api/signals/{answer['signal_id']}/cancel", expect=202)
    assert len(cancelling["cancelling"]) == 2
    assert set(desk.order_statuses(answer["signal_id"]).values()) == {"cancelled"}
    assert desk.mark("SPY", 490)["triggered"] == []
    assert desk.positions() == {}


# --- 10. market hours -------------------------------------------------------------------------

THANKSGIVING = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)  # NYSE and Nasdaq closed all day
NEXT_OPEN = datetime(2026, 11, 27, 14, 30, tzinfo=UTC)  # Friday 09:30 New York


def at(desk: Desk, clock: FakeClock, now: datetime) -> list[str]:
    """Move the clock and run the fund's scheduled tick (the embedded stack's timer): the snapshots
    refresh and the signals held for an open that has come are released. Returns those signals."""
    clock.now = now
    ticked = desk.services.tick()
    assert desk.services.bus.drain()
    assert all(result.startswith("ok") for result in ticked["polled"].values())
    return ticked["released"]


def test_a_refusing_strategy_is_refused_outside_the_session_naming_the_next_open(desk, clock):
    desk.admin("PATCH", "/api/strategies/momentum_us", {"session_policy": "refuse"})
    at(desk, clock, THANKSGIVING)
    answer = desk.alert(ticker="AAPL", action="buy", quantity=10, signal_id="holiday")
    decisions = desk.decisions(answer["signal_id"])
    assert set(decisions) == {A, B}
    for decision in decisions.values():
        assert decision["status"] == "rejected"
        assert "market_hours" in decision["reason"] and "2026-11-27 14:30" in decision["reason"]
    assert desk.journey(answer["signal_id"])["orders"] == [] and desk.positions() == {}


def test_a_holding_strategy_is_held_for_the_next_open(desk, clock):
    desk.admin("PATCH", "/api/strategies/momentum_us", {"session_policy": "hold"})
    at(desk, clock, THANKSGIVING)
    answer = desk.alert(ticker="AAPL", action="buy", quantity=10, signal_id="holiday")
    record = desk.journey(answer["signal_id"])
    assert record["signal"]["status"] == "held"
    assert datetime.fromisoformat(record["signal"]["hold_until"]) == NEXT_OPEN
    assert record["orders"] == [] and desk.positions() == {}
    assert any("held" in line and "2026-11-27 14:30" in line for line in desk.log_lines(answer["signal_id"]))

    assert at(desk, clock, NEXT_OPEN - timedelta(minutes=1)) == []  # still closed: still held
    assert desk.journey(answer["signal_id"])["signal"]["status"] == "held"
    assert desk.journey(answer["signal_id"])["orders"] == [] and desk.positions() == {}

    assert at(desk, clock, NEXT_OPEN) == [answer["signal_id"]]  # the tick at the open releases it
    assert desk.journey(answer["signal_id"])["signal"]["status"] == "decided"
    assert desk.positions() == {(A, "momentum_us", "NASDAQ:AAPL"): 40, (B, "momentum_us", "NASDAQ:AAPL"): 15}


# --- 11. every refusal says why, with the limit, the value and the cap ---------------------------


def test_capped_and_rejected_decisions_log_the_limit_the_value_and_the_cap(desk):
    refusals: list[dict[str, Any]] = []
    desk.services.bus.subscribe(Topics.NOTIFICATIONS, lambda message: refusals.append(message.data)
                                if message.data.get("kind") == "risk_refusal" else None)
    capped = desk.alert(ticker="AAPL", action="buy", quantity=100_000, signal_id="huge")
    rejected = desk.alert("trend_futures", ticker="ES1!", action="buy", quantity=7, signal_id="es")
    fine = desk.alert(ticker="MSFT", action="buy", quantity=1, signal_id="small")

    lines = desk.log_lines(capped["signal_id"])
    assert len(lines) == 2
    for line in lines:  # 400,000 (A) and 150,000 (B) shares asked for
        assert "approved" in line
        assert re.search(r"max_order_notional: \d+ cut to \d+ AAPL: order notional [\d,]+ .*cap 5,000,000", line)
        assert re.search(r"max_position_size: \d+ cut to \d+ AAPL: account position would be [\d.]+% of equity "
                         r".*cap 10% = \d+ AAPL", line)
    [line] = desk.log_lines(rejected["signal_id"])
    assert re.search(r"DEMO-CLIENT-A: rejected - max_position_size: .*145\.0% of equity.*cap 10% = 0 ES1!", line)

    by_signal = {r["signal_id"]: r for r in refusals}
    assert len(refusals) == 2 and set(by_signal) == {capped["signal_id"], rejected["signal_id"]}  # one per signal
    assert {r["account_id"]: r["status"] for r in by_signal[capped["signal_id"]]["refusals"]} == {
        A: "capped", B: "capped"}
    assert [(r["account_id"], r["status"]) for r in by_signal[rejected["signal_id"]]["refusals"]] == [
        (A, "rejected")]
    assert all("max_position_size" in r["reason"] for signal in refusals for r in signal["refusals"])
    assert fine["signal_id"] not in by_signal


# --- 12. the order-rate throttle ------------------------------------------------------------------


def test_the_strategy_throttle_refuses_new_risk_but_not_exits(desk, clock):
    # The shipped default: a strategy's risk-adding signals in one second (each makes an order per account).
    cap = int(desk.services.settings.limits.max_signals_per_second_per_strategy)
    statuses = []
    for n in range(cap + 11):  # every one inside the same clock second
        answer = desk.alert(ticker="AAPL", action="buy", quantity=1, signal_id=f"tick-{n}")
        statuses.append({a: d["status"] for a, d in desk.decisions(answer["signal_id"]).items()})
        if n == cap:
            refused, refused_lines = desk.decisions(answer["signal_id"]), desk.log_lines(answer["signal_id"])
    assert statuses[:cap] == [{A: "approved", B: "approved"}] * cap
    assert statuses[cap:] == [{A: "rejected", B: "rejected"}] * 11
    why = f"max_signals_per_second_per_strategy: {cap} risk-adding signals from the strategy this second, cap {cap}"
    assert {d["reason"] for d in refused.values()} == {why}
    assert len(refused_lines) == 2 and all(f"rejected - {why}" in line for line in refused_lines)
    assert desk.positions() == {(A, "momentum_us", "NASDAQ:AAPL"): 4 * cap,
                                (B, "momentum_us", "NASDAQ:AAPL"): cap}  # 1.5 rounds down

    out = desk.alert(ticker="AAPL", action="exit", signal_id="out")  # the same second: an exit still passes
    assert {d["status"] for d in desk.decisions(out["signal_id"]).values()} == {"approved"}
    assert set(desk.positions().values()) == {0}

    clock.advance(1)  # the next second, a new budget
    again = desk.alert(ticker="AAPL", action="buy", quantity=1, signal_id="next-second")
    assert {d["status"] for d in desk.decisions(again["signal_id"]).values()} == {"approved"}


# --- 13. the daily loss limit -----------------------------------------------------------------------


def test_a_breached_daily_loss_limit_refuses_new_risk_but_lets_exits_through(desk):
    desk.alert(ticker="AAPL", action="buy", quantity=10, signal_id="in")
    equity = desk.services.mock_broker.account_snapshot(A).equity
    desk.services.store.update(Collections.ACCOUNTS, A, {"day_start": {"date": "2026-11-24", "equity": equity * 1.1}})

    more = desk.alert(ticker="MSFT", action="buy", quantity=10, signal_id="more")
    decisions = desk.decisions(more["signal_id"])
    assert decisions[A]["status"] == "rejected" and "daily_loss_limit" in decisions[A]["reason"]
    assert decisions[B]["status"] == "approved"  # only client A lost money today
    out = desk.alert(ticker="AAPL", action="exit", signal_id="out")
    assert desk.decisions(out["signal_id"])[A]["status"] == "approved"
    assert desk.positions(account_id=A) == {(A, "momentum_us", "NASDAQ:AAPL"): 0}



def test_a_real_loss_during_the_day_trips_the_daily_loss_limit(desk):
    # The fixture's poll at 14:30 was each account's first snapshot of 2026-11-24: the day's start.
    assert desk.services.store.get(Collections.ACCOUNTS, A)["day_start"] == {"date": "2026-11-24",
                                                                              "equity": 1_000_000}
    desk.alert(ticker="AAPL", action="buy", quantity=1000, signal_id="in")  # about 10% of each account
    desk.mark("NASDAQ:AAPL", 1.0)  # the paper market crashes: each account loses about 10% of its equity
    desk.services.tick()
    assert desk.services.bus.drain()
    equity = desk.services.mock_broker.account_snapshot(A).equity
    assert equity < 0.95 * 1_000_000
    more = desk.alert(ticker="MSFT", action="buy", quantity=10, signal_id="more")
    for decision in desk.decisions(more["signal_id"]).values():
        assert decision["status"] == "rejected" and "daily_loss_limit" in decision["reason"]  # actual: approved
    out = desk.alert(ticker="AAPL", action="exit", signal_id="out")
    assert {d["status"] for d in desk.decisions(out["signal_id"]).values()} == {"approved"}


def test_the_daily_loss_refusal_says_how_much_was_lost(desk):
    desk.services.store.update(Collections.ACCOUNTS, A, {"day_start": {"date": "2026-11-24", "equity": 1_100_000}})
    more = desk.alert(ticker="MSFT", action="buy", quantity=10, signal_id="more")
    [line] = [line for line in desk.log_lines(more["signal_id"]) if A in line]
    assert "rejected" in line and "daily_loss_limit" in line and "5%" in line
    # The value: equity 1,000,000 against 1,100,000 at the day's start, a 9.1% loss.
    assert "9.1%" in line or ("1,000,000" in line and "1,100,000" in line)
