"""A huge body is refused before it is read, chunked or not, by the embedded stack's server
(waitress, started by the operator's CLI) and by the webhook function under
functions-framework (whose own hook reads the whole request after any answer that is not
streamed: the webhook streams its refusals). The client streams 300 MiB in chunks and stops
as soon as an answer arrives: the proof is how little it had sent by then, not a timing."""

from __future__ import annotations

import select
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.embedded import MAX_REQUEST_BYTES
from devstack.processes import REPO_ROOT, free_port, start_process, wait_for_port
from shared.domain.signal_parsing import MAX_BODY_BYTES
from tests.devstack_cli import cli, stack_env

HUGE = 300 * 1024 * 1024
CHUNK = 64 * 1024


def stream_until_answered(port: int, path: str, chunked: bool) -> tuple[int, int]:
    """POST up to HUGE bytes; return (status, bytes sent when the answer came)."""
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json", "Connection: close"]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {HUGE}")
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        piece = b"x" * CHUNK
        frame = f"{CHUNK:x}\r\n".encode() + piece + b"\r\n" if chunked else piece
        while sent < HUGE:
            if select.select([connection], [], [], 0)[0]:
                break  # the server has answered (or closed): stop sending
            try:
                connection.sendall(frame)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += CHUNK
        answer = b""
        while b"\r\n" not in answer:
            data = connection.recv(4096)
            if not data:
                break
            answer += data
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    return status, sent


@pytest.fixture(scope="module")
def embedded_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    env = stack_env(tmp_path_factory.mktemp("body_limits"))
    port = free_port()
    started = cli("up", f"--port={port}", "--dashboards-port=0", env=env)
    assert started.returncode == 0, started.stderr
    yield port
    cli("down", env=env)


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_the_embedded_server_refuses_a_huge_body_before_reading_it(embedded_port: int, chunked: bool):
    status, sent = stream_until_answered(embedded_port, "/webhook", chunked)
    assert status == 413
    assert sent <= MAX_REQUEST_BYTES + 8 * 1024 * 1024, f"{sent / 2**20:.0f} MiB sent before the answer"


@pytest.fixture(scope="module")
def function_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The webhook function under functions-framework (as deployed), on the embedded settings."""
    root = tmp_path_factory.mktemp("body_limits_function")
    port = free_port()
    env = {**stack_env(root), "MT_STORE": "sqlite", "MT_BUS": "inprocess", "PYTHONPATH": str(REPO_ROOT)}
    function = start_process("webhook", [str(Path(sys.executable).parent / "functions-framework"), "--target=webhook",
                                         "--source=functions/webhook/main.py", f"--port={port}", "--host=127.0.0.1"],
                             root / "logs", port, env)
    try:
        wait_for_port(function)
        yield port
    finally:
        function.stop()


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_the_webhook_function_refuses_a_huge_body_before_reading_it(function_port: int, chunked: bool):
    status, sent = stream_until_answered(function_port, "/", chunked)
    assert status == 413
    assert sent <= MAX_BODY_BYTES + 8 * 1024 * 1024, f"{sent / 2**20:.0f} MiB sent before the answer"
