"""Zerodha (Kite Connect) adapter: config, instruments, parsing, session, execution, GTT brackets."""

from .brackets import ZERODHA_GTTS, GttBrackets
from .config import ZerodhaAccountConfig, ZerodhaConfig
from .execution import ZerodhaBroker, load_instruments
from .instruments import InstrumentBook, KiteInstrument, specs_from_dump
from .session import ZerodhaSessionExpired, ZerodhaSessions
from .tokens import TokenCipher, TokenKeyError

__all__ = [
           "ZERODHA_GTTS",
           "GttBrackets",
           "InstrumentBook",
           "KiteInstrument",
           "TokenCipher",
           "TokenKeyError",
           "ZerodhaAccountConfig",
           "ZerodhaBroker",
           "ZerodhaConfig",
           "ZerodhaSessionExpired",
           "ZerodhaSessions",
           "load_instruments",
           "specs_from_dump",
]
