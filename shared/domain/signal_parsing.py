"""Turn what a strategy sends (TradingView JSON or text, HTTP API JSON) into one shape.

Pure functions: no clock, no store. Every failure is a ``SignalRejected`` that
names the offending field, so the webhook can answer with a precise 4xx.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import Refusal, RequestRejected
from .models import (
    Action,
    AssetClass,
    Environment,
    Instrument,
    OrderType,
    SignalSource,
    Sizing,
    SizingKind,
)
from .risk import MAX_ORDER_UNITS, MAX_PRICE

MAX_BODY_BYTES = 16 * 1024


class SignalRejected(RequestRejected):
    """A signal the webhook refuses."""


_ID = r"^[A-Za-z0-9_.:\-]{1,100}$"
# What a ticker may be spelled with: ASCII letters and digits, and the punctuation real symbols
# use (NSE:M&M, BRK.B, ES1!, FX_IDC:EURUSD, BAJAJ-AUTO, EUR/USD). Checked before anything else
# looks at it, so a lookalike (fullwidth, emoji) or a control character is refused by name.
TICKER_PUNCTUATION = ":._-!/&"
_TICKER = re.compile(r"^[A-Za-z0-9" + re.escape(TICKER_PUNCTUATION) + r"]+$")
_EXCHANGE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_ACTION_ALIASES = {"close": Action.EXIT, "long": Action.BUY, "short": Action.SELL}
# The document's statement of what _known_action accepts: each word, in any case.
_ACTION_PATTERN = "^(" + "|".join("".join(f"[{c.lower()}{c.upper()}]" for c in word) for word in
                                  sorted({a.value for a in Action} | set(_ACTION_ALIASES))) + ")$"


class SignalPayload(BaseModel):
    """The JSON body a strategy may send. Unknown fields are refused, to catch typos. Every number
    must be finite and at most 1e9 (units, or per price): an absurd size is a 422 naming its field."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)

    strategy_id: Annotated[str | None, Field(pattern=_ID)] = None
    passphrase: Annotated[str | None, Field(max_length=200)] = None
    signal_id: Annotated[str | None, Field(pattern=_ID)] = None
    ticker: Annotated[
        str, Field(min_length=1, max_length=40, validation_alias=AliasChoices("ticker", "symbol"))
    ]
    exchange: Annotated[str | None, Field(max_length=20)] = None
    asset_class: AssetClass | None = None
    currency: Annotated[str | None, Field(pattern=r"^[A-Z]{3}$")] = None
    multiplier: Annotated[float | None, Field(gt=0, le=MAX_ORDER_UNITS)] = None
    action: Annotated[str, Field(json_schema_extra={"pattern": _ACTION_PATTERN})]
    order_type: OrderType = OrderType.MARKET
    quantity: Annotated[
        float | None, Field(gt=0, le=MAX_ORDER_UNITS, validation_alias=AliasChoices("quantity", "contracts"))
    ] = None
    target_position: Annotated[
        float | None, Field(ge=-MAX_ORDER_UNITS, le=MAX_ORDER_UNITS,
                            validation_alias=AliasChoices("target_position", "position_size"))
    ] = None
    size_pct: Annotated[float | None, Field(gt=0, le=100)] = None
    price: Annotated[float | None, Field(gt=0, le=MAX_PRICE, validation_alias=AliasChoices("price", "close"))] = None
    limit_price: Annotated[float | None, Field(gt=0, le=MAX_PRICE)] = None
    stop_price: Annotated[float | None, Field(gt=0, le=MAX_PRICE)] = None
    stop_loss: Annotated[float | None, Field(gt=0, le=MAX_PRICE)] = None
    take_profit: Annotated[float | None, Field(gt=0, le=MAX_PRICE)] = None
    time: Annotated[datetime | None, Field(validation_alias=AliasChoices("time", "timenow"))] = None
    environment: Environment | None = None
    # TradingView context, kept for the journey but not used for sizing.
    market_position: Annotated[str | None, Field(pattern="^(long|flat|short)$")] = None
    prev_market_position: Annotated[str | None, Field(pattern="^(long|flat|short)$")] = None
    order_id: Annotated[str | None, Field(max_length=100)] = None
    comment: Annotated[str | None, Field(max_length=500)] = None
    interval: Annotated[str | None, Field(max_length=20)] = None

    @field_validator("ticker")
    @classmethod
    def _ticker_characters(cls, value: str) -> str:
        return _spelled_with(value, _TICKER, f"ASCII letters, digits and {' '.join(TICKER_PUNCTUATION)}")

    @field_validator("exchange")
    @classmethod
    def _exchange_characters(cls, value: str | None) -> str | None:
        return None if value is None else _spelled_with(value, _EXCHANGE, "ASCII letters, digits and _ . -")

    @field_validator("environment", mode="before")
    @classmethod
    def _environment_any_case(cls, value: Any) -> Any:
        """'STAGING' means staging: a case slip must not decide where an alert trades."""
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("action")
    @classmethod
    def _known_action(cls, value: str) -> str:
        lowered = value.lower()
        if lowered not in {a.value for a in Action} and lowered not in _ACTION_ALIASES:
            raise ValueError("must be one of buy, sell, exit, flatten")
        return lowered


