"""Turn fund events into Telegram messages, at most N per chat per minute.

Events arrive on the `notifications` topic (fills, rejections, reconciliation
breaks, broker session expiry, daily summary requests, risk refusals) and from
the dead-letter topics. The per-chat budget lives in the store, so it holds across
function instances; a message over budget raises, and Pub/Sub delivers it again later.

Risk refusals come in bursts (one signal refused for many accounts, or a strategy
refused on every signal), so they are grouped: the first is sent at once and opens
a digest window in the store; refusals inside the window are only counted; the
next ``flush_risk_refusals`` tick after the window (or the next refusal after it)
sends one summary. A closed window's summary stays in the store until it has been
sent, so a failed send (budget, Telegram down) is retried by the next flush.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol

from shared.domain.models import Collections, DecisionStatus, Environment, OrderStatus, OrderUpdate
from shared.notify.auth_alerts import KINDS as AUTH_ALERT_KINDS
from shared.notify.auth_alerts import auth_alert_text
from shared.ports.store import Store, Transaction

RATE_COLLECTION = Collections.NOTIFIER_RATE
SENT_COLLECTION = Collections.NOTIFICATIONS_SENT
RISK_DIGEST_COLLECTION = Collections.RISK_REFUSAL_DIGEST
RISK_DIGEST_SECONDS = 60
RISK_DIGEST_LEASE_SECONDS = 30  # a digest another instance is sending is left to it this long
RISK_DIGEST_EXAMPLES = 3
TELEGRAM_MAX_CHARS = 4000  # Telegram refuses texts over 4096 characters


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
        kind = data.get("kind")
        if kind == "risk_refusal":
            return self._risk_refusal(message_id, data)
        if kind == "flush_risk_refusals":
            return _joined(self._send_digests(self._store.transaction(self._close_ended_window)))
        text = self.format(data)
        if text is None:
            return None
        event_id = message_id
        if "update" in data:
            update = data["update"]
            event_id = f"{update['client_order_id']}:{update['status']}:{update.get('filled_quantity', 0)}"
        return self._deliver(event_id, text)

    def _deliver(self, event_id: str, text: str) -> str | None:
        """Send once per event id; a redelivery of a failed or unfinished send sends again."""
        if not self._store.create(SENT_COLLECTION, event_id, {"at": self._clock().isoformat(), "state": "sending"}):
            record = self._store.get(SENT_COLLECTION, event_id) or {}
            if record.get("state") == "sent":
                return None  # a redelivery of something already sent
        return self._send_now(event_id, text)

    def _send_now(self, event_id: str, text: str) -> str:
        """Spend budget and send; the event's record says whether it went."""
        assert self._sender is not None
        if self._environment is Environment.STAGING:
            text = f"[STAGING] {text}"
        text = _clip(text, TELEGRAM_MAX_CHARS)
        try:
            self._take_budget()
            self._sender.send(self._chat_id, text)
        except Exception:
            self._store.update(SENT_COLLECTION, event_id, {"state": "failed"})
            raise
        self._store.update(SENT_COLLECTION, event_id, {"state": "sent"})
        return text

    # Risk refusals: the first at once, the rest of its window as one digest.

    def _risk_refusal(self, message_id: str, data: dict[str, Any]) -> str | None:
        """Send the refusal at once if it opens a window, else count it in the open one."""
        text = self.format(data)
        if text is None:
            return None
        now = self._clock()

        def work(tx: Transaction) -> tuple[bool, list[dict[str, Any]]]:
            marker = tx.get(SENT_COLLECTION, message_id)
            digest = tx.get(RISK_DIGEST_COLLECTION, self._chat_id) or {"open": None, "unsent": []}
            if marker is not None:  # a redelivery: counted already, or the window's lead (resent unless sent)
                return marker.get("state") != "digested", digest["unsent"]
            window = digest["open"]
            if window is not None and now < datetime.fromisoformat(window["until"]):
                _count(window["summary"], data)
                tx.set(SENT_COLLECTION, message_id, {"at": now.isoformat(), "state": "digested",
                                                     "digest": window["id"]})
                tx.set(RISK_DIGEST_COLLECTION, self._chat_id, digest)
                return False, digest["unsent"]
            _close(digest)
            digest["open"] = {"id": message_id, "opened_at": now.isoformat(),
                              "until": (now + timedelta(seconds=RISK_DIGEST_SECONDS)).isoformat(),
                              "summary": _empty_summary()}
            tx.set(SENT_COLLECTION, message_id, {"at": now.isoformat(), "state": "sending"})
            tx.set(RISK_DIGEST_COLLECTION, self._chat_id, digest)
            return True, digest["unsent"]

        lead, unsent = self._store.transaction(work)
        sent = self._send_digests(unsent)  # the earlier window's summary before this new refusal
        if lead:
            sent.append(self._deliver(message_id, text))
        return _joined(sent)

    def _close_ended_window(self, tx: Transaction) -> list[dict[str, Any]]:
        """Move a window whose time is up to the unsent summaries; returns them all."""
        digest = tx.get(RISK_DIGEST_COLLECTION, self._chat_id)
        if digest is None:
            return []
        window = digest["open"]
        if window is not None and self._clock() >= datetime.fromisoformat(window["until"]):
            _close(digest)
            tx.set(RISK_DIGEST_COLLECTION, self._chat_id, digest)
        unsent: list[dict[str, Any]] = digest["unsent"]
        return unsent

    def _send_digests(self, batches: list[dict[str, Any]]) -> list[str | None]:
        """Send each closed window's summary once, then drop it from the store.

        A summary stays in the store until it has gone, so it needs no redelivery to
        be retried; one being sent by another instance is left to it for a lease.
        """
        sent: list[str | None] = []
        for batch in batches:
            event_id = f"risk_digest:{self._chat_id}:{batch['id']}"
            state = self._store.transaction(partial(self._claim, event_id=event_id))
            if state == "busy":
                continue
            if state == "claimed":
                sent.append(self._send_now(event_id, self.risk_digest(batch)))
            self._store.transaction(partial(self._drop_unsent, batch_id=batch["id"]))
        return sent

    def _claim(self, tx: Transaction, event_id: str) -> str:
        now = self._clock()
        record = tx.get(SENT_COLLECTION, event_id) or {}
        if record.get("state") == "sent":
            return "sent"
        if (record.get("state") == "sending"
                and now - datetime.fromisoformat(record["at"]) < timedelta(seconds=RISK_DIGEST_LEASE_SECONDS)):
            return "busy"
        tx.set(SENT_COLLECTION, event_id, {"at": now.isoformat(), "state": "sending"})
        return "claimed"

    def _drop_unsent(self, tx: Transaction, batch_id: str) -> None:
        digest = tx.get(RISK_DIGEST_COLLECTION, self._chat_id)
        if digest is not None:
            digest["unsent"] = [b for b in digest["unsent"] if b["id"] != batch_id]
            tx.set(RISK_DIGEST_COLLECTION, self._chat_id, digest)

    def risk_digest(self, batch: dict[str, Any]) -> str:
        """One line of counts by strategy and limit, then a few examples."""
        summary = batch["summary"]
        by_strategy: dict[str, dict[str, int]] = {}
        for group in summary["groups"]:
            by_strategy.setdefault(group["strategy_id"], {})[group["limit"]] = group["count"]
        ranked = sorted(by_strategy.items(), key=lambda item: (-sum(item[1].values()), item[0]))
        parts = []
        for strategy_id, limits in ranked:
            detail = ", ".join(f"{limit} {count}" for limit, count in
                               sorted(limits.items(), key=lambda item: (-item[1], item[0])))
            parts.append(f"{strategy_id} {sum(limits.values())} ({detail})")
        capped = f", {summary['capped']} capped" if summary["capped"] else ""
        opened = datetime.fromisoformat(batch["opened_at"]).astimezone(UTC)
        lines = [f"⚠️ {_plural(summary['refusals'], 'more risk refusal')} "
                 f"({_plural(summary['signals'], 'signal')}{capped}) within {RISK_DIGEST_SECONDS}s of the one at "
                 f"{opened:%H:%M:%S} UTC: {', '.join(parts)}"]
        lines += [f"• {example}" for example in summary["examples"]]
        if summary["signals"] > len(summary["examples"]):
            lines.append(f"… and {_plural(summary['signals'] - len(summary['examples']), 'more signal')}")
        return "\n".join(lines)

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
            return (f"🧯 Flatten-all by {data['requested_by']} ({data.get('reason') or 'no reason given'}): "
                    f"{', '.join(data['strategies']) or 'nothing held'}")
        if kind == "trading_state":
            return (f"🚦 {data['scope_id']} is now {data['state'].upper()} "
                    f"({data['changed_by']}: {data.get('reason') or 'no reason given'})")
        if kind == "daily_loss_limit":
            return (f"📉 {data['account_id']} breached its daily loss limit: equity {data['equity']:,.0f} vs "
                    f"{data['day_start_equity']:,.0f} at the start of the day (limit {data['limit_pct']:g}%). "
                    "It is REDUCING: only risk-reducing orders until tomorrow")
        if kind == "daily_summary":
            return self.daily_summary()
        if kind in AUTH_ALERT_KINDS:
            return auth_alert_text(data)
        if kind == "risk_refusal":
            line = _refusal_line(data)
            if line is None:
                return None
            verb = "refused" if any(r.get("status") != "capped" for r in data["refusals"]) else "capped"
            return f"⚠️ Risk {verb} {line}"
        return None

    def _order_update(self, update: OrderUpdate) -> str | None:
        if update.status == OrderStatus.REJECTED:
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
        rejected = sum(1 for s in signals for d in s.get("decisions", []) if d["status"] == DecisionStatus.REJECTED)
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


