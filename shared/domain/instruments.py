"""The instrument master: one canonical record per tradable instrument.

Alerts spell one instrument many ways (``AAPL``, ``NASDAQ:AAPL``; ``ES1!``,
``CME_MINI:ES1!``, ``ESZ2026``). Each spelling is an alias of one canonical key, so
every alert about an instrument lands in one book. Nothing is guessed: a ticker
that is no alias is unknown, and a multiplier comes only from here.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, model_validator

from .models import AssetClass, Instrument

_ALIAS = re.compile(r"^[A-Z0-9_.!&\-]{1,30}(:[A-Z0-9_.!&\-]{1,40})?$")
# exchange_calendars codes (and its '24/5' and '24/7') an instrument may trade on.
KNOWN_CALENDARS = ("XNYS", "XNAS", "CMES", "XBOM", "24/5", "24/7")


def normalise_alias(text: str) -> str:
    return text.strip().upper()


class InstrumentSpec(BaseModel):
    """What the fund knows about one instrument (a document in ``instruments``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: Annotated[str, Field(min_length=1, max_length=60)]  # canonical: EXCHANGE:SYMBOL
    symbol: Annotated[str, Field(min_length=1, max_length=40)]
    exchange: Annotated[str, Field(min_length=1, max_length=20)]
    asset_class: AssetClass
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    multiplier: PositiveFloat  # required: a default of 1 once made an E-mini look 50 times smaller
    tick_size: PositiveFloat
    lot_size: PositiveFloat = 1.0
    aliases: list[str] = Field(default_factory=list)
    # Per-broker identifiers, e.g. {"ibkr": {"con_id": 265598, "sec_type": "STK"},
    # "zerodha": {"tradingsymbol": "RELIANCE", "exchange": "NSE"}, "mock": {"symbol": "AAPL"}}.
    broker_ids: dict[str, dict[str, Any]] = Field(default_factory=dict)
    calendar: str  # an exchange_calendars code, or '24/5' / '24/7'
    description: str = ""
    updated_at: datetime | None = None
    updated_by: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> InstrumentSpec:
        if self.key != f"{self.exchange}:{self.symbol}":
            raise ValueError(f"key must be EXCHANGE:SYMBOL ({self.exchange}:{self.symbol})")
        if self.calendar not in KNOWN_CALENDARS:
            raise ValueError(f"calendar must be one of {', '.join(KNOWN_CALENDARS)}")
        for alias in self.all_aliases:
            if not _ALIAS.match(alias):
                raise ValueError(f"alias {alias!r} is not a ticker (letters, digits, _.!&- and one ':')")
        return self

    @property
    def all_aliases(self) -> list[str]:
        """Every spelling that resolves here: the key, the bare symbol and the listed aliases."""
        spelled = [self.key, self.symbol, *self.aliases]
        return list(dict.fromkeys(normalise_alias(a) for a in spelled))

    @property
    def instrument(self) -> Instrument:
        return Instrument(symbol=self.symbol, exchange=self.exchange, asset_class=self.asset_class,
                          currency=self.currency, multiplier=self.multiplier, tick_size=self.tick_size,
                          lot_size=self.lot_size)

    def document(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def alias_candidates(ticker: str, exchange: str | None) -> list[str]:
    """The spellings to look up for an alert's ticker (and exchange, when sent apart)."""
    ticker = normalise_alias(ticker)
    candidates = []
    if exchange and ":" not in ticker:
        candidates.append(f"{normalise_alias(exchange)}:{ticker}")
    candidates.append(ticker)
    return candidates


def alias_doc_id(alias: str) -> str:
    return alias.replace("/", "_")


class InstrumentMaster:
    """An in-memory index of specs by alias: for seeding, importers and tests."""

    def __init__(self, specs: list[InstrumentSpec] | None = None):
        self._by_key: dict[str, InstrumentSpec] = {}
        self._by_alias: dict[str, str] = {}
        for spec in specs or []:
            self.add(spec)

    def add(self, spec: InstrumentSpec) -> None:
        for alias in spec.all_aliases:
            owner = self._by_alias.get(alias)
            if owner is not None and owner != spec.key:
                raise ValueError(f"alias {alias} already names {owner}")
        self._by_key[spec.key] = spec
        for alias in spec.all_aliases:
            self._by_alias[alias] = spec.key

    def resolve(self, ticker: str, exchange: str | None = None) -> InstrumentSpec | None:
        for candidate in alias_candidates(ticker, exchange):
            if candidate in self._by_alias:
                return self._by_key[self._by_alias[candidate]]
        return None

    def specs(self) -> list[InstrumentSpec]:
        return sorted(self._by_key.values(), key=lambda s: s.key)
