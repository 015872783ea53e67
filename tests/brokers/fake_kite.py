"""A local Kite Connect REST server that answers as Kite documents, for the real kiteconnect client.

Envelopes ``{"status": "success", "data": ...}`` and ``{"status": "error", "message",
"error_type"}`` with Kite's HTTP codes, form-encoded POSTs, ``Authorization: token
api_key:access_token``, text/csv instruments, and the sha256 login checksum. Tests
script what the next order does (fill, partial, reject, rest, time out, fail 5xx),
and what the next GTT placement does (ok, time out, fail 5xx). GTTs answer in Kite's
shape: once triggered, the fired leg's ``result.order_result.order_id`` is the order
Kite placed for it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

INSTRUMENTS_CSV = """\
instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,\
segment,exchange
738561,2885,RELIANCE,RELIANCE INDUSTRIES,0,,0,0.05,1,EQ,NSE,NSE
128083204,500325,RELIANCE,RELIANCE INDUSTRIES,0,,0,0.05,1,EQ,BSE,BSE
408065,1594,INFY,INFOSYS,0,,0,0.05,1,EQ,NSE,NSE
256265,1001,NIFTY 50,NIFTY 50,0,,0,0,0,EQ,INDICES,NSE
13368066,52219,NIFTY26NOVFUT,NIFTY,0,2026-11-26,0,0.1,75,FUT,NFO-FUT,NFO
13369090,52223,NIFTY26DECFUT,NIFTY,0,2026-12-31,0,0.1,75,FUT,NFO-FUT,NFO
13360002,52100,NIFTY26OCTFUT,NIFTY,0,2026-10-29,0,0.1,75,FUT,NFO-FUT,NFO
13370114,52227,BANKNIFTY26NOVFUT,BANKNIFTY,0,2026-11-26,0,0.2,35,FUT,NFO-FUT,NFO
13371138,52231,BANKNIFTY26DECFUT,BANKNIFTY,0,2026-12-31,0,0.2,35,FUT,NFO-FUT,NFO
"""
TOKENS = {f"{row['exchange']}:{row['tradingsymbol']}": int(row["instrument_token"])
          for row in csv.DictReader(io.StringIO(INSTRUMENTS_CSV))}
# A public, test-only BROKER_TOKEN_KEY (urlsafe base64 of 32 bytes): tests seal Kite sessions as
# production does. Never use it for a real deployment.
TOKEN_KEY = "dGVzdC1vbmx5LWJyb2tlci10b2tlbi1rZXktMzJieXQ="


@dataclass
class FakeKite:
    api_key: str = "kite_api_key"
    api_secret: str = "kite_api_secret"
    request_token: str = "req_token_123"
    prices: dict[str, float] = field(default_factory=lambda: {"NSE:RELIANCE": 1300.0, "NSE:INFY": 1500.0,
                                                               "NFO:NIFTY26NOVFUT": 24000.0})
    net_positions: list[dict[str, Any]] = field(default_factory=lambda: [
        {"exchange": "NFO", "tradingsymbol": "NIFTY26NOVFUT", "quantity": 75, "product": "NRML",
         "last_price": 24010.0}])
    next_behaviours: list[str] = field(default_factory=list)  # fill|partial|reject|rest|timeout|fail_5xx
    # Kite's naive IST, as /quote answers it; None: now (a live market's quote is fresh).
    quote_time: str | None = None
    last_trade_time: str | None = None
    next_gtt_behaviours: list[str] = field(default_factory=list)  # ok|timeout|fail_5xx
    gtts: dict[int, dict[str, Any]] = field(default_factory=dict)  # trigger id -> the GTT as Kite shows it
    gtt_placements: list[dict[str, Any]] = field(default_factory=list)  # every POST /gtt/triggers accepted
    gtt_deletions: list[int] = field(default_factory=list)
    access_tokens: set[str] = field(default_factory=set)
    orders: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # order id -> history
    trades: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    placements: list[dict[str, str]] = field(default_factory=list)  # every POST /orders accepted
    requests_seen: list[str] = field(default_factory=list)
    stall_seconds: float = 9.0  # longer than the adapter's shipped 7 s timeout
    place_seconds: float = 0.0  # how long each POST /orders takes, so overlapping placements show
    placing_now: int = 0
    most_placing_at_once: int = 0  # the most POST /orders in flight together
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(250_000_000_000_001))
    _gtt_ids: Iterator[int] = field(default_factory=lambda: itertools.count(104_001))
    _lock: threading.Lock = field(default_factory=threading.Lock)  # the books: one request at a time
    _gauge: threading.Lock = field(default_factory=threading.Lock)  # the placements-in-flight counters

    # --- test controls -------------------------------------------------------------
    def expire_tokens(self) -> None:
        self.access_tokens.clear()

    def placed_with_tag(self, tag: str) -> int:
        return sum(1 for p in self.placements if p.get("tag") == tag)

    def fill_rest(self, order_id: str) -> None:
        """A resting order fills completely, later."""
        history = self.orders[order_id]
        self._trade(order_id, history[-1], int(history[-1]["quantity"]) - int(history[-1]["filled_quantity"]))

    def trigger_gtt(self, trigger_id: int, price: float, fill: bool = True) -> str:
        """The market reaches ``price``: the crossed leg's LIMIT order is placed (and filled, unless not
        ``fill``), the GTT becomes 'triggered' and its other leg is gone. Returns Kite's new order id."""
        with self._lock:
            gtt = self.gtts[trigger_id]
            assert gtt["status"] == "active", f"GTT {trigger_id} is {gtt['status']}"
            values = gtt["condition"]["trigger_values"]
            if len(values) == 1 or price <= values[0]:
                leg = 0
            elif price >= values[1]:
                leg = 1
            else:
                raise ValueError(f"{price} crosses no trigger of GTT {trigger_id}")
            spec = gtt["orders"][leg]
            order_id, base = self._new_order({**spec, "tag": None})
            if fill:  # a marketable LIMIT fills at the market, no worse than its limit
                market = max(price, spec["price"]) if spec["transaction_type"] == "SELL" else min(price, spec["price"])
                self._trade(order_id, base, int(spec["quantity"]), market)
            spec["result"] = {
                "account_id": "AB1234", "exchange": spec["exchange"], "tradingsymbol": spec["tradingsymbol"],
                "validity": "DAY", "product": spec["product"], "order_type": spec["order_type"],
                "transaction_type": spec["transaction_type"], "quantity": spec["quantity"], "price": spec["price"],
                "meta": json.dumps({"app_id": 12617, "gtt": trigger_id}), "timestamp": "2026-11-25 11:02:03",
                "triggered_at": price, "order_result": {"status": "success", "order_id": order_id,
                                                        "rejection_reason": ""}}
            gtt.update(status="triggered", updated_at="2026-11-25 11:02:03")
            return order_id

    # --- WSGI ---------------------------------------------------------------------------
    def __call__(self, environ: dict, start_response: Any) -> Any:
        request = Request(environ)
        self.requests_seen.append(f"{request.method} {request.path}")
        try:
            response = self._route(request)
        except KiteError as error:
            response = _json({"status": "error", "message": error.message, "error_type": error.kind}, error.code)
        return response(environ, start_response)

    def _route(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path == "/session/token" and method == "POST":
            return self._login(request.form)
        if path.startswith("/instruments"):
            return Response(INSTRUMENTS_CSV, content_type="text/csv")
        self._authorise(request)
        parts = path.strip("/").split("/")
        if path == "/orders/regular" and method == "POST":
            return self._place(request.form)
        with self._lock:
            if path == "/orders" and method == "GET":
                return _ok([history[-1] for history in self.orders.values()])
            if parts[0] == "orders" and len(parts) == 2 and method == "GET":
                return _ok(self._history(parts[1]))
            if parts[0] == "orders" and len(parts) == 3 and parts[2] == "trades":
                return _ok(self.trades.get(parts[1], []))
            if parts[:2] == ["orders", "regular"] and method == "DELETE":
                return self._cancel(parts[2])
            if parts[:2] == ["gtt", "triggers"]:
                return self._gtt(method, parts[2:], request.form)
        if path == "/user/margins":
            return _ok({"equity": {"enabled": True, "net": 500000.0,
                                   "available": {"cash": 480000.0, "live_balance": 470000.0, "collateral": 0},
                                   "utilised": {"debits": 30000.0, "exposure": 12000.0}},
                        "commodity": {"enabled": False, "net": 0, "available": {}, "utilised": {}}})
        if path == "/portfolio/positions":
            return _ok({"net": self.net_positions, "day": []})
        if path == "/portfolio/holdings":
            return _ok([{"exchange": "NSE", "tradingsymbol": "INFY", "quantity": 10, "last_price": 1500.0}])
        if path == "/quote/ltp":
            keys = request.args.getlist("i")
            return _ok({k: {"instrument_token": 1, "last_price": self.prices[k]} for k in keys if k in self.prices})
        if path == "/quote":
            return _ok({k: self._quote(k) for k in request.args.getlist("i") if k in self.prices})
        raise KiteError(404, "GeneralException", f"route not found: {method} {path}")

    # --- endpoints ----------------------------------------------------------------------
    def _login(self, form: Any) -> Response:
        expected = hashlib.sha256(f"{self.api_key}{self.request_token}{self.api_secret}".encode()).hexdigest()
        if form.get("api_key") != self.api_key or form.get("checksum") != expected:
            raise KiteError(403, "TokenException", "Invalid `checksum`.")
        token = f"access_{len(self.access_tokens) + 1}_{hashlib.sha1(expected.encode()).hexdigest()[:8]}"
        self.access_tokens.add(token)
        return _ok({"user_id": "AB1234", "access_token": token, "login_time": "2026-11-25 09:00:00",
                    "api_key": self.api_key})

    def _authorise(self, request: Request) -> None:
        header = request.headers.get("Authorization", "")
        if request.headers.get("X-Kite-Version") != "3":
            raise KiteError(400, "InputException", "X-Kite-Version header missing")
        if not header.startswith(f"token {self.api_key}:") or header.split(":", 1)[1] not in self.access_tokens:
            raise KiteError(403, "TokenException", "Incorrect `api_key` or `access_token`.")

    def _place(self, form: Any) -> Response:
        """Placements overlap as at Kite (each takes ``place_seconds``); the book changes one at a time."""
        with self._gauge:
            self.placing_now += 1
            self.most_placing_at_once = max(self.most_placing_at_once, self.placing_now)
        try:
            time.sleep(self.place_seconds)
            with self._lock:
                return self._place_now(form)
        finally:
            with self._gauge:
                self.placing_now -= 1

    def _place_now(self, form: Any) -> Response:
        behaviour = self.next_behaviours.pop(0) if self.next_behaviours else "fill"
        if behaviour == "fail_5xx":
            raise KiteError(502, "NetworkException", "Gateway timed out")
        for name in ("exchange", "tradingsymbol", "transaction_type", "quantity", "product", "order_type"):
            if not form.get(name):
                raise KiteError(400, "InputException", f"Missing `{name}`")
        if form["order_type"] == "LIMIT" and not form.get("price"):
            raise KiteError(400, "InputException", "Invalid `price`: a LIMIT order needs a price")
        if len(form.get("tag", "")) > 20:
            raise KiteError(400, "InputException", "Tag length cannot be more than 20 characters")
        self.placements.append(dict(form))
        order_id, base = self._new_order(form)
        if behaviour == "reject":
            self.orders[order_id].append({**base, "status": "REJECTED",
                                          "status_message": "Insufficient funds. Required margin is 95000"})
        elif behaviour in ("fill", "timeout"):
            self._trade(order_id, base, int(form["quantity"]))
        elif behaviour == "partial":
            self._trade(order_id, base, int(form["quantity"]) // 3 or 1)
        if behaviour == "timeout":
            self._answer_late()
        return _ok({"order_id": order_id})

    def _new_order(self, form: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """An order in Kite's book, received and open."""
        order_id = str(next(self._ids))
        base = {"order_id": order_id, "tag": form.get("tag"), "tags": [form.get("tag")] if form.get("tag") else None,
                "exchange": form["exchange"], "tradingsymbol": form["tradingsymbol"],
                "transaction_type": form["transaction_type"], "quantity": int(form["quantity"]),
                "product": form["product"], "order_type": form["order_type"], "price": float(form.get("price") or 0),
                "trigger_price": float(form.get("trigger_price") or 0), "filled_quantity": 0,
                "pending_quantity": int(form["quantity"]), "average_price": 0, "status_message": None,
                "order_timestamp": "2026-11-25 09:15:00", "variety": "regular"}
        self.orders[order_id] = [{**base, "status": "PUT ORDER REQ RECEIVED"}, {**base, "status": "OPEN"}]
        return order_id, base

    def _quote(self, key: str) -> dict[str, Any]:
        price = self.prices[key]
        now_ist = (datetime.now(UTC) + timedelta(hours=5, minutes=30)).strftime("%Y-%m-%d %H:%M:%S")
        return {"instrument_token": TOKENS.get(key, 0), "timestamp": self.quote_time or now_ist,
                "last_trade_time": self.last_trade_time or self.quote_time or now_ist, "last_price": price,
                "last_quantity": 1, "buy_quantity": 0,
                "sell_quantity": 0, "volume": 0, "average_price": price, "oi": 0, "oi_day_high": 0, "oi_day_low": 0,
                "net_change": 0, "lower_circuit_limit": round(price * 0.9, 2),
                "upper_circuit_limit": round(price * 1.1, 2),
                "ohlc": {"open": price, "high": price, "low": price, "close": price}, "depth": {"buy": [], "sell": []}}

    def _gtt(self, method: str, rest: list[str], form: Any) -> Response:
        if not rest and method == "POST":
            return self._place_gtt(form)
        if not rest and method == "GET":
            return _ok(list(self.gtts.values()))
        if len(rest) != 1 or not rest[0].isdigit() or int(rest[0]) not in self.gtts:
            raise KiteError(400, "InputException", "Invalid trigger ID.")
        gtt = self.gtts[int(rest[0])]
        if method == "GET":
            return _ok(gtt)
        if method == "DELETE":
            if gtt["status"] != "active":
                raise KiteError(400, "InputException", f"Trigger cannot be deleted as it is {gtt['status']}.")
            gtt.update(status="deleted", updated_at="2026-11-25 10:30:00")
            self.gtt_deletions.append(gtt["id"])
            return _ok({"trigger_id": gtt["id"]})
        raise KiteError(405, "InputException", f"{method} not allowed on a trigger")

    def _place_gtt(self, form: Any) -> Response:
        behaviour = self.next_gtt_behaviours.pop(0) if self.next_gtt_behaviours else "ok"
        if behaviour == "fail_5xx":
            raise KiteError(502, "NetworkException", "Gateway timed out")
        kind, condition, orders = form.get("type"), json.loads(form.get("condition") or "{}"), json.loads(
            form.get("orders") or "[]")
        legs = {"single": 1, "two-leg": 2}.get(kind)
        values, last = condition.get("trigger_values") or [], float(condition.get("last_price") or 0)
        key = f"{condition.get('exchange')}:{condition.get('tradingsymbol')}"
        if legs is None or len(values) != legs or len(orders) != legs:
            raise KiteError(400, "InputException", "Invalid `type`, `trigger_values` or `orders`.")
        if key not in TOKENS or last <= 0:
            raise KiteError(400, "InputException", f"Invalid instrument or last price for {key}.")
        if (legs == 2 and not values[0] < last < values[1]) or (legs == 1 and values[0] == last):
            raise KiteError(400, "InputException", "Trigger values must lie on either side of the last price.")
        for order in orders:
            if order.get("order_type") != "LIMIT" or int(order.get("quantity", 0)) < 1 or order.get("product") not in (
                    "CNC", "NRML", "MIS"):
                raise KiteError(400, "InputException", "GTT orders must be LIMIT with a quantity and a product.")
        trigger_id = next(self._gtt_ids)
        self.gtt_placements.append(dict(form))
        self.gtts[trigger_id] = {
            "id": trigger_id, "user_id": "AB1234", "parent_trigger": None, "type": kind,
            "created_at": "2026-11-25 09:15:02", "updated_at": "2026-11-25 09:15:02",
            "expires_at": "2027-11-25 09:15:02", "status": "active",
            "condition": {**condition, "instrument_token": TOKENS[key]},
            "orders": [{**order, "result": None} for order in orders], "meta": None}
        if behaviour == "timeout":
            self._answer_late()
        return _ok({"trigger_id": trigger_id})

    def _answer_late(self) -> None:
        """Accepted, but the answer arrives after the client gave up (the lock is held by the caller)."""
        self._lock.release()
        try:
            time.sleep(self.stall_seconds)
        finally:
            self._lock.acquire()

    def _trade(self, order_id: str, base: dict[str, Any], quantity: int, at: float | None = None) -> None:
        key = f"{base['exchange']}:{base['tradingsymbol']}"
        price = at or base["price"] or self.prices.get(key, 100.0)
        trades = self.trades.setdefault(order_id, [])
        trades.append({"trade_id": f"T{order_id[-6:]}{len(trades) + 1}", "order_id": order_id,
                       "exchange": base["exchange"], "tradingsymbol": base["tradingsymbol"],
                       "transaction_type": base["transaction_type"], "quantity": quantity, "average_price": price,
                       "fill_timestamp": "2026-11-25 09:15:01"})
        filled = sum(t["quantity"] for t in trades)
        status = "COMPLETE" if filled >= int(base["quantity"]) else "OPEN"
        self.orders[order_id].append({**self.orders[order_id][-1], "status": status, "filled_quantity": filled,
                                      "pending_quantity": int(base["quantity"]) - filled, "average_price": price})

    def _history(self, order_id: str) -> list[dict[str, Any]]:
        if order_id not in self.orders:
            raise KiteError(400, "InputException", "Invalid `order_id`.")
        return self.orders[order_id]

    def _cancel(self, order_id: str) -> Response:
        latest = self._history(order_id)[-1]
        if latest["status"] not in ("OPEN", "TRIGGER PENDING"):
            raise KiteError(400, "OrderException", f"Order cannot be cancelled as it is {latest['status']}")
        self.orders[order_id].append({**latest, "status": "CANCELLED", "status_message": "Cancelled by user"})
        return _ok({"order_id": order_id})


class KiteError(Exception):
    def __init__(self, code: int, kind: str, message: str):
        super().__init__(message)
        self.code, self.kind, self.message = code, kind, message


def _ok(data: Any) -> Response:
    return _json({"status": "success", "data": data}, 200)


def _json(body: Any, status: int) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


@contextmanager
def running(fake: FakeKite) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, fake, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
