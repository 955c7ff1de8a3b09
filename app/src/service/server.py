"""Uvicorn with a shutdown that fails no connection the kernel has already accepted.

On SIGTERM uvicorn 0.54 closes its listening socket and every connection that is not in the
middle of a request. Under load that resets two kinds of connections whose clients already
sent a request (measured: 4 per SIGTERM drill in bench/run.py, 2 of each):

- handshakes the kernel completed but the process had not ``accept()``-ed yet: closing the
  listening socket resets everything still in its accept queue;
- connections accepted but whose request had not been read yet: uvicorn closes them as idle,
  and a close with unread data sends RST.

In Kubernetes the preStop sleep keeps most new traffic away before SIGTERM arrives, but
endpoint updates propagate with a delay and port-forwards bypass them. So, on shutdown:

1. ``GracefulServer`` accepts everything in the accept queue and closes the listening socket
   in one synchronous step (no event-loop turn in between, so a handshake can only slip in
   during microseconds), then serves what it accepted. Clients that connect later are refused.
   No privilege needed (a socket filter that stops new handshakes first would close even that
   window, but attaching one is refused to a process without capabilities on some kernels,
   e.g. the one these tests run on, and the pod drops all capabilities).
2. ``DrainingHttpToolsProtocol`` gives a connection that has no request in progress a short
   grace to deliver one, serves it with ``Connection: close``, and only then closes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import sys

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

logger = logging.getLogger("service.server")

# How long a connection without a request in progress may take to send one once shutdown began.
IDLE_CONNECTION_GRACE_SECONDS = 1.0
# Upper bound on connections taken from the accept queue at shutdown (the backlog is 2048).
MAX_QUEUED_CONNECTIONS = 4096


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
            except OSError as exc:  # EAGAIN: the queue is empty; anything else (EMFILE): stop here
                if not isinstance(exc, BlockingIOError | InterruptedError):
                    logger.warning("listen queue drain stopped early", extra={"error": str(exc)})
                break
            accepted.append(conn)
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
        queued: list[socket.socket] = []
        try:
            for server in self.servers:
                for listener in server.sockets:
                    queued += accept_queued(listener)
        except OSError as exc:
            logger.warning("listen queue not drained", extra={"error": str(exc)})
        # Same step as the last accept: nothing is queued between it and the close.
        for server in self.servers:
            server.close()
        loop = asyncio.get_running_loop()
        # As uvicorn's Server.startup builds it (the config's class is typed as a bare Protocol).
        protocol = functools.partial(  # type: ignore[call-arg]
            self.config.http_protocol_class,
            config=self.config,
            server_state=self.server_state,
            app_state=self.lifespan.state,
        )
        for conn in queued:
            try:
                await loop.connect_accepted_socket(protocol, conn)
            except OSError:
                conn.close()  # reset by its client meanwhile
        logger.info("listen queue drained", extra={"connections": len(queued)})
        await super().shutdown(sockets)


def serve(config: uvicorn.Config) -> None:
    """What ``uvicorn.run`` does, with ``GracefulServer`` in a single process.

    With several workers uvicorn's supervisor builds its own servers, so there only the
    per-connection drain applies (the listening socket is shared; a worker closing it leaves
    the queue to the others).
    """
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    config.load_app()
    server = GracefulServer(config)
    server.run()
    if not server.started:
        sys.exit(3)  # uvicorn's STARTUP_FAILURE
