"""The broker switches of `devstack up`: --use-mock-broker and --live.

They reach the services as settings (MT_USE_MOCK_BROKER, MT_LIVE_TRADING) in every process
the stack starts, so the switch is enforced where orders are placed, not only by the CLI.
"""

from __future__ import annotations

from shared.adapters.brokers.mock import ACCOUNTS as MOCK_ACCOUNTS
from shared.bootstrap import Services
from shared.config import Settings
from shared.domain.models import Account, Collections

PAPER_CASH = 1_000_000.0  # a paper account's cash when its real account has never been polled


def switch_env(live: bool, use_mock_broker: bool) -> dict[str, str]:
    """The settings a stack's processes get: live trading is off unless --live was given."""
    return {"MT_LIVE_TRADING": "1" if live else "0", "MT_USE_MOCK_BROKER": "1" if use_mock_broker else "0"}


def broker_mode_problem(settings: Settings, live: bool, use_mock_broker: bool) -> str | None:
    """Why the stack must not start in this broker mode, or None."""
    if live and use_mock_broker:
        return "--live and --use-mock-broker contradict each other: pick one"
    if settings.zerodha_accounts and not live and not use_mock_broker:
        return ("ZERODHA_ACCOUNTS holds real-broker credentials: pass --live to trade live with them, "
                "or --use-mock-broker for a paper run")
    return None


def broker_mode(settings: Settings, live: bool, use_mock_broker: bool) -> str:
    if use_mock_broker:
        return "paper: every account's orders go to the Mock broker"
    if live and settings.zerodha_accounts:
        return "LIVE: Zerodha accounts trade with real money"
    return "default: Mock accounts trade on paper; no real-broker credentials configured"


def open_paper_accounts(services: Services) -> list[str]:
    """With --use-mock-broker, give every account configured at a real broker a Mock twin
    (same id and currency, its last known equity as cash), so its orders fill on paper."""
    if not services.settings.use_mock_broker:
        return []
    opened = []
    for document in services.store.query(Collections.ACCOUNTS):
        account = Account.model_validate(document)
        if account.broker == "mock" or services.store.get(MOCK_ACCOUNTS, account.account_id) is not None:
            continue
        cash = account.snapshot.equity if account.snapshot else PAPER_CASH
        services.mock_broker.open_account(account.account_id, cash, account.base_currency)
        opened.append(account.account_id)
    return opened
