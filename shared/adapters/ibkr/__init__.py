"""Interactive Brokers through ib_async, inside the gateway VM's bridge (config, connection,
parsing, execution: the same file set as the Zerodha adapter)."""

from .config import IbkrConfig
from .connection import IbkrConnection
from .execution import IbkrBroker

__all__ = ["IbkrBroker", "IbkrConfig", "IbkrConnection"]
