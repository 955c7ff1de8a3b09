"""The uvicorn internals service/server.py relies on, so that an upgrade that moves one fails here,
by name, rather than as a shutdown that quietly stops draining. uvicorn is pinned to the minor
version they were read from (pyproject.toml); GRACEFUL_DRAIN=false is the way out meanwhile."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import Any

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState
from uvicorn.supervisors import Multiprocess

from service import server


def parameters(function: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(function).parameters)


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        (uvicorn.Server.shutdown, ["self", "sockets"]),
        (uvicorn.Server.run, ["self", "sockets"]),
        (HttpToolsProtocol.__init__, ["self", "config", "server_state", "app_state", "_loop"]),
        (HttpToolsProtocol.shutdown, ["self"]),
        (HttpToolsProtocol.on_headers_complete, ["self"]),
        (Multiprocess.__init__, ["self", "config", "sockets"]),
        (uvicorn.Config.bind_socket, ["self"]),
        (uvicorn.Config.load_app, ["self"]),
    ],
    ids=lambda value: getattr(value, "__qualname__", "params"),
)
def test_overridden_and_called_functions_keep_their_parameters(
    function: Callable[..., Any], expected: list[str]
) -> None:
    assert parameters(function) == expected


def test_server_shutdown_is_a_coroutine_the_graceful_server_can_await() -> None:
    assert inspect.iscoroutinefunction(uvicorn.Server.shutdown)


def test_a_failed_startup_exit_status_is_still_defined() -> None:
    assert isinstance(STARTUP_FAILURE, int) and STARTUP_FAILURE != 0


async def _hello(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def test_server_state_read_at_shutdown_exists_after_startup() -> None:
    config = uvicorn.Config(_hello, host="127.0.0.1", port=0, lifespan="off", log_config=None)
    config.load()
    instance = uvicorn.Server(config)
    instance.lifespan = config.lifespan_class(config)  # what Server.serve() sets up before startup()

    async def started_then_stopped() -> tuple[Any, ...]:
        await instance.startup()
        state = (
            [listener for s in instance.servers for listener in s.sockets],
            instance.server_state,
            instance.lifespan.state,
            instance.started,
            config.http_protocol_class,
            config.ssl,
        )
        await instance.shutdown()
        return state

    listeners, server_state, app_state, started, protocol_class, ssl = asyncio.run(started_then_stopped())
    assert listeners and all(hasattr(listener, "fileno") for listener in listeners)
    assert isinstance(server_state, ServerState) and isinstance(app_state, dict)
    assert started is True
    assert issubclass(protocol_class, asyncio.Protocol) and ssl is None


def test_http_protocol_keeps_the_request_state_the_draining_protocol_reads() -> None:
    config = uvicorn.Config(_hello, lifespan="off", log_config=None)
    config.load()
    seen: dict[str, Any] = {}

    class Recording(HttpToolsProtocol):
        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            assert self.cycle is not None
            seen.update(
                keep_alive=self.cycle.keep_alive,
                response_complete=self.cycle.response_complete,
                loop=self.loop,
                transport=self.transport,
            )

    async def exchange() -> bytes:
        loop = asyncio.get_running_loop()
        protocol = functools.partial(Recording, config=config, server_state=ServerState(), app_state={})
        listener = await loop.create_server(protocol, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        response = await reader.readuntil(b"ok")
        writer.close()
        listener.close()
        return response

    assert asyncio.run(exchange()).startswith(b"HTTP/1.1 200 ")
    assert (seen["keep_alive"], seen["response_complete"]) == (True, False)
    assert isinstance(seen["loop"], asyncio.AbstractEventLoop)
    assert isinstance(seen["transport"], asyncio.Transport)


def test_the_draining_classes_still_subclass_what_they_override() -> None:
    assert issubclass(server.GracefulServer, uvicorn.Server)
    assert issubclass(server.DrainingHttpToolsProtocol, HttpToolsProtocol)
