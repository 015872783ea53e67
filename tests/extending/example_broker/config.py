"""The paper venue's settings: its accounts and its commission, from the fund's ``Settings``
(PAPER_VENUE_ACCOUNTS, PAPER_VENUE_COMMISSION); None when no account is configured."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.config import Settings


@dataclass(frozen=True)
class PaperVenueConfig:
    accounts: dict[str, float]  # account id -> opening cash, in USD
    commission_per_order: float = 1.0


def paper_venue_config(settings: Settings) -> PaperVenueConfig | None:
    if not settings.paper_venue_accounts:
        return None
    accounts = json.loads(settings.paper_venue_accounts)
    return PaperVenueConfig(accounts={account: float(cash) for account, cash in accounts.items()},
                            commission_per_order=settings.paper_venue_commission)
