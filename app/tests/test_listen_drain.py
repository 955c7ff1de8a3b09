"""Draining the kernel's accept queue before the listening socket closes (service.server)."""

from __future__ import annotations

import asyncio
import socket
import sys

import pytest
import uvloop

from service.server import accept_queue_length, drain_accept_queues, refuse_new_handshakes

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="socket filters are Linux-only")


def listening_socket(backlog: int = 16) -> tuple[socket.socket, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(backlog)
    return sock, sock.getsockname()[1]


def connect_times_out(port: int, timeout: float = 0.3) -> bool:
    with socket.socket() as client:
        client.settimeout(timeout)
        try:
            client.connect(("127.0.0.1", port))
        except TimeoutError:
            return True
        return False


def test_accept_queue_length_counts_handshakes_not_yet_accepted() -> None:
    sock, port = listening_socket()
    with sock:
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        try:
            assert accept_queue_length(sock) == 3
            sock.accept()[0].close()
            assert accept_queue_length(sock) == 2
        finally:
            for c in clients:
                c.close()


def test_refused_handshakes_leave_queued_connections_acceptable() -> None:
    sock, port = listening_socket()
    with sock, socket.create_connection(("127.0.0.1", port)) as queued:
        refuse_new_handshakes(sock)
        assert connect_times_out(port)  # the SYN is dropped: no handshake completes
        accepted, _ = sock.accept()
        with accepted:
            queued.sendall(b"ping")
            assert accepted.recv(4) == b"ping"


def test_drain_returns_once_the_loop_accepted_every_queued_connection() -> None:
    made: list[asyncio.Transport] = []

    class Recorder(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            made.append(transport)  # type: ignore[arg-type]

    async def scenario() -> tuple[int, int, bool]:
        sock, port = listening_socket()
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
        server = await asyncio.get_running_loop().create_server(Recorder, sock=sock)
        try:
            await drain_accept_queues(list(server.sockets))
            return len(made), accept_queue_length(server.sockets[0]), connect_times_out(port)
        finally:
            server.close()
            for c in clients:
                c.close()

    accepted, still_queued, new_refused = uvloop.run(scenario())
    assert (accepted, still_queued, new_refused) == (5, 0, True)
