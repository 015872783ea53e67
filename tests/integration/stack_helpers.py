"""Helpers for tests on the emulated-cloud stack."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from devstack.emulated import EmulatedStack, provision_pubsub, start_functions
from devstack.processes import ManagedProcess
from shared.adapters.store_firestore import FirestoreStore
from shared.bootstrap import Services, build_services
from shared.config import Settings
from shared.demo import seed_demo_fund


@contextmanager
def running_stack(pubsub: ManagedProcess, firestore: ManagedProcess, log_dir: Path,
                  extra_env: dict[str, str] | None = None) -> Iterator[EmulatedStack]:
    """Every function on the shared emulators, in a fresh project, with push subscriptions."""
    stack = EmulatedStack(f"e2e-{uuid.uuid4().hex[:8]}", log_dir, pubsub, firestore)
    environment = pytest.MonkeyPatch()
    for name, value in {**stack.env, **(extra_env or {})}.items():
        environment.setenv(name, value)
    try:
        start_functions(stack, extra_env=extra_env)
        provision_pubsub(stack)
        yield stack
    finally:
        for process in stack.functions.values():
            process.stop()
        environment.undo()


def eventually(check: Callable[[], object], timeout: float = 60.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def for_signal(services: Services, collection: str, signal_id: str) -> list[dict]:
    return services.store.query(collection, where={"signal_id": signal_id})


def demo_fund_on(stack: EmulatedStack) -> Services:
    """The test's own view of the stack's Firestore, seeded with the demo fund, after the fund's
    tick (the account_poller function) has polled both demo accounts."""
    built = build_services(Settings.from_env(), store=FirestoreStore(stack.project))
    seed_demo_fund(built.store, built.mock_broker)
    tick = requests.post(stack.url("account_poller"), timeout=30).json()
    assert (tick["polled"], tick["failed"], tick["released"]) == (2, {}, []), tick
    return built
