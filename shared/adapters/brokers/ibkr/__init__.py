"""Interactive Brokers through ib_async, inside the gateway VM's bridge (config, parsing,
execution, factory: the file set every broker has; the connection, market data and the
contract importer beside them). A remote broker: elsewhere its orders go to its bridge's topic."""

from .config import IbkrConfig
from .connection import IbkrConnection
from .execution import IbkrBroker
from .instruments import ContractImportError, spec_from_details, specs_from_contract_details

__all__ = ["ContractImportError", "IbkrBroker", "IbkrConfig", "IbkrConnection", "spec_from_details",
           "specs_from_contract_details"]
