"""The one place that wires settings, adapters and services together."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.adapters.brokers import BrokerContext, build_broker, build_local_brokers, known_brokers
from shared.adapters.brokers.mock import MockBroker
from shared.auth.api_keys import ApiKeys
from shared.auth.rate_limit import RateLimiter
from shared.config import Settings
from shared.domain.messages import NotificationKind, NotificationMessage
from shared.domain.models import Topics
from shared.entrypoints.routing import Stack, routes
from shared.journey import configure as configure_journey
from shared.ports.broker import BrokerClient
from shared.ports.bus import Bus, Message
from shared.ports.store import Store
from shared.services.account_poller import AccountPoller
from shared.services.admin import AdminControls
from shared.services.cerebro_service import CerebroService
from shared.services.confirmations import ConfirmationService
from shared.services.execution_service import ExecutionService
from shared.services.ingest import IngestService
from shared.services.instruments import InstrumentCatalog
from shared.services.notifier import NotifierService
from shared.services.prices import PriceBook
from shared.services.recovery import PipelineRecovery
from shared.services.refusals import prune_refusals
from shared.services.risk_context import prune_counters
from shared.services.strategy_registry import StrategyRegistry

if TYPE_CHECKING:
    from shared.dashboards.creator import DashboardCreator
    from shared.notify.telegram import TelegramSender
    from shared.services.portfolio_service import PortfolioService


def utcnow() -> datetime:
    return datetime.now(UTC)


def build_store(settings: Settings) -> Store:
    if settings.store == "sqlite":
        from shared.adapters.store_sqlite import SqliteStore

        return SqliteStore(settings.sqlite_path)
    if settings.store == "firestore":
        from shared.adapters.store_firestore import FirestoreStore

        return FirestoreStore(project=settings.gcp_project)
    if settings.store == "mongodb":
        from shared.adapters.store_mongo import MongoStore

        return MongoStore(settings.mongodb_uri, settings.mongodb_database)
    raise ValueError(f"MT_STORE must be sqlite, firestore or mongodb, not {settings.store!r}")


def build_bus(settings: Settings) -> Bus:
    if settings.bus == "inprocess":
        from shared.adapters.bus_inprocess import InProcessBus

        return InProcessBus()
    if settings.bus == "pubsub":
        from shared.adapters.bus_pubsub import PubSubBus

        return PubSubBus(project=settings.gcp_project)
    raise ValueError(f"MT_BUS must be inprocess or pubsub, not {settings.bus!r}")


@dataclass
class Services:
    settings: Settings
    store: Store
    bus: Bus
    brokers: dict[str, BrokerClient]
    ingest: IngestService
    cerebro: CerebroService
    execution: ExecutionService
    confirmations: ConfirmationService
    poller: AccountPoller
    notifier: NotifierService
    api_keys: ApiKeys
    rate_limiter: RateLimiter
    registry: StrategyRegistry
    admin: AdminControls
    instruments: InstrumentCatalog
    clock: Callable[[], datetime] = utcnow

    @functools.cached_property
    def portfolio(self) -> PortfolioService:
        """Built on first use: only the registry function needs pandas and scipy."""
        from shared.services.portfolio_service import PortfolioService

        return PortfolioService(self.store, self.clock, PriceBook(self.store, self.brokers, self.clock),
                                self.settings.limits)

    @functools.cached_property
    def dashboards(self) -> DashboardCreator:
        """Built on first use: its strategy documents need pandas, numpy and scipy, which only
        the dashboard creator and the registry read (so the other functions do not install them)."""
        from shared.dashboards.creator import DashboardCreator

        return DashboardCreator(self.store, self.clock)

    @property
    def mock_broker(self) -> MockBroker:
        broker = self.brokers["mock"]
        assert isinstance(broker, MockBroker)
        return broker

    def subscribe_pipeline(self) -> None:
        """Embedded stack: run every stage over the in-process bus, as the routing table routes it."""
        for topic, function in routes(Stack.EMBEDDED):
            if (batch := function.resolve_batch()) is not None:
                self.bus.subscribe_batch(topic, lambda messages, handle=batch: handle(self, messages))
            else:
                handler = function.resolve()
                self.bus.subscribe(topic, lambda message, handle=handler: handle(self, message))

    def resume_unfinished(self) -> list[str]:
        """Embedded stack: the previous process is dead, so its claims are released and
        everything it left unsettled is published again."""
        self.execution.claims.release_orphans()
        return PipelineRecovery(self.store, self.bus, self.clock).resume()

    def tick(self) -> dict[str, Any]:
        """The fund's scheduled minute (Cloud Scheduler's call on both stacks' account_poller;
        the embedded stack's timer): refresh snapshots, sweep up work a crash left behind,
        release signals held for an open, send the risk-refusal digest."""
        polled = self.poller.poll_all()
        recovery = PipelineRecovery(self.store, self.bus, self.clock)
        swept = recovery.sweep(self.settings.sweep_after_seconds)
        released = recovery.release_held()
        prune_counters(self.store, self.clock())
        prune_refusals(self.store, self.clock())
        self.bus.publish(Topics.NOTIFICATIONS,
                         NotificationMessage.of(NotificationKind.FLUSH_RISK_REFUSALS).model_dump(mode="json"))
        return {"polled": polled, "swept": swept, "released": released}

    def close(self) -> None:
        self.bus.close()
        self.store.close()


def build_services(
    settings: Settings,
    store: Store | None = None,
    bus: Bus | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Services:
    configure_journey(settings.log_dir, settings.structured_logs)
    store = store or build_store(settings)
    bus = bus or build_bus(settings)
    brokers = build_brokers(settings, store, clock)
    instruments = InstrumentCatalog(store, clock)
    ingest = IngestService(store, bus, clock, settings.environment, settings.dedupe_window_seconds,
                           instruments, PriceBook(store, brokers, clock), settings.limits)
    return Services(
        settings=settings,
        store=store,
        bus=bus,
        brokers=brokers,
        ingest=ingest,
        cerebro=CerebroService(store, bus, brokers, settings.limits, clock),
        execution=ExecutionService(store, bus, brokers, clock, settings.order_claim_lease_seconds),
        confirmations=ConfirmationService(store, bus, clock),
        poller=AccountPoller(store, brokers, bus, limits=settings.limits),
        notifier=NotifierService(store, _telegram(settings), settings.telegram_chat_id, settings.environment, clock),
        api_keys=ApiKeys(store, clock),
        rate_limiter=RateLimiter(store, clock),
        registry=StrategyRegistry(store, clock),
        admin=AdminControls(store, bus, ingest, clock),
        instruments=instruments,
        clock=clock,
    )


def build_brokers(settings: Settings, store: Store, clock: Callable[[], datetime]) -> dict[str, BrokerClient]:
    """Every configured broker, through the registry (remote ones are reached over their bridge's
    topic). A paper run sends every account's orders to the Mock, whatever its broker."""
    context = BrokerContext(store, settings, clock)
    if settings.use_mock_broker:
        mock = build_broker("mock", context)
        assert mock is not None
        return {name: mock for name in known_brokers()}
    return build_local_brokers(context)


def _telegram(settings: Settings) -> TelegramSender | None:
    """None when no bot is configured: notifications are then skipped, not failed."""
    if not settings.telegram_bot_token:
        return None
    from shared.notify.telegram import TelegramSender

    return TelegramSender(settings.telegram_bot_token, settings.telegram_api_url)


__all__ = ["Message", "Services", "build_brokers", "build_bus", "build_services", "build_store"]