def _refusal_line(data: dict[str, Any]) -> str | None:
    """'momentum_us AAPL (sig_1): DEMO-CLIENT-A rejected - max_position_size: ...'; None without refusals."""
    refusals = data.get("refusals") or []
    if not refusals:
        return None
    accounts = "; ".join(f"{r['account_id']} {r.get('status', 'rejected')} - {_clip(str(r.get('reason', '')), 300)}"
                         for r in refusals)
    return f"{data['strategy_id']} {data['symbol']} ({data['signal_id']}): {accounts}"


def _limit_name(reason: str) -> str:
    """Cerebro's reasons start with the limit's name: 'max_position_size: account position ...'."""
    name, colon, _ = reason.partition(":")
    return _clip(name.strip(), 60) if colon and name.strip() else "other"


def _empty_summary() -> dict[str, Any]:
    return {"signals": 0, "refusals": 0, "capped": 0, "groups": [], "examples": []}


def _count(summary: dict[str, Any], data: dict[str, Any]) -> None:
    """Add one signal's refusals to a window's counts; the document stays small however long the burst."""
    refusals = data.get("refusals") or []
    summary["signals"] += 1
    summary["refusals"] += len(refusals)
    summary["capped"] += sum(1 for r in refusals if r.get("status") == "capped")
    for refusal in refusals:
        limit = _limit_name(str(refusal.get("reason", "")))
        group = next((g for g in summary["groups"]
                      if g["strategy_id"] == data["strategy_id"] and g["limit"] == limit), None)
        if group is None:
            summary["groups"].append({"strategy_id": data["strategy_id"], "limit": limit, "count": 1})
        else:
            group["count"] += 1
    line = _refusal_line(data)
    if line is not None and len(summary["examples"]) < RISK_DIGEST_EXAMPLES:
        summary["examples"].append(_clip(line, 300))


def _close(digest: dict[str, Any]) -> None:
    """End the open window; a window with refusals counted becomes an unsent summary."""
    window = digest["open"]
    if window is not None and window["summary"]["signals"]:
        digest["unsent"].append({"id": window["id"], "opened_at": window["opened_at"], "summary": window["summary"]})
    digest["open"] = None


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _joined(texts: list[str | None]) -> str | None:
    """handle() returns what it sent; a risk message can send a digest and a refusal."""
    sent = [t for t in texts if t]
    return "\n\n".join(sent) or None
