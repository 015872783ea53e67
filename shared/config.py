"""Settings from the environment, read once per process at the wiring point."""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from shared.domain.models import Environment, RiskLimits

# Every environment variable Settings reads. Terraform sets exactly CLOUD_SETTINGS
# on the functions (tests/infra cross-checks both ways); the rest are local-only.
CLOUD_SETTINGS = (
    "MT_STORE", "MT_BUS", "GOOGLE_CLOUD_PROJECT", "MT_ENVIRONMENT", "MT_STRUCTURED_LOGS",
    "MAX_POSITION_SIZE_PCT", "MAX_BROKER_ALLOCATION_PCT", "MAX_ACCOUNT_DATA_AGE_SECONDS", "PRICE_COLLAR_PCT",
    "MAX_PRICE_AGE_SECONDS", "MAX_ORDER_NOTIONAL", "MAX_SIGNALS_PER_SECOND_PER_STRATEGY",
    "MAX_ORDERS_PER_SECOND_PER_ACCOUNT", "DAILY_LOSS_LIMIT_PCT",
    "DEDUPE_WINDOW_SECONDS", "ORDER_CLAIM_LEASE_SECONDS", "SWEEP_AFTER_SECONDS", "MOCK_SLIPPAGE_BPS",
    "MOCK_COMMISSION_PER_UNIT",
    "TELEGRAM_CHAT_ID", "WEBHOOK_IP_ALLOWLIST", "TRUSTED_PROXY_HOPS",
)
# TradingView's documented webhook source addresses; `WEBHOOK_IP_ALLOWLIST=tradingview` expands to them.
TRADINGVIEW_IPS = ("52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7")
# Read from Secret Manager in GCP (Terraform maps each to a secret). The broker token keys are
# read by shared/adapters/brokers/zerodha/tokens.py, only when a Kite session token is sealed or opened.
SECRET_SETTINGS = ("TELEGRAM_BOT_TOKEN", "ZERODHA_ACCOUNTS", "BROKER_TOKEN_KEY", "BROKER_TOKEN_KEY_PREVIOUS")
# Read on the gateway VM by the IBKR bridge (gateway_vm/setup.sh writes them).
GATEWAY_SETTINGS = ("IBKR_GATEWAY", "IBKR_CLIENT_ID", "IBKR_PRICE_FALLBACK_LAST_FILL")
LOCAL_ONLY_SETTINGS = ("MT_SQLITE_PATH", "MONGODB_URI", "MONGODB_DATABASE", "MT_LOG_DIR", "TELEGRAM_API_URL",
                       "KITE_API_URL", "LOG_LEVEL", "LOG_FORMAT", "LOG_DIR", "MT_ENV_FILE",
                       "MT_USE_MOCK_BROKER", "MT_LIVE_TRADING")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("plain", "original")  # original: |LEVEL|Message|Timestamp|file:name.py:line No.N|


