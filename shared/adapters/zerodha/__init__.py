"""Zerodha (Kite Connect) adapter: config, instruments, parsing, session, execution."""

from .config import ZerodhaAccountConfig, ZerodhaConfig
from .execution import ZerodhaBroker, load_instruments
from .instruments import InstrumentBook, KiteInstrument
from .session import ZerodhaSessionExpired, ZerodhaSessions

__all__ = ["InstrumentBook", "KiteInstrument", "ZerodhaAccountConfig", "ZerodhaBroker", "ZerodhaConfig",
           "ZerodhaSessionExpired", "ZerodhaSessions", "load_instruments"]
