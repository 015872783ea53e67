"""IB's contract details as instrument master records, so nobody types a multiplier by hand.

The caller names each contract (``Stock("AAPL", "SMART", "USD")``, ``Future("ES",
"202612", "CME")``, ``ContFuture("ES", "CME")``, ``Forex("EURUSD")``) with the aliases
alerts use for it; IB answers with its details, and each becomes an InstrumentSpec keyed
EXCHANGE:SYMBOL: the listing exchange for a stock (NASDAQ:AAPL; IB's ARCA under the
master's name NYSEARCA), the exchange for a future with its IB local symbol (CME:ESZ6) or,
for IB's continuous future, TradingView's front-month spelling (CME:ES1!), FX for a
currency pair (FX:EURUSD). Nothing is guessed: a contract IB does not know, one it matches
several times, or a future without a multiplier is an error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ib_async import IB, Contract, ContractDetails
from pydantic import ValidationError

from shared.domain.instruments import InstrumentSpec
from shared.domain.models import AssetClass

from .parsing import MASTER_LISTINGS, to_contract

_ASSET_CLASSES = {"STK": AssetClass.EQUITY, "FUT": AssetClass.FUTURE, "CONTFUT": AssetClass.FUTURE,
                  "CASH": AssetClass.FOREX}
_STOCK_CALENDARS = {"NASDAQ": "XNAS", "NYSE": "XNYS", "NYSEARCA": "XNYS", "AMEX": "XNYS"}
_CME_GROUP = ("CME", "CBOT", "NYMEX", "COMEX")


class ContractImportError(ValueError):
    """One or more contracts could not become instrument records; the message names each."""


def spec_from_details(details: ContractDetails, aliases: Sequence[str] = ()) -> InstrumentSpec:
    """One IB contract as the fund's record of it."""
    c = details.contract
    if c is None or c.secType not in _ASSET_CLASSES:
        raise ContractImportError(f"{_describe(c)}: only stocks, futures and currency pairs are imported")
    if c.secType == "STK":
        exchange = MASTER_LISTINGS.get(c.primaryExchange, c.primaryExchange)
        symbol, calendar = c.symbol.replace(" ", "."), _STOCK_CALENDARS.get(exchange)  # IB's "BRK B" is BRK.B
    elif c.secType == "CASH":
        exchange, symbol, calendar = "FX", c.symbol + c.currency, "24/5"
    else:
        exchange = c.exchange
        symbol = f"{c.symbol}1!" if c.secType == "CONTFUT" else (c.localSymbol or c.symbol).replace(" ", "")
        calendar = "CMES" if exchange in _CME_GROUP else None
    if calendar is None:
        raise ContractImportError(f"{_describe(c)}: no trading calendar known for {exchange or 'no exchange'}")
    if c.multiplier:
        multiplier = float(c.multiplier)
    elif c.secType in ("STK", "CASH"):
        multiplier = 1.0
    else:  # a default once made an E-mini look 50 times smaller
        raise ContractImportError(f"{_describe(c)}: IB gives no multiplier for this future; refusing to guess one")
    try:
        return InstrumentSpec(
            key=f"{exchange}:{symbol}", symbol=symbol, exchange=exchange, asset_class=_ASSET_CLASSES[c.secType],
            currency=c.currency, multiplier=multiplier, tick_size=details.minTick, lot_size=1.0,
            aliases=list(aliases), calendar=calendar, description=details.longName,
            broker_ids={"ibkr": {"con_id": c.conId, "sec_type": c.secType, "exchange": c.exchange,
                                 "local_symbol": c.localSymbol}})
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'spec'}: {e['msg']}" for e in error.errors())
        raise ContractImportError(f"{_describe(c)}: {problems}") from None


async def specs_from_contract_details(ib: IB, requests: Sequence[tuple[Contract, Sequence[str]]]
                                      ) -> list[InstrumentSpec]:
    """A spec for each (contract, aliases) request, in order; every failure is reported at once."""
    answers = await asyncio.gather(*(ib.reqContractDetailsAsync(contract) for contract, _ in requests))
    specs, problems = [], []
    for (contract, aliases), details in zip(requests, answers, strict=True):
        if len(details) != 1:
            problems.append(f"{_describe(contract)}: IB matches {len(details)} contracts"
                            + ("; name one (expiry, exchange or conId)" if details else ""))
            continue
        try:
            specs.append(spec_from_details(details[0], aliases))
        except ContractImportError as error:
            problems.append(str(error))
    if problems:
        raise ContractImportError("; ".join(problems))
    return specs


def ibkr_contract(spec: InstrumentSpec) -> Contract:
    """The contract a spec names at IB: its conId when imported from IB, else (a continuous
    future, a record typed by hand) what its instrument's symbol makes."""
    ids = spec.broker_ids.get("ibkr") or {}
    if ids.get("sec_type") == "CONTFUT":  # the front month changes: quote what execution would trade now
        return to_contract(spec.instrument)
    if ids.get("con_id"):
        return Contract(conId=int(ids["con_id"]), exchange=str(ids.get("exchange") or ""))
    return to_contract(spec.instrument)


def _describe(contract: Contract | None) -> str:
    if contract is None:
        return "a contract"
    name = contract.localSymbol or contract.symbol or f"conId {contract.conId}"
    return f"{contract.secType or '?'} {name}" + (f" {contract.lastTradeDateOrContractMonth}"
                                                 if contract.lastTradeDateOrContractMonth else "")
