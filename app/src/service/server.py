"""Uvicorn with a shutdown that resets as few connections as the kernel lets it.

On SIGTERM uvicorn 0.54 closes its listening socket and every connection that is not in the
middle of a request. Under load that resets two kinds of connections whose clients already
sent a request (bench/run.py's SIGTERM drill: 3-4 per drill with plain uvicorn):

- handshakes the kernel completed, or was completing, but the process had not ``accept()``-ed
  yet: closing the listening socket resets everything in its accept queue and every handshake
  still in flight;
- connections accepted but whose request had not been read yet: uvicorn closes them as idle,
  and a close with unread data sends RST.

In Kubernetes the preStop sleep keeps most new traffic away before SIGTERM arrives, but
endpoint updates propagate with a delay and port-forwards bypass them. So, on shutdown:

1. ``GracefulServer`` attaches a socket filter to the listener that drops new SYNs (those
   clients retry, then see "connection refused", as for a closed port), waits for handshakes
   already in flight to land in the accept queue, accepts everything queued and closes the
   listener in one synchronous step, then serves what it accepted. Some kernels refuse the
   filter to a process without capabilities (the one these tests run on does; the pod drops
   all): then only the last part runs, and a handshake in flight at the close is still reset.
2. ``DrainingHttpToolsProtocol`` gives a connection that has no request in progress a short
   grace to deliver one, serves it with ``Connection: close``, and only then closes.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import logging
import os
import socket
import struct
import sys

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

logger = logging.getLogger("service.server")

# How long a connection without a request in progress may take to send one once shutdown began.
IDLE_CONNECTION_GRACE_SECONDS = 1.0
# With new SYNs dropped, how long handshakes already past their SYN get to complete (a round
# trip; the event loop keeps accepting them meanwhile).
HANDSHAKE_SETTLE_SECONDS = 0.1
# Upper bound on connections taken from the accept queue at shutdown (the backlog is 2048).
MAX_QUEUED_CONNECTIONS = 4096

# Classic BPF, run by the kernel on every segment that reaches the listening socket (the
# program sees the TCP header at offset 0): drop segments with SYN set, accept the rest, so
# handshakes already in progress still complete and land in the accept queue.
_SO_ATTACH_FILTER = 26
_TCP_FLAGS_OFFSET = 13
_TCP_SYN = 0x02
_DROP_SYN_PROGRAM = (
    (0x30, 0, 0, _TCP_FLAGS_OFFSET),  # ldb [13]
    (0x45, 1, 0, _TCP_SYN),  # jset #SYN -> drop, else -> accept
    (0x06, 0, 0, 0xFFFFFFFF),  # accept: ret whole segment
    (0x06, 0, 0, 0),  # drop: ret 0
)


def refuse_new_handshakes(listener: socket.socket) -> None:
    """Attach the drop-SYN filter to a listening TCP socket (the kernel keeps its own copy).

    Raises OSError where the kernel refuses it (not Linux; EPERM without capabilities on
    hardened kernels).
    """
    if not sys.platform.startswith("linux"):
        raise OSError("socket filters need Linux")
    code = b"".join(struct.pack("=HBBI", *insn) for insn in _DROP_SYN_PROGRAM)
    program = ctypes.create_string_buffer(code, len(code))
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; }, native alignment.
    fprog = struct.pack("HP", len(_DROP_SYN_PROGRAM), ctypes.addressof(program))
    listener.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)


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
        try:
            for listener in listeners:
                refuse_new_handshakes(listener)
            filtered = bool(listeners)
        except OSError:
            filtered = False  # the close below still takes the queue; in-flight handshakes may be reset
        if filtered:
            await asyncio.sleep(HANDSHAKE_SETTLE_SECONDS)
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
            logger.info("listen queue drained", extra={"connections": len(queued), "new_handshakes_refused": filtered})

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


def serve(config: uvicorn.Config) -> None:
    """What ``uvicorn.run`` does, with ``GracefulServer`` in a single process.

    With several workers uvicorn's supervisor builds its own servers: there only the
    per-connection drain applies, and, as with plain uvicorn, the supervisor exits 0 on SIGTERM
    and on a worker's failed startup.
    """
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    config.load_app()
    server = GracefulServer(config)
    server.run()
    if not server.started:
        sys.exit(3)  # uvicorn's STARTUP_FAILURE