def _spelled_with(value: str, allowed: re.Pattern[str], described: str) -> str:
    """``value`` if ``allowed`` matches it; else a reason naming the first character outside it
    by code point, so the answer and the journey line never carry the character itself."""
    if not value or allowed.match(value):
        return value
    position, offending = next((i, c) for i, c in enumerate(value, 1) if not allowed.match(c))
    raise ValueError(f"may contain only {described}; U+{ord(offending):04X} at position {position} is not allowed")


class InstrumentClaim(BaseModel):
    """The instrument as the alert spelled it. Optional details, when sent, must agree
    with the instrument master: they are checked, never used to fill gaps."""

    model_config = ConfigDict(frozen=True)

    ticker: str
    exchange: str | None = None
    asset_class: AssetClass | None = None
    currency: str | None = None
    multiplier: float | None = None

    def disagreement(self, instrument: Instrument) -> tuple[str, str] | None:
        """(field, reason) for the first detail that contradicts the master, else None."""
        for name, claimed, known in (("asset_class", self.asset_class, instrument.asset_class),
                                     ("currency", self.currency, instrument.currency),
                                     ("multiplier", self.multiplier, instrument.multiplier)):
            if claimed is not None and claimed != known:
                return name, f"{claimed} contradicts the instrument master's {known} for {instrument.key}"
        return None


class ParsedSignal(BaseModel):
    """A validated signal before it has an id, a strategy check or a canonical instrument."""

    model_config = ConfigDict(frozen=True)

    strategy_id: str
    passphrase: str | None
    client_signal_id: str | None
    instrument: InstrumentClaim
    action: Action
    sizing: Sizing | None
    order_type: OrderType
    price: float | None
    limit_price: float | None
    stop_price: float | None
    stop_loss: float | None
    take_profit: float | None
    signal_time: datetime | None
    environment: Environment | None
    source: SignalSource
    canonical: str  # the signal's content without secrets, for dedupe and the raw record
    accounts: list[str] | None = None  # an admin flatten of chosen accounts only


_TEXT_ALERT = re.compile(
    r"^\s*order\s+(?P<action>buy|sell)\s+@\s+(?P<contracts>[0-9.eE+-]+)\s+filled on\s+"
    r"(?P<ticker>\S+?)\.\s+New strategy position is\s+(?P<position>[0-9.eE+-]+)\s*$",
    re.IGNORECASE,
)


