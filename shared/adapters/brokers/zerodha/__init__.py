"""Zerodha (Kite Connect): config, parsing, execution, factory (the file set every broker has),
with the instrument book, the daily session, its sealed tokens and GTT brackets beside them."""

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
