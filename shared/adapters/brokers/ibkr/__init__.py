"""Interactive Brokers through ib_async, inside the gateway VM's bridge (config, connection,
parsing, execution: the same file set as the Zerodha adapter; market data and the contract
importer beside them)."""

from .config import IbkrConfig
from .connection import IbkrConnection
from .execution import IbkrBroker
from .instruments import ContractImportError, spec_from_details, specs_from_contract_details

__all__ = ["ContractImportError", "IbkrBroker", "IbkrConfig", "IbkrConnection", "spec_from_details",
           "specs_from_contract_details"]
