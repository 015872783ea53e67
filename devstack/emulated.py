"""The emulated-cloud stack: the official Pub/Sub and Firestore emulators, one
functions-framework process per function, and push subscriptions delivering to
them as Eventarc does in GCP. Firestore-triggered functions get their CloudEvents
from ``RawSignalForwarder`` (there is no Eventarc emulator)."""

from __future__ import annotations

import contextlib
import logging
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from google.api_core.exceptions import AlreadyExists
from google.cloud import firestore, pubsub_v1

from devstack.processes import (
    REPO_ROOT,
    ManagedProcess,
    free_port,
    start_firestore_emulator,
    start_process,
    start_pubsub_emulator,
    wait_for_port,
)
from shared.adapters.firestore_events import created_event
from shared.domain.models import Collections, Topics
from shared.entrypoints.routing import FUNCTIONS, Stack, routes

log = logging.getLogger(__name__)

MAX_DELIVERY_ATTEMPTS = 15  # about nine minutes of backoff: longer than any claim or book waits


@dataclass
class EmulatedStack:
    project: str
    log_dir: Path
    pubsub: ManagedProcess
    firestore: ManagedProcess
    functions: dict[str, ManagedProcess] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        """What a process needs to talk to this stack's emulators."""
        return {
            "GOOGLE_CLOUD_PROJECT": self.project,
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{self.pubsub.port}",
            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{self.firestore.port}",
            "MT_STORE": "firestore",
            "MT_BUS": "pubsub",
            "MT_LOG_DIR": str(self.log_dir),
        }

    def url(self, function: str) -> str:
        return f"http://127.0.0.1:{self.functions[function].port}/"

    def processes(self) -> list[ManagedProcess]:
        return [self.pubsub, self.firestore, *self.functions.values()]

    def stop(self) -> None:
        for process in reversed(self.processes()):
            process.stop()


def start_emulators(project: str, log_dir: Path) -> EmulatedStack:
    pubsub = start_pubsub_emulator(log_dir, project)
    try:
        firestore = start_firestore_emulator(log_dir)
    except Exception:
        pubsub.stop()
        raise
    return EmulatedStack(project, log_dir, pubsub, firestore)


def start_functions(stack: EmulatedStack, webhook_port: int | None = None,
                    extra_env: dict[str, str] | None = None) -> None:
    """One functions-framework process per function, each on its own port."""
    for name in FUNCTIONS:  # the routing table's every function, HTTP ones included
        port = webhook_port if name == "webhook" and webhook_port else free_port()
        stack.functions[name] = start_function(stack, name, port, extra_env)
    for process in stack.functions.values():
        wait_for_port(process)


def start_function(stack: EmulatedStack, name: str, port: int,
                   extra_env: dict[str, str] | None = None) -> ManagedProcess:
    """One function's functions-framework process (also how a killed one is restarted:
    on the same port, so its push subscriptions find it again)."""
    env = {**stack.env, "PYTHONPATH": str(REPO_ROOT), **(extra_env or {})}
    executable = Path(sys.executable).with_name("functions-framework")
    signature = FUNCTIONS[name].signature.framework
    return start_process(
        f"function-{name}",
        [str(executable), f"--source={REPO_ROOT / 'functions' / name / 'main.py'}", f"--target={name}",
         f"--signature-type={signature}", "--host=127.0.0.1", f"--port={port}"],
        stack.log_dir, port, env,
    )


