"""One long-lived ib_async connection on its own event-loop thread.

ib_async is asyncio code that must run on one loop; the bridge's callers (Pub/Sub
callbacks, the poll timer, tests) are threads. Every call is therefore a coroutine
submitted to the connection's loop and awaited from the calling thread. When the
socket drops (IB Gateway restarts every night), the connection reconnects with
exponential backoff, and callers get a retryable BrokerError meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ib_async import IB

from shared.ports.broker import BrokerError

from .config import IbkrConfig

log = logging.getLogger(__name__)
T = TypeVar("T")


class IbkrConnection:
    def __init__(self, config: IbkrConfig):
        self.config = config
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ibkr-loop", daemon=True)
        self._thread.start()
        self.ib: IB = self.call_soon(lambda: IB())  # created on its loop
        self.ib.disconnectedEvent += self._on_disconnected
        self._closing = False
        self._reconnecting = False
        self._synced = False  # connected and done with ib_async's startup requests
        self.connects = 0

    # --- lifecycle -------------------------------------------------------------------
    def connect(self) -> None:
        """Connect now, or raise a retryable BrokerError (the caller, or the backoff loop, tries again)."""
        self.run(lambda ib: self._connect(), timeout=self.config.connect_timeout_seconds + 30,
                 require_connection=False)

    def keep_connected(self, stop: threading.Event) -> None:
        """Connect, retrying with the same backoff as after a dropped connection, until connected
        or ``stop`` is set; afterwards reconnects happen on their own."""
        if not self._reconnecting:
            self._reconnecting = True
            asyncio.run_coroutine_threadsafe(self._reconnect(), self._loop)
        while not self.connected and not stop.wait(0.1):
            pass

    def close(self) -> None:
        self._closing = True
        if self.ib.isConnected():
            self.call_soon(self.ib.disconnect)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    @property
    def connected(self) -> bool:
        return self._synced and self.ib.isConnected()

    # --- calls -------------------------------------------------------------------------
    def run(self, work: Callable[[IB], Awaitable[T]], timeout: float, require_connection: bool = True) -> T:
        """Run ``work(ib)`` on the connection's loop and wait for its result."""
        future = asyncio.run_coroutine_threadsafe(self._guarded(work, require_connection), self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise BrokerError("IB Gateway did not answer in time", retryable=True) from None

    def call_soon(self, work: Callable[[], T]) -> T:
        async def call() -> T:
            return work()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(10)

    async def _guarded(self, work: Callable[[IB], Awaitable[T]], require_connection: bool) -> T:
        if require_connection and not self.ib.isConnected():
            raise BrokerError("not connected to IB Gateway", retryable=True)
        try:
            return await work(self.ib)
        except ConnectionError as error:
            raise BrokerError(f"IB Gateway connection lost: {error}", retryable=True) from None

    async def _connect(self) -> None:
        if self.ib.isConnected():
            return
        try:
            await self.ib.connectAsync(self.config.host, self.config.port, clientId=self.config.client_id,
                                       timeout=self.config.connect_timeout_seconds)
        except (OSError, TimeoutError, ConnectionError) as error:
            raise BrokerError(f"cannot reach IB Gateway at {self.config.host}:{self.config.port}: "
                              f"{type(error).__name__}", retryable=True) from None
        self.connects += 1
        self._synced = True
        log.info("connected to IB Gateway %s:%s (accounts %s)", self.config.host, self.config.port,
                 ",".join(self.ib.managedAccounts()))

    # --- reconnect ----------------------------------------------------------------------
    def _on_disconnected(self) -> None:
        self._synced = False
        if not self._closing and not self._reconnecting:
            log.warning("IB Gateway connection lost; reconnecting")
            self._reconnecting = True
            self._loop.create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay = 0.5
        try:
            while not self._closing and not self.ib.isConnected():
                try:
                    await self._connect()
                except BrokerError as error:
                    log.warning("%s; next attempt in %.1f s", error, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.config.max_backoff_seconds)
        finally:
            self._reconnecting = False
