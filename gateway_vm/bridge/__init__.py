"""The IBKR bridge: one long-lived ib_async connection on the gateway VM, between Pub/Sub
and IB Gateway."""

from .service import IbkrBridge

__all__ = ["IbkrBridge"]