def parse_request(body: bytes, content_type: str, query: Mapping[str, str]) -> ParsedSignal:
    """Validate a webhook body; strategy_id and passphrase may come in the query string."""
    if len(body) > MAX_BODY_BYTES:
        raise SignalRejected("body", f"larger than {MAX_BODY_BYTES} bytes", Refusal.TOO_LARGE, "too_large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignalRejected("body", "is not valid UTF-8", Refusal.MALFORMED, "malformed_body") from None
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == "application/json" or (not media_type and text.lstrip().startswith("{")):
        return _parse_json(text, query)
    if media_type in ("text/plain", ""):
        if text.lstrip().startswith("{"):
            return _parse_json(text, query)  # TradingView sends JSON as text/plain if unsure
        return _parse_text(text, query)
    raise SignalRejected(
        "content_type", "must be application/json or text/plain", Refusal.UNSUPPORTED, "unsupported_media_type"
    )


def _parse_json(text: str, query: Mapping[str, str]) -> ParsedSignal:
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as error:
        raise SignalRejected("body", f"is not valid JSON ({error})", Refusal.MALFORMED, "malformed_json") from None
    if not isinstance(document, dict):
        raise SignalRejected("body", "must be a JSON object", Refusal.MALFORMED, "malformed_json")
    for name in ("strategy_id", "passphrase"):
        if name not in document and name in query:
            document[name] = query[name]
    _environment_from_query(document, query)
    try:
        payload = SignalPayload.model_validate(document)
    except ValidationError as error:
        raise _rejection_from(error) from None
    source = SignalSource.TRADINGVIEW_JSON if _looks_like_tradingview(document) else SignalSource.HTTP_API
    return _build(payload, source, document)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


def _looks_like_tradingview(document: Mapping[str, Any]) -> bool:
    return any(k in document for k in ("contracts", "position_size", "close", "market_position", "timenow"))


def _parse_text(text: str, query: Mapping[str, str]) -> ParsedSignal:
    match = _TEXT_ALERT.match(text)
    if not match:
        raise SignalRejected(
            "body",
            "text alerts must follow TradingView's default strategy message: "
            "'order {{strategy.order.action}} @ {{strategy.order.contracts}} filled on "
            "{{ticker}}. New strategy position is {{strategy.position_size}}'",
            Refusal.MALFORMED,
            "malformed_text",
        )
    document: dict[str, Any] = {
        "ticker": match["ticker"],
        "action": match["action"].lower(),
        "target_position": match["position"],
    }
    for name in ("strategy_id", "passphrase", "exchange", "asset_class", "currency", "environment"):
        if name in query:
            document[name] = query[name]
    try:
        payload = SignalPayload.model_validate(document)
    except ValidationError as error:
        raise _rejection_from(error) from None
    return _build(payload, SignalSource.TRADINGVIEW_TEXT, document)


def _environment_from_query(document: dict[str, Any], query: Mapping[str, str]) -> None:
    """The query string's ``environment`` counts as the body's: an alert URL for staging is
    for staging, whatever the body is. When both name one, they must agree."""
    if "environment" not in query:
        return
    if "environment" not in document:
        document["environment"] = query["environment"]
        return
    in_body, in_query = document["environment"], query["environment"]
    if not isinstance(in_body, str) or in_body.strip().lower() != in_query.strip().lower():
        raise SignalRejected("environment", "the query string and the body name different environments")


def _rejection_from(error: ValidationError) -> SignalRejected:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "body"
    reason = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        reason = "is required"
    elif first["type"] == "extra_forbidden":
        reason = "is not a known field"
    return SignalRejected(field, reason)


def _build(payload: SignalPayload, source: SignalSource, document: Mapping[str, Any]) -> ParsedSignal:
    if not payload.strategy_id:
        raise SignalRejected("strategy_id", "is required (in the body or the query string)")
    action = _ACTION_ALIASES.get(payload.action) or Action(payload.action)
    sizing = _sizing(payload, action)
    if payload.order_type is OrderType.LIMIT and payload.limit_price is None:
        raise SignalRejected("limit_price", "is required for limit orders")
    if payload.order_type is OrderType.STOP and payload.stop_price is None:
        raise SignalRejected("stop_price", "is required for stop orders")
    return ParsedSignal(
        strategy_id=payload.strategy_id,
        passphrase=payload.passphrase,
        client_signal_id=payload.signal_id,
        instrument=claimed_instrument(payload),
        action=action,
        sizing=sizing,
        order_type=payload.order_type,
        price=payload.price,
        limit_price=payload.limit_price,
        stop_price=payload.stop_price,
        stop_loss=payload.stop_loss,
        take_profit=payload.take_profit,
        signal_time=payload.time,
        environment=payload.environment,
        source=source,
        canonical=json.dumps(
            {k: v for k, v in document.items() if k != "passphrase"}, sort_keys=True, default=str
        ),
    )


def _sizing(payload: SignalPayload, action: Action) -> Sizing | None:
    if action is Action.FLATTEN:
        return None
    if payload.target_position is not None:
        if not math.isfinite(payload.target_position):
            raise SignalRejected("target_position", "must be a finite number")
        # A target makes redelivery harmless, so it wins over an order quantity.
        return Sizing(kind=SizingKind.TARGET_POSITION, value=payload.target_position)
    given = [(n, v) for n, v in (("quantity", payload.quantity), ("size_pct", payload.size_pct)) if v is not None]
    if len(given) > 1:
        raise SignalRejected("size_pct", "give only one of quantity, target_position or size_pct")
    if not given:
        if action is Action.EXIT:
            return None  # close the whole position
        raise SignalRejected("quantity", "one of quantity, target_position or size_pct is required")
    name, value = given[0]
    kind = SizingKind.QUANTITY if name == "quantity" else SizingKind.PERCENT
    return Sizing(kind=kind, value=value)


def claimed_instrument(payload: SignalPayload) -> InstrumentClaim:
    """What the alert says about its instrument; the instrument master decides what it is."""
    exchange = payload.exchange.upper() if payload.exchange else None
    return InstrumentClaim(ticker=payload.ticker.upper(), exchange=exchange, asset_class=payload.asset_class,
                           currency=payload.currency,
                           multiplier=payload.multiplier)
