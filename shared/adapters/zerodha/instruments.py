"""TradingView tickers to Kite instruments, from Kite's instruments CSV.

``RELIANCE`` or ``NSE:RELIANCE`` is the NSE equity; ``NIFTY1!`` is TradingView's
continuous future, the nearest NFO (or MCX) FUT expiry; ``NIFTY2!`` the next one.
For F&O our order quantity counts lots; Kite counts units, so it is multiplied by
the lot size.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

from shared.domain.models import Instrument
from shared.ports.broker import BrokerError

_FUTURES_EXCHANGE = {"NSE": "NFO", "BSE": "BFO", "MCX": "MCX", "NFO": "NFO", "BFO": "BFO", None: "NFO"}


@dataclass(frozen=True)
class KiteInstrument:
    exchange: str
    tradingsymbol: str
    lot_size: int
    tick_size: float
    instrument_type: str
    expiry: date | None

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
                                 instrument_type=record["instrument_type"], expiry=expiry)
            book._by_key[row.key] = row
            if row.instrument_type == "FUT" and expiry is not None:
                book._futures.setdefault((row.exchange, record["name"].upper()), []).append(row)
        for contracts in book._futures.values():
            contracts.sort(key=lambda r: r.expiry or date.max)
        return book

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
