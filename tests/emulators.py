"""Session fixtures for the official gcloud emulators, on free loopback ports."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.processes import ManagedProcess, gcloud_available, start_firestore_emulator, start_pubsub_emulator

SKIP_REASON = "SKIPPED: gcloud emulators not installed (need `gcloud` and Java); emulator tests did not run"


def require_gcloud() -> None:
    if not gcloud_available():
        pytest.skip(SKIP_REASON)


@pytest.fixture(scope="session")
def emulator_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("emulators")


@pytest.fixture(scope="session")
def pubsub_emulator(emulator_logs: Path) -> Iterator[ManagedProcess]:
    require_gcloud()
    process = start_pubsub_emulator(emulator_logs, "mt-tests")
    yield process
    process.stop()


@pytest.fixture(scope="session")
def firestore_emulator(emulator_logs: Path) -> Iterator[ManagedProcess]:
    require_gcloud()
    process = start_firestore_emulator(emulator_logs)
    yield process
    process.stop()


@pytest.fixture
def project_id() -> str:
    """A fresh project per test: the emulators keep each project's data apart."""
    return f"mt-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def emulator_env(pubsub_emulator: ManagedProcess, firestore_emulator: ManagedProcess, project_id: str,
                 monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{pubsub_emulator.port}",
        "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{firestore_emulator.port}",
        "GOOGLE_CLOUD_PROJECT": project_id,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def mongodb_uri() -> str:
    uri = os.environ.get("MONGODB_URI", "")
    if not uri:
        pytest.skip("SKIPPED: MONGODB_URI is not set; MongoDB adapter tests did not run (no server can be "
                    "installed here: set MONGODB_URI to a replica set, e.g. Atlas, to run them)")
    return uri
