"""Account poller: refresh each account's snapshot from its broker.

Cerebro never calls a broker for account data; it reads the latest snapshot and
checks its age. Cloud Scheduler drives this in GCP; the embedded stack runs it
on a timer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from shared.domain.messages import NotificationKind, NotificationMessage
from shared.domain.models import Account, AccountSnapshot, Collections, RiskLimits, Topics
from shared.domain.reconciliation import find_breaks, our_net_positions
from shared.ports.broker import BrokerClient, BrokerError, BrokerSessionExpired
from shared.ports.bus import Bus
from shared.ports.store import Store
from shared.services.execution_service import BRIDGED
from shared.services.risk_context import fund_limits, loss_limit_breached

log = logging.getLogger(__name__)
RECONCILIATION_BREAKS = Collections.RECONCILIATION_BREAKS


class AccountPoller:
    def __init__(self, store: Store, brokers: Mapping[str, BrokerClient], bus: Bus, only_configured: bool = False,
                 limits: RiskLimits | None = None):
        """``only_configured``: poll only accounts at the brokers given (the IBKR bridge's poller)."""
        self._store = store
        self._brokers = brokers
        self._bus = bus
        self._only_configured = only_configured
        self._limits = limits or RiskLimits()

    def poll_all(self) -> dict[str, str]:
        """Returns account id -> 'ok' or the reason it could not be refreshed."""
        results = {}
        for document in self._store.query(Collections.ACCOUNTS):
            account = Account.model_validate(document)
            if account.broker not in self._brokers and (self._only_configured or account.broker in BRIDGED):
                continue  # polled where its connection lives (IBKR: the gateway VM's bridge)
            results[account.account_id] = self.poll(account)
        return results

    def poll(self, account: Account) -> str:
        broker = self._brokers.get(account.broker)
        if broker is None:
            return f"no {account.broker} broker configured"
        try:
            snapshot = broker.account_snapshot(account.account_id)
        except BrokerSessionExpired as error:
            log.warning("snapshot of %s failed: %s", account.account_id, error)
            # Cerebro will refuse this account once its snapshot ages: tell a human now.
            self._bus.publish(Topics.NOTIFICATIONS, NotificationMessage.of(
                NotificationKind.BROKER_SESSION_EXPIRED, broker=account.broker,
                account_id=account.account_id).model_dump(mode="json"))
            return str(error)
        except BrokerError as error:
            log.warning("snapshot of %s failed: %s", account.account_id, error)
            return str(error)
        self._store.update(Collections.ACCOUNTS, account.account_id,
                           {"snapshot": snapshot.model_dump(mode="json"), **self._day_fields(account, snapshot)})
        # The equity curve keeps the last point of each quarter hour.
        bucket = snapshot.as_of.replace(minute=snapshot.as_of.minute // 15 * 15).strftime("%Y-%m-%dT%H:%M")
        self._store.put(Collections.ACCOUNT_HISTORY, f"{account.account_id}|{bucket}", {
            "account_id": account.account_id, "at": snapshot.as_of.isoformat(), "equity": snapshot.equity})
        breaks = self.reconcile(account, snapshot)
        return f"ok, {breaks} reconciliation break(s)" if breaks else "ok"

    def _day_fields(self, account: Account, snapshot: AccountSnapshot) -> dict[str, Any]:
        """Start-of-day equity on the day's first snapshot; a loss beyond the daily limit puts
        the account in REDUCING for the rest of the (UTC) day, and tells a human once."""
        today = f"{snapshot.as_of:%Y-%m-%d}"
        if account.day_start is None or account.day_start.date != today:
            return {"day_start": {"date": today, "equity": snapshot.equity}}
        limits = fund_limits(self._store, self._limits)
        refreshed = account.model_copy(update={"snapshot": snapshot})
        if account.loss_limit_breached_on == today or not loss_limit_breached(refreshed, limits, snapshot.as_of):
            return {}
        self._bus.publish(Topics.NOTIFICATIONS, NotificationMessage.of(
            NotificationKind.DAILY_LOSS_LIMIT, account_id=account.account_id, equity=snapshot.equity,
            day_start_equity=account.day_start.equity, limit_pct=limits.daily_loss_limit_pct,
        ).model_dump(mode="json"))
        return {"loss_limit_breached_on": today}

    def reconcile(self, account: Account, snapshot: AccountSnapshot) -> int:
        """Record each difference between the broker's net positions and ours; alert when one
        survives two polls (a fill between the broker's answer and our record is not a break)."""
        ours = our_net_positions(self._store.query(Collections.POSITIONS, where={"account_id": account.account_id}))
        found = {b.instrument_key: b for b in find_breaks(account.account_id, snapshot.positions, ours)}
        now = snapshot.as_of.isoformat()
        for record in self._store.query(RECONCILIATION_BREAKS, where={"account_id": account.account_id,
                                                                      "open": True}):
            if record["instrument_key"] not in found:
                self._store.update(RECONCILIATION_BREAKS, record["break_id"], {"open": False, "resolved_at": now})
        for key, difference in found.items():
            break_id = f"{account.account_id}:{key}"
            previous = self._store.get(RECONCILIATION_BREAKS, break_id) or {}
            same = previous.get("open") and (previous["broker_quantity"], previous["our_quantity"]) == (
                difference.broker_quantity, difference.our_quantity)
            seen = previous.get("polls", 0) + 1 if same else 1
            self._store.put(RECONCILIATION_BREAKS, break_id, {
                "break_id": break_id, "account_id": account.account_id, "instrument_key": key,
                "broker_quantity": difference.broker_quantity, "our_quantity": difference.our_quantity,
                "open": True, "polls": seen, "first_seen": previous.get("first_seen", now) if same else now,
                "last_seen": now,
            })
            if seen == 2:
                # Cloud Monitoring's reconciliation_breaks metric counts this line (monitoring.tf).
                log.warning("reconciliation break in %s on %s: broker %s, ours %s", account.account_id, key,
                            difference.broker_quantity, difference.our_quantity)
                self._bus.publish(Topics.NOTIFICATIONS, NotificationMessage.of(
                    NotificationKind.RECONCILIATION_BREAK, account_id=account.account_id, symbol=key,
                    broker_quantity=difference.broker_quantity, our_quantity=difference.our_quantity,
                ).model_dump(mode="json"))
        return len(found)
