"""Turn fund events into Telegram messages, at most N per chat per minute.

Events arrive on the `notifications` topic (fills, rejections, reconciliation
breaks, broker session expiry, daily summary requests) and from the dead-letter
topics. The per-chat budget lives in the store, so it holds across function
instances; a message over budget raises, and Pub/Sub delivers it again later.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from shared.domain.models import Collections, Environment, OrderUpdate
from shared.ports.store import Store, Transaction

RATE_COLLECTION = "notifier_rate"
SENT_COLLECTION = "notifications_sent"


class Sender(Protocol):
    def send(self, chat_id: str, text: str) -> int: ...


class OverBudget(Exception):
    """This chat has had its messages for the current minute; deliver again later."""


class NotifierService:
    def __init__(self, store: Store, sender: Sender | None, chat_id: str, environment: Environment,
                 clock: Callable[[], datetime], per_chat_per_minute: int = 20):
        self._store = store
        self._sender = sender
        self._chat_id = chat_id
        self._environment = environment
        self._clock = clock
        self._budget = per_chat_per_minute

    def handle(self, message_id: str, data: dict[str, Any]) -> str | None:
        """Format and send one event, once; returns the text sent.

        An order update is one event however often it is republished (execution
        republishes on redelivery), so its key is its content, not the message id.
        """
        if "dead_letter" in data:  # kept for the admin's health view, whether or not Telegram is set up
            letter = data["dead_letter"]
            self._store.put(Collections.DEAD_LETTERS, message_id, {
                "source_topic": letter.get("source_topic", ""), "error": str(letter.get("error", ""))[:500],
                "at": self._clock().isoformat()})
        if self._sender is None or not self._chat_id:
            return None  # no bot configured: nothing to format
        text = self.format(data)
        if text is None:
            return None
        event_id = message_id
        if "update" in data:
            update = data["update"]
            event_id = f"{update['client_order_id']}:{update['status']}:{update.get('filled_quantity', 0)}"
        if self._environment is Environment.STAGING:
            text = f"[STAGING] {text}"
        if not self._store.create(SENT_COLLECTION, event_id, {"at": self._clock().isoformat(), "state": "sending"}):
            record = self._store.get(SENT_COLLECTION, event_id) or {}
            if record.get("state") == "sent":
                return None  # a redelivery of something already sent
        try:
            self._take_budget()
            self._sender.send(self._chat_id, text)
        except Exception:
            self._store.update(SENT_COLLECTION, event_id, {"state": "failed"})
            raise
        self._store.update(SENT_COLLECTION, event_id, {"state": "sent"})
        return text

    def format(self, data: dict[str, Any]) -> str | None:
        if "update" in data:
            return self._order_update(OrderUpdate.model_validate(data["update"]))
        if "dead_letter" in data:
            letter = data["dead_letter"]
            return f"⚠️ Dead letter from {letter['source_topic']}: {letter['error'][:300]}"
        kind = data.get("kind")
        if kind == "reconciliation_break":
            return (f"🔴 Reconciliation break in {data['account_id']}: {data['symbol']} broker "
                    f"{data['broker_quantity']:g} vs ours {data['our_quantity']:g}")
        if kind == "broker_session_expired":
            return f"🔑 {data['broker']} session expired for {data['account_id']}: log in again before trading"
        if kind == "kill_switch":
            state = "ON: no new risk" if data["enabled"] else "off: trading resumes"
            return f"🛑 Kill switch {state} ({data['changed_by']}: {data.get('reason') or 'no reason given'})"
        if kind == "flatten_all":
            return f"🧯 Flatten-all by {data['requested_by']}: {', '.join(data['strategies']) or 'nothing held'}"
        if kind == "daily_summary":
            return self.daily_summary()
        return None

    def _order_update(self, update: OrderUpdate) -> str | None:
        if update.status == "rejected":
            order = self._store.get(Collections.ORDERS, update.client_order_id) or {}
            where = f" {order.get('account_id', '')} {order.get('order', {}).get('instrument', {}).get('symbol', '')}"
            return f"❌ Order rejected{where.rstrip()}: {update.reason}"
        if update.fills:
            fill = update.fills[-1]
            total = sum(f.quantity for f in update.fills)
            return (f"✅ {fill.account_id} {fill.side.value} {total:g} {fill.instrument.symbol} @ {fill.price:g} "
                    f"({fill.strategy_id})")
        return None

    def daily_summary(self) -> str:
        since = (self._clock() - timedelta(days=1)).isoformat()
        signals = [s for s in self._store.query(Collections.SIGNALS) if s.get("received_at", "") >= since]
        fills = [f for f in self._store.query(Collections.CONFIRMATIONS) if f.get("recorded_at", "") >= since]
        rejected = sum(1 for s in signals for d in s.get("decisions", []) if d["status"] == "rejected")
        notional = sum(f["quantity"] * f["price"] * f["instrument"]["multiplier"] for f in fills)
        return (f"📊 Last 24h: {len(signals)} signals, {len(fills)} fills ({notional:,.0f} notional), "
                f"{rejected} account decisions rejected")

    def _take_budget(self) -> None:
        now = self._clock()
        window = now.replace(second=0, microsecond=0).isoformat()

        def work(tx: Transaction) -> None:
            record = tx.get(RATE_COLLECTION, self._chat_id) or {}
            used = record.get("used", 0) if record.get("window") == window else 0
            if used >= self._budget:
                raise OverBudget(f"chat has used its {self._budget} messages this minute")
            tx.set(RATE_COLLECTION, self._chat_id, {"window": window, "used": used + 1})

        self._store.transaction(work)