@dataclass(frozen=True)
class Settings:
    store: str = "sqlite"  # sqlite | firestore | mongodb
    sqlite_path: str = "data/mtrader.sqlite"
    bus: str = "inprocess"  # inprocess | pubsub
    gcp_project: str = "mathematricks-local"
    mongodb_uri: str = ""
    mongodb_database: str = "mathematricks"
    environment: Environment = Environment.PRODUCTION
    limits: RiskLimits = field(default_factory=RiskLimits)
    dedupe_window_seconds: float = 10.0  # resends come within seconds; longer drops re-entries (see ingest)
    # A claim's lease, renewed every third of it while the broker call runs: short, so a dead
    # owner's order is recovered within seconds.
    order_claim_lease_seconds: float = 10.0
    sweep_after_seconds: float = 30.0  # an open signal older than this with unanswered work is republished
    mock_slippage_bps: float = 1.0
    mock_commission_per_unit: float = 0.005
    log_dir: Path = Path("logs")
    structured_logs: bool = False
    telegram_bot_token: str = field(default="", repr=False)
    telegram_chat_id: str = ""
    telegram_api_url: str = "https://api.telegram.org/bot"
    # JSON {account_id: {"api_key", "api_secret", "intraday"?}}: one Kite app per Zerodha login.
    zerodha_accounts: str = field(default="", repr=False)
    kite_api_url: str = "https://api.kite.trade"
    webhook_ip_allowlist: tuple[str, ...] = ()  # empty: any source (authentication still applies)
    # How many proxies in front of us append to X-Forwarded-For: 0 ignores the header (a server
    # reached directly, where a client could write it), 1 = Google's front end (the functions).
    trusted_proxy_hops: int = 0
    log_level: str = "INFO"  # the root logger's level (shared/logs.py); the journey log is always on
    log_format: str = "plain"  # plain | original, for the console and the per-service files
    service_log_dir: Path | None = None  # LOG_DIR: when set, each process also writes <dir>/<service>.log
    # The local stack's switches (`devstack up --use-mock-broker / --live`): every account's orders
    # go to the Mock paper broker whatever its broker; real-broker credentials are refused unless
    # live trading was asked for (unset, as in the deployed functions: allowed).
    use_mock_broker: bool = False
    live_trading: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``env``; by default the process environment, completed from ``.env`` first."""
        if env is None:
            load_env_file()
            env = os.environ
        defaults = cls()

        def number(name: str, default: float) -> float:
            raw = env.get(name)
            if raw in (None, ""):
                return default
            try:
                return float(raw)
            except ValueError:
                raise ValueError(f"setting {name} must be a number, got {raw!r}") from None

        limit = defaults.limits
        limits = RiskLimits(
            max_position_size_pct=number("MAX_POSITION_SIZE_PCT", limit.max_position_size_pct),
            max_broker_allocation_pct=number("MAX_BROKER_ALLOCATION_PCT", limit.max_broker_allocation_pct),
            max_account_data_age_seconds=number("MAX_ACCOUNT_DATA_AGE_SECONDS", limit.max_account_data_age_seconds),
            price_collar_pct=number("PRICE_COLLAR_PCT", limit.price_collar_pct),
            max_price_age_seconds=number("MAX_PRICE_AGE_SECONDS", limit.max_price_age_seconds),
            max_order_notional=number("MAX_ORDER_NOTIONAL", limit.max_order_notional),
            max_signals_per_second_per_strategy=number("MAX_SIGNALS_PER_SECOND_PER_STRATEGY",
                                                      limit.max_signals_per_second_per_strategy),
            max_orders_per_second_per_account=number("MAX_ORDERS_PER_SECOND_PER_ACCOUNT",
                                                     limit.max_orders_per_second_per_account),
            daily_loss_limit_pct=number("DAILY_LOSS_LIMIT_PCT", limit.daily_loss_limit_pct),
        )
        return cls(
            store=env.get("MT_STORE", defaults.store),
            sqlite_path=env.get("MT_SQLITE_PATH", defaults.sqlite_path),
            bus=env.get("MT_BUS", defaults.bus),
            gcp_project=env.get("GOOGLE_CLOUD_PROJECT", defaults.gcp_project),
            mongodb_uri=env.get("MONGODB_URI", ""),
            mongodb_database=env.get("MONGODB_DATABASE", defaults.mongodb_database),
            environment=Environment(env.get("MT_ENVIRONMENT", defaults.environment.value)),
            limits=limits,
            dedupe_window_seconds=number("DEDUPE_WINDOW_SECONDS", defaults.dedupe_window_seconds),
            order_claim_lease_seconds=number("ORDER_CLAIM_LEASE_SECONDS", defaults.order_claim_lease_seconds),
            sweep_after_seconds=number("SWEEP_AFTER_SECONDS", defaults.sweep_after_seconds),
            mock_slippage_bps=number("MOCK_SLIPPAGE_BPS", defaults.mock_slippage_bps),
            mock_commission_per_unit=number("MOCK_COMMISSION_PER_UNIT", defaults.mock_commission_per_unit),
            log_dir=Path(env.get("MT_LOG_DIR", str(defaults.log_dir))),
            structured_logs=env.get("MT_STRUCTURED_LOGS", "") in ("1", "true", "yes"),
            telegram_bot_token=env.get("TELEGRAM_BOT_TOKEN", ""),
            telegram_chat_id=env.get("TELEGRAM_CHAT_ID", ""),
            telegram_api_url=env.get("TELEGRAM_API_URL", defaults.telegram_api_url),
            zerodha_accounts=env.get("ZERODHA_ACCOUNTS", ""),
            kite_api_url=env.get("KITE_API_URL", defaults.kite_api_url),
            webhook_ip_allowlist=parse_address_list(env.get("WEBHOOK_IP_ALLOWLIST", "")),
            trusted_proxy_hops=proxy_hops(number("TRUSTED_PROXY_HOPS", defaults.trusted_proxy_hops)),
            log_level=choice("LOG_LEVEL", env.get("LOG_LEVEL", "").upper(), LOG_LEVELS, defaults.log_level),
            log_format=choice("LOG_FORMAT", env.get("LOG_FORMAT", "").lower(), LOG_FORMATS, defaults.log_format),
            service_log_dir=Path(env["LOG_DIR"]) if env.get("LOG_DIR") else None,
            use_mock_broker=env.get("MT_USE_MOCK_BROKER", "") in ("1", "true", "yes"),
            live_trading=env.get("MT_LIVE_TRADING", "") not in ("0", "false", "no"),
        )


def choice(name: str, raw: str, allowed: tuple[str, ...], default: str) -> str:
    """An enumerated setting: empty means the default, anything unknown fails at startup, not later."""
    if not raw:
        return default
    if raw not in allowed:
        raise ValueError(f"setting {name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


def load_env_file(environ: MutableMapping[str, str] | None = None) -> Path | None:
    """Complete the environment from a dotenv file, so `cp .env.sample .env` configures a local run.

    The file is ``$MT_ENV_FILE`` when set (set but empty: no file), else ``.env`` in the current
    directory; a missing ``.env`` is fine (a Cloud Function's settings come from Terraform), a
    missing ``MT_ENV_FILE`` is an error. Variables already in the environment win over the file.
    Returns the file read, if any. Values are never logged: the file holds secrets.
    """
    environ = os.environ if environ is None else environ
    chosen = environ.get("MT_ENV_FILE")
    if chosen == "":
        return None
    path = Path(chosen) if chosen else Path.cwd() / ".env"
    if not path.is_file():
        if chosen:
            raise FileNotFoundError(f"MT_ENV_FILE={chosen} is not a readable file")
        return None
    for name, value in dotenv_values(path).items():
        if value is not None:
            environ.setdefault(name, value)
    return path


def proxy_hops(value: float) -> int:
    """A whole number of proxies, 0 or more: anything else fails at startup."""
    if not (value >= 0 and float(value).is_integer()):
        raise ValueError(f"setting TRUSTED_PROXY_HOPS must be a whole number, 0 or more, got {value:g}")
    return int(value)


def parse_address_list(raw: str) -> tuple[str, ...]:
    addresses: list[str] = []
    for item in (part.strip() for part in raw.split(",")):
        if item.lower() == "tradingview":
            addresses.extend(TRADINGVIEW_IPS)
        elif item:
            addresses.append(item)
    return tuple(addresses)
