"""The demo fund's paper market: a realistic instrument set listed at the Mock broker.

US equities and ETFs, CME equity-index futures (full and micro), G10 FX, and Indian
index futures and equities, each with the aliases TradingView alerts use. The marks
are round illustrative prices, not market data.
"""

from __future__ import annotations

from shared.domain.instruments import InstrumentSpec
from shared.domain.models import AssetClass


def _equity(exchange: str, symbol: str, calendar: str, price: float, currency: str = "USD",
            tick: float = 0.01, **ids: object) -> tuple[InstrumentSpec, float]:
    return InstrumentSpec(key=f"{exchange}:{symbol}", symbol=symbol, exchange=exchange, asset_class=AssetClass.EQUITY,
                          currency=currency, multiplier=1, tick_size=tick, calendar=calendar,
                          broker_ids={"mock": {"symbol": symbol}, **ids}), price


def paper_equity(exchange: str, symbol: str) -> InstrumentSpec:
    """A made-up USD equity that trades around the clock: load tests' and soak tests' paper market."""
    return InstrumentSpec(key=f"{exchange}:{symbol}", symbol=symbol, exchange=exchange, asset_class=AssetClass.EQUITY,
                          currency="USD", multiplier=1, tick_size=0.01, calendar="24/7")


def _future(root: str, multiplier: float, tick: float, price: float, aliases: list[str],
            exchange: str = "CME", currency: str = "USD", calendar: str = "CMES") -> tuple[InstrumentSpec, float]:
    symbol = f"{root}1!"
    return InstrumentSpec(key=f"{exchange}:{symbol}", symbol=symbol, exchange=exchange, asset_class=AssetClass.FUTURE,
                          currency=currency, multiplier=multiplier, tick_size=tick, calendar=calendar,
                          aliases=aliases, broker_ids={"mock": {"symbol": symbol}}), price


def _forex(pair: str, price: float, tick: float) -> tuple[InstrumentSpec, float]:
    return InstrumentSpec(key=f"FX:{pair}", symbol=pair, exchange="FX", asset_class=AssetClass.FOREX,
                          currency=pair[3:], multiplier=1, tick_size=tick, calendar="24/5",
                          aliases=[f"{venue}:{pair}" for venue in ("OANDA", "FX_IDC", "FXCM", "IDEALPRO")],
                          broker_ids={"mock": {"symbol": pair}}), price


DEMO_INSTRUMENTS: list[tuple[InstrumentSpec, float]] = [
    _equity("NASDAQ", "AAPL", "XNAS", 190.0, ibkr={"con_id": 265598, "sec_type": "STK"}),
    _equity("NASDAQ", "MSFT", "XNAS", 420.0, ibkr={"con_id": 272093, "sec_type": "STK"}),
    _equity("NASDAQ", "NVDA", "XNAS", 130.0, ibkr={"con_id": 4815747, "sec_type": "STK"}),
    _equity("NASDAQ", "QQQ", "XNAS", 480.0),
    _equity("NYSEARCA", "SPY", "XNYS", 560.0, ibkr={"con_id": 756733, "sec_type": "STK"}),
    _equity("NYSEARCA", "IWM", "XNYS", 225.0),
    _future("ES", 50, 0.25, 5800.0, ["CME_MINI:ES1!", "ESZ2026", "CME:ESZ2026"]),
    _future("NQ", 20, 0.25, 20500.0, ["CME_MINI:NQ1!", "NQZ2026", "CME:NQZ2026"]),
    _future("MES", 5, 0.25, 5800.0, ["CME_MINI:MES1!", "MESZ2026", "CME:MESZ2026"]),
    _future("MNQ", 2, 0.25, 20500.0, ["CME_MINI:MNQ1!", "MNQZ2026", "CME:MNQZ2026"]),
    _forex("EURUSD", 1.08, 0.00001),
    _forex("GBPUSD", 1.27, 0.00001),
    _forex("USDJPY", 150.2, 0.001),
    # Indian index futures: our quantity counts lots, so the multiplier is the lot size.
    _future("NIFTY", 75, 0.05, 24000.0, ["NFO:NIFTY1!", "NIFTY26NOVFUT", "NFO:NIFTY26NOVFUT"], exchange="NSE",
            currency="INR", calendar="XBOM"),
    _future("BANKNIFTY", 30, 0.05, 51000.0, ["NFO:BANKNIFTY1!", "BANKNIFTY26NOVFUT", "NFO:BANKNIFTY26NOVFUT"],
            exchange="NSE", currency="INR", calendar="XBOM"),
    _equity("NSE", "RELIANCE", "XBOM", 1300.0, currency="INR", tick=0.05,
            zerodha={"tradingsymbol": "RELIANCE", "exchange": "NSE"}),
    _equity("NSE", "INFY", "XBOM", 1500.0, currency="INR", tick=0.05,
            zerodha={"tradingsymbol": "INFY", "exchange": "NSE"}),
]

# Rates the paper market quotes for pairs it does not list as instruments.
DEMO_FX_RATES = {"USDINR": 84.5}
