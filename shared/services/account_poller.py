"""Account poller: refresh each account's snapshot from its broker.

Cerebro never calls a broker for account data; it reads the latest snapshot and
checks its age. Cloud Scheduler drives this in GCP; the embedded stack runs it
on a timer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from shared.domain.models import Account, Collections, Topics
from shared.ports.broker import BrokerClient, BrokerError
from shared.ports.bus import Bus
from shared.ports.store import Store

log = logging.getLogger(__name__)


class AccountPoller:
    def __init__(self, store: Store, brokers: Mapping[str, BrokerClient], bus: Bus):
        self._store = store
        self._brokers = brokers
        self._bus = bus

    def poll_all(self) -> dict[str, str]:
        """Returns account id -> 'ok' or the reason it could not be refreshed."""
        results = {}
        for document in self._store.query(Collections.ACCOUNTS):
            account = Account.model_validate(document)
            results[account.account_id] = self.poll(account)
        return results

    def poll(self, account: Account) -> str:
        broker = self._brokers.get(account.broker.value)
        if broker is None:
            return f"no {account.broker.value} broker configured"
        try:
            snapshot = broker.account_snapshot(account.account_id)
        except BrokerError as error:
            log.warning("snapshot of %s failed: %s", account.account_id, error)
            if getattr(error, "session_expired", False):
                # Cerebro will refuse this account once its snapshot ages: tell a human now.
                self._bus.publish(Topics.NOTIFICATIONS, {"kind": "broker_session_expired",
                                                         "broker": account.broker.value,
                                                         "account_id": account.account_id})
            return str(error)
        self._store.update(Collections.ACCOUNTS, account.account_id,
                           {"snapshot": snapshot.model_dump(mode="json")})
        return "ok"
