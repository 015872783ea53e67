"""Helpers for tests on the emulated-cloud stack."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from devstack.emulated import EmulatedStack, provision_pubsub, start_functions
from devstack.processes import ManagedProcess
from shared.bootstrap import Services


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
