"""TradingView tickers to Kite instruments, from Kite's instruments CSV.

``RELIANCE`` or ``NSE:RELIANCE`` is the NSE equity; ``NIFTY1!`` is TradingView's
continuous future, the nearest NFO (or MCX) FUT expiry; ``NIFTY2!`` the next one.
For F&O our order quantity counts lots; Kite counts units, so it is multiplied by
the lot size.

``specs_from_dump`` turns the same CSV into instrument-master specs. Because our F&O
quantity is in lots, such a spec has ``lot_size`` 1 and ``multiplier`` = Kite's lot
size: notional = quantity x price x multiplier holds in lots as it does in shares.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

from shared.domain.instruments import InstrumentSpec, normalise_alias
from shared.domain.models import AssetClass, Instrument
from shared.ports.broker import BrokerError

_FUTURES_EXCHANGE = {"NSE": "NFO", "BSE": "BFO", "MCX": "MCX", "NFO": "NFO", "BFO": "BFO", None: "NFO"}
_UNDERLYING_EXCHANGE = {"NFO": "NSE", "BFO": "BSE"}  # TradingView names an index future by its cash exchange
_ASSET_CLASS = {"EQ": AssetClass.EQUITY, "FUT": AssetClass.FUTURE, "CE": AssetClass.OPTION, "PE": AssetClass.OPTION}
INDIA_CALENDAR = "XBOM"  # NSE and BSE share trading days and hours


@dataclass(frozen=True)
class KiteInstrument:
    exchange: str
    tradingsymbol: str
    lot_size: int
    tick_size: float
    instrument_type: str
    expiry: date | None
    name: str = ""
    instrument_token: int = 0

    @property
    def key(self) -> str:
        return f"{self.exchange}:{self.tradingsymbol}"

    @property
    def is_derivative(self) -> bool:
        return self.instrument_type in ("FUT", "CE", "PE")


class InstrumentBook:
    def __init__(self) -> None:
        self._by_key: dict[str, KiteInstrument] = {}
        self._futures: dict[tuple[str, str], list[KiteInstrument]] = {}  # (exchange, underlying) -> by expiry

    @classmethod
    def from_csv(cls, text: str | bytes) -> InstrumentBook:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        book = cls()
        for record in csv.DictReader(io.StringIO(text.strip())):
            expiry = date.fromisoformat(record["expiry"]) if record.get("expiry") else None
            row = KiteInstrument(exchange=record["exchange"], tradingsymbol=record["tradingsymbol"],
                                 lot_size=int(record["lot_size"] or 1), tick_size=float(record["tick_size"] or 0.05),
                                 instrument_type=record["instrument_type"], expiry=expiry,
                                 name=record.get("name") or "", instrument_token=int(record["instrument_token"]))
            book._by_key[row.key] = row
            if row.instrument_type == "FUT" and expiry is not None:
                book._futures.setdefault((row.exchange, record["name"].upper()), []).append(row)
        for contracts in book._futures.values():
            contracts.sort(key=lambda r: r.expiry or date.max)
        return book

    def find(self, key: str) -> KiteInstrument | None:
        """The row for EXCHANGE:TRADINGSYMBOL, exactly as Kite spells it."""
        return self._by_key.get(key)

    def resolve(self, instrument: Instrument, today: date) -> KiteInstrument:
        symbol = instrument.symbol.upper()
        if symbol[-2:] in ("1!", "2!"):
            exchange = _FUTURES_EXCHANGE.get(instrument.exchange, instrument.exchange or "NFO")
            live = [c for c in self._futures.get((exchange, symbol[:-2]), []) if c.expiry and c.expiry >= today]
            nth = int(symbol[-2]) - 1
            if len(live) <= nth:
                raise BrokerError(f"no {exchange} future for {symbol} expiring on or after {today}")
            return live[nth]
        found = self._by_key.get(f"{instrument.exchange or 'NSE'}:{symbol}")
        if found is None:
            raise BrokerError(f"unknown Zerodha instrument {instrument.exchange or 'NSE'}:{symbol}")
        return found

    def kite_quantity(self, contract: KiteInstrument, quantity: float) -> int:
        """Whole lots (derivatives) or whole shares, rounded toward zero; below one is an error."""
        units = int(quantity) * contract.lot_size if contract.is_derivative else int(quantity)
        if units < 1:
            raise BrokerError(f"{quantity:g} is less than one {'lot' if contract.is_derivative else 'share'} "
                              f"of {contract.key}")
        return units


def specs_from_dump(csv_text: str | bytes, wanted: list[str], today: date) -> list[InstrumentSpec]:
    """Instrument-master specs for the ``wanted`` tickers (``NSE:RELIANCE``, ``NIFTY1!``, ``NFO:NIFTY26NOVFUT``).

    A continuous future's dated contract becomes an alias, so re-import after each expiry.
    Every name the dump lacks is reported at once, so a typo cannot import half a list.
    """
    return specs_from_book(InstrumentBook.from_csv(csv_text), wanted, today)


def specs_from_book(book: InstrumentBook, wanted: list[str], today: date) -> list[InstrumentSpec]:
    """As ``specs_from_dump``, from an instrument book already loaded."""
    requested = [_split(name) for name in wanted]
    specs: dict[str, InstrumentSpec] = {}
    problems = []
    for exchange, symbol in requested:
        try:
            spec = _spec(book, exchange, symbol, today, requested)
        except BrokerError as error:  # each message names the instrument
            problems.append(str(error))
            continue
        specs.setdefault(spec.key, spec)
    if problems:
        raise ValueError(f"cannot import from Kite's instruments dump: {'; '.join(problems)}")
    return list(specs.values())


def _split(name: str) -> tuple[str, str]:
    name = normalise_alias(name)
    exchange, _, symbol = name.rpartition(":")
    return exchange or "NSE", symbol


def _spec(book: InstrumentBook, exchange: str, symbol: str, today: date,
          requested: list[tuple[str, str]]) -> InstrumentSpec:
    if symbol[-2:] in ("1!", "2!"):
        contract = book.resolve(Instrument(symbol=symbol, exchange=exchange), today)
        key_exchange = _UNDERLYING_EXCHANGE.get(contract.exchange, contract.exchange)
        return InstrumentSpec(
            key=f"{key_exchange}:{symbol}", symbol=symbol, exchange=key_exchange, asset_class=AssetClass.FUTURE,
            currency="INR", multiplier=contract.lot_size, tick_size=contract.tick_size, lot_size=1,
            aliases=[f"{contract.exchange}:{symbol}", contract.key], calendar=INDIA_CALENDAR,
            broker_ids={"zerodha": {"exchange": contract.exchange, "name": contract.name,
                                    "continuous": int(symbol[-2])}},
            description=f"{contract.name} continuous future, now {contract.tradingsymbol}")
    contract = book.resolve(Instrument(symbol=symbol, exchange=exchange), today)
    if contract.instrument_type not in _ASSET_CLASS or contract.tick_size <= 0:
        raise BrokerError(f"{contract.key} is not tradable ({contract.instrument_type})")
    aliases = []
    other = f"BSE:{symbol}"
    if contract.exchange == "NSE" and book.find(other) is not None and ("BSE", symbol) not in requested:
        aliases.append(other)  # a BSE spelling trades the NSE listing unless BSE is imported itself
    derivative = contract.is_derivative
    return InstrumentSpec(
        key=contract.key, symbol=symbol, exchange=contract.exchange, asset_class=_ASSET_CLASS[contract.instrument_type],
        currency="INR", multiplier=contract.lot_size if derivative else 1, tick_size=contract.tick_size, lot_size=1,
        aliases=aliases, calendar=INDIA_CALENDAR, description=contract.name,
        broker_ids={"zerodha": {"tradingsymbol": contract.tradingsymbol, "exchange": contract.exchange,
                                "instrument_token": contract.instrument_token}})