def provision_pubsub(stack: EmulatedStack) -> None:
    """Topics, dead-letter topics and push subscriptions, as Terraform declares them in GCP.

    The emulator (0.8.x) pushes each subscription through two loops, each waiting for its push's
    answer (and polling every 100 ms when idle): a function gets at most two messages of one
    subscription at a time, however many threads its server runs (measured: 60 pushes to a
    handler sleeping 0.3 s took 9.4 s with 8 threads and with 32). GCP scales pushes out.

    Needs PUBSUB_EMULATOR_HOST set to this stack's emulator (``stack.env``)."""
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    try:
        for topic in Topics:
            for name in (topic.value, topic.dead_letter):
                with contextlib.suppress(AlreadyExists):
                    publisher.create_topic(name=publisher.topic_path(stack.project, name))
        for topic, function in routes(Stack.EMULATED):
            request: dict = {
                "name": subscriber.subscription_path(stack.project, f"{topic}-{function.name}"),
                "topic": publisher.topic_path(stack.project, topic),
                "push_config": {"push_endpoint": stack.url(function.name)},
                "ack_deadline_seconds": 60,
                "retry_policy": {"minimum_backoff": {"seconds": 1}, "maximum_backoff": {"seconds": 10}},
                # The emulator (0.8.x) kills a push thread when it dead-letters an ordered message
                # (a NullPointerException), so it delivers these unordered; GCP orders them
                # (Terraform). Cerebro's book waits keep each book's fills in sequence either way.
                "enable_message_ordering": False,
            }
            if not topic.endswith("-dead-letter"):  # a dead letter's own failures are only retried
                request["dead_letter_policy"] = {
                    "dead_letter_topic": publisher.topic_path(stack.project, f"{topic}-dead-letter"),
                    "max_delivery_attempts": MAX_DELIVERY_ATTEMPTS,
                }
            with contextlib.suppress(AlreadyExists):
                subscriber.create_subscription(request=request)
    finally:
        subscriber.close()
        publisher.stop()


class RawSignalForwarder:
    """Eventarc's part for the raw_signals function: every document added to
    ``trading_signals_raw`` in the emulator is POSTed to the function as the binary-mode
    CloudEvent GCP sends (protobuf ``DocumentEventData``), retried until it answers 2xx.

    Needs FIRESTORE_EMULATOR_HOST set to this stack's emulator (``stack.env``)."""

    def __init__(self, stack: EmulatedStack | None = None, function: str = "raw_signals", attempts: int = 20,
                 project: str = "", url: str = ""):
        self._project = stack.project if stack else project
        self._url = stack.url(function) if stack else url
        self._attempts = attempts
        self._queue: queue.Queue[tuple[str, dict] | None] = queue.Queue()
        self._client = firestore.Client(project=self._project)
        self._watch = None
        self._worker = threading.Thread(target=self._deliver_forever, name="raw-forwarder", daemon=True)

    def start(self) -> RawSignalForwarder:
        self._worker.start()
        self._watch = self._client.collection(Collections.RAW_SIGNALS).on_snapshot(self._on_snapshot)
        return self

    def _on_snapshot(self, _documents: list, changes: list, _read_time: object) -> None:
        for change in changes:
            if change.type.name == "ADDED":
                self._queue.put((change.document.id, change.document.to_dict() or {}))

    def _deliver_forever(self) -> None:
        while (item := self._queue.get()) is not None:
            doc_id, fields = item
            headers, body = created_event(self._project, Collections.RAW_SIGNALS, doc_id, fields)
            for attempt in range(self._attempts):
                with contextlib.suppress(requests.RequestException):
                    if requests.post(self._url, data=body, headers=headers, timeout=60).ok:
                        break
                time.sleep(min(0.2 * 2 ** attempt, 5.0))
            else:
                log.error("raw document %s: the function never accepted its event", doc_id)

    def stop(self) -> None:
        if self._watch is not None:
            self._watch.unsubscribe()
        self._queue.put(None)
        self._worker.join(timeout=10)
        self._client.close()


def main(argv: list[str] | None = None) -> None:
    """``python -m devstack.emulated --project P --url U``: the forwarder as its own process
    (FIRESTORE_EMULATOR_HOST set), for a stack started from the command line."""
    import argparse
    import signal

    from shared.logs import configure_logging

    parser = argparse.ArgumentParser(description=RawSignalForwarder.__doc__)
    parser.add_argument("--project", required=True)
    parser.add_argument("--url", required=True, help="the raw_signals function's URL")
    args = parser.parse_args(argv)
    configure_logging("raw_forwarder")
    forwarder = RawSignalForwarder(project=args.project, url=args.url).start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()
    forwarder.stop()


if __name__ == "__main__":
    main()
