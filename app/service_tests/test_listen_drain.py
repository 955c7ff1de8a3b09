"""Shutdown serves the kernel's accept queue before closing the listener (service.server)."""

from __future__ import annotations

import socket

import uvicorn
import uvloop
from starlette.types import Receive, Scope, Send

from service.server import DrainingHttpToolsProtocol, GracefulServer, accept_queued

REQUEST = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def listening_socket() -> tuple[socket.socket, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock, sock.getsockname()[1]


def read_all(sock: socket.socket) -> bytes:
    sock.settimeout(5)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        data += b"<reset>"
    return data


def test_accept_queued_takes_every_queued_connection_and_leaves_the_listener_open() -> None:
    listener, port = listening_socket()
    with listener:
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        accepted = accept_queued(listener)
        late = socket.create_connection(("127.0.0.1", port), timeout=2)
        for sock in [*clients, *accepted, late]:
            sock.close()
    assert len(accepted) == 3


def test_accept_queued_returns_nothing_for_an_empty_queue() -> None:
    listener, _ = listening_socket()
    with listener:
        assert accept_queued(listener) == []


def queued_requests_at_shutdown(server_class: type[uvicorn.Server]) -> list[bytes]:
    """Clients connect and send while the event loop is not running, then the server shuts down."""
    config = uvicorn.Config(
        hello, host="127.0.0.1", port=0, lifespan="off", http=DrainingHttpToolsProtocol, log_config=None
    )
    config.load()
    server = server_class(config)
    server.lifespan = config.lifespan_class(config)  # what Server.serve() sets up before startup()

    async def scenario() -> list[socket.socket]:
        await server.startup()
        port = server.servers[0].sockets[0].getsockname()[1]
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
        for client in clients:
            client.sendall(REQUEST)
        await server.shutdown()  # no await before it: all four are still in the accept queue
        return clients

    clients = uvloop.run(scenario())
    responses = [read_all(client) for client in clients]
    for client in clients:
        client.close()
    return responses


def test_shutdown_serves_connections_still_in_the_accept_queue() -> None:
    responses = queued_requests_at_shutdown(GracefulServer)
    assert all(r.startswith(b"HTTP/1.1 200 ") and r.endswith(b"ok") for r in responses), responses


def test_plain_uvicorn_resets_connections_still_in_the_accept_queue() -> None:
    # The behaviour GracefulServer exists for; if uvicorn ever fixes it, this test says so.
    responses = queued_requests_at_shutdown(uvicorn.Server)
    assert not any(r.startswith(b"HTTP/1.1 200 ") for r in responses), responses
