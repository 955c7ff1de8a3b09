"""Uvicorn with a shutdown that resets as few connections as it can.

Written against uvicorn 0.54 (pinned to 0.54.x in pyproject.toml): it overrides
``Server.shutdown`` and ``HttpToolsProtocol.shutdown``/``on_headers_complete`` and reads their
state; service_tests/test_uvicorn_internals.py fails on an upgrade that moves any of it.
GRACEFUL_DRAIN=false runs stock uvicorn instead (``python -m service`` picks the classes).

On SIGTERM uvicorn 0.54 closes its listening socket and every connection that is not in the
middle of a request. Under load that resets two kinds of connections whose clients already
sent a request (the bench's SIGTERM drill, 8 clients opening a connection per request: 113
resets in 28 of 29 drills with plain uvicorn, GRACEFUL_DRAIN=false; none in 30 with this):

- handshakes the kernel completed but the process had not ``accept()``-ed yet: closing the
  listening socket resets everything in its accept queue;
- connections accepted but whose request had not been read yet: uvicorn closes them as idle,
  and a close with unread data sends RST.

In Kubernetes the preStop sleep keeps most new traffic away before SIGTERM arrives, but
endpoint updates propagate with a delay and port-forwards bypass them. So, on shutdown:

1. ``GracefulServer`` accepts everything queued and closes the listener in one synchronous
   step (nothing can be queued in between), then serves what it accepted.
2. ``DrainingHttpToolsProtocol`` gives a connection that has no request in progress a short
   grace to deliver one, serves it with ``Connection: close``, and only then closes.

A handshake still in flight at the close (its final ACK not yet in) is reset. A socket filter
dropping new SYNs first would close that window, but it did not measurably matter: 1 reset in 95
drills without it, 0 in 65 with it (8 and 32 clients, loopback); and the pod, which drops all
capabilities, is refused such a filter by hardened kernels (this one) anyway.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import sys

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

logger = logging.getLogger("service.server")

# How long a connection without a request in progress may take to send one once shutdown began.
IDLE_CONNECTION_GRACE_SECONDS = 1.0
# Upper bound on connections taken from the accept queue at shutdown (the backlog is 2048).
MAX_QUEUED_CONNECTIONS = 4096
# Logged once per shutdown, with how many queued connections were taken.
QUEUE_DRAINED_MESSAGE = "listen queue drained"


def accept_queued(listener: socket.socket) -> list[socket.socket]:
    """Accept, without blocking, every connection the kernel has queued on ``listener``."""
    # uvloop's listener objects cannot accept(): use a duplicate descriptor of the same socket.
    # Closing the duplicate leaves the socket open until its owner closes it.
    with socket.socket(fileno=os.dup(listener.fileno())) as dup:
        dup.setblocking(False)
        accepted: list[socket.socket] = []
        while len(accepted) < MAX_QUEUED_CONNECTIONS:
            try:
                conn, _ = dup.accept()
            except ConnectionAbortedError:
                continue  # the client gave up while queued
            except BlockingIOError:
                break  # the queue is empty
            except OSError as exc:  # e.g. EMFILE: keep what was accepted
                logger.warning("listen queue drain stopped early", extra={"error": str(exc)})
                break
            accepted.append(conn)
        else:
            logger.warning("listen queue drain stopped at its cap", extra={"connections": len(accepted)})
        return accepted


class DrainingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, except that shutdown does not close a connection between requests at once."""

    _draining = False

    def shutdown(self) -> None:
        if self.cycle is not None and not self.cycle.response_complete:
            super().shutdown()  # a request in progress: uvicorn finishes it and closes
            return
        # Accepted, no request in progress: the client may have sent one we have not read.
        self._draining = True
        self.loop.call_later(IDLE_CONNECTION_GRACE_SECONDS, self._close_if_idle)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self._draining and self.cycle is not None:
            self.cycle.keep_alive = False  # answered with Connection: close, then closed

    def _close_if_idle(self) -> None:
        if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
            self.transport.close()


class GracefulServer(uvicorn.Server):
    """A single-process uvicorn server that serves its accept queue before closing the listener."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await self._drain_listeners()
        finally:
            await super().shutdown(sockets)

    async def _drain_listeners(self) -> None:
        listeners = [listener for server in self.servers for listener in server.sockets]
        queued: list[socket.socket] = []
        try:
            for listener in listeners:
                queued += accept_queued(listener)
        except OSError as exc:  # os.dup: EMFILE
            logger.warning("listen queue not drained", extra={"error": str(exc)})
            drained = False
        else:
            drained = True
        # Same step as the last accept, no await in between: nothing gets queued in between.
        for server in self.servers:
            server.close()
        await self._serve_accepted(queued)
        if drained:
            logger.info(QUEUE_DRAINED_MESSAGE, extra={"connections": len(queued)})

    async def _serve_accepted(self, connections: list[socket.socket]) -> None:
        loop = asyncio.get_running_loop()
        # As uvicorn's Server.startup builds it (the config's class is typed as a bare Protocol).
        protocol = functools.partial(  # type: ignore[call-arg]
            self.config.http_protocol_class,
            config=self.config,
            server_state=self.server_state,
            app_state=self.lifespan.state,
        )
        for conn in connections:
            try:
                await loop.connect_accepted_socket(protocol, conn, ssl=self.config.ssl)
            except OSError:
                conn.close()  # reset by its client meanwhile


def serve(config: uvicorn.Config, server_class: type[uvicorn.Server] = GracefulServer) -> None:
    """What ``uvicorn.run`` does (reload aside), with ``server_class`` in a single process.

    With several workers uvicorn's supervisor builds its own (stock) servers: there only the
    per-connection drain of ``config``'s protocol applies, and, as with plain uvicorn, the
    supervisor exits 0 on SIGTERM and on a worker's failed startup.
    """
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    config.load_app()
    server = server_class(config)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
