"""A huge body is refused before it is read by the embedded stack's server (waitress, started
by the operator's CLI), chunked or not. The client streams 300 MiB in chunks and stops as soon
as an answer arrives: the proof is how little it had sent by then, not a timing.

Not covered here: the webhook function. Run locally under functions-framework, its server
took the whole 300 MiB before the function's 413 reached the client (the function itself
reads at most 16 KiB). In the cloud, Google's front end refuses request bodies over 32 MiB
before the function runs."""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator

import pytest

from devstack.embedded import MAX_REQUEST_BYTES
from devstack.processes import free_port
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
