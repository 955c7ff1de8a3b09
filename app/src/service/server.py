"""Uvicorn with a shutdown that fails no connection the kernel has already accepted.

On SIGTERM uvicorn 0.54 closes its listening socket and every connection that is not in the
middle of a request. Under load that resets two kinds of connections whose clients already
sent a request (measured: 4 per SIGTERM drill in bench/run.py):

- handshakes the kernel completed but the process had not ``accept()``-ed yet: closing the
  listening socket resets everything still in its accept queue;
- connections accepted but whose request had not been read yet: uvicorn closes them as idle,
  and a close with unread data sends RST.

In Kubernetes the preStop sleep keeps most new traffic away before SIGTERM arrives, but
endpoint updates propagate with a delay and port-forwards bypass them. So, on shutdown:

1. ``ListenQueueDrain`` stops the kernel from completing new handshakes (a socket filter
   that drops SYNs: new clients retry and then see "connection refused", the same as a
   closed port), waits until the accept queue is empty, then lets uvicorn close it.
2. ``DrainingHttpToolsProtocol`` gives a connection that has no request in progress a short
   grace to deliver one, serves it with ``Connection: close``, and only then closes.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import socket
import struct
import sys
import time

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

logger = logging.getLogger("service.server")

# How long a connection without a request in progress may take to send one once shutdown began.
IDLE_CONNECTION_GRACE_SECONDS = 1.0
# Handshakes already past their SYN complete within a round trip; wait at least this long for
# them, and at most the upper bound for the process to accept what the kernel queued.
ACCEPT_DRAIN_MIN_SECONDS = 0.1
ACCEPT_DRAIN_MAX_SECONDS = 2.0
ACCEPT_DRAIN_POLL_SECONDS = 0.01

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
# struct tcp_info: tcpi_unacked (u32 at byte 24) is the accept-queue length of a listening socket.
_TCP_INFO_UNACKED = struct.Struct("=24xI")


def refuse_new_handshakes(sock: socket.socket) -> None:
    """Attach the drop-SYN filter to a listening TCP socket (the kernel keeps its own copy).

    Raises OSError where socket filters are unavailable (not Linux).
    """
    if not sys.platform.startswith("linux"):
        raise OSError("socket filters need Linux")
    code = b"".join(struct.pack("=HBBI", *insn) for insn in _DROP_SYN_PROGRAM)
    program = ctypes.create_string_buffer(code, len(code))
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; }, native alignment.
    fprog = struct.pack("HP", len(_DROP_SYN_PROGRAM), ctypes.addressof(program))
    sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)


def accept_queue_length(sock: socket.socket) -> int:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_UNACKED.size)
    (queued,) = _TCP_INFO_UNACKED.unpack(info[: _TCP_INFO_UNACKED.size])
    return int(queued)


async def drain_accept_queues(listeners: list[socket.socket]) -> None:
    """Stop new handshakes on ``listeners`` and wait until the event loop has accepted the rest."""
    try:
        for sock in listeners:
            refuse_new_handshakes(sock)
    except OSError as exc:
        logger.warning("listen queue not drained", extra={"error": str(exc)})
        return
    started = time.monotonic()
    while True:
        await asyncio.sleep(ACCEPT_DRAIN_POLL_SECONDS)
        waited = time.monotonic() - started
        queued = sum(accept_queue_length(sock) for sock in listeners)
        if (queued == 0 and waited >= ACCEPT_DRAIN_MIN_SECONDS) or waited >= ACCEPT_DRAIN_MAX_SECONDS:
            if queued:
                logger.warning("listen queue not empty at close", extra={"queued": queued})
            return


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
    """A single-process uvicorn server that drains its own listen queue before closing it."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        listeners = [sock for server in self.servers for sock in server.sockets]
        if listeners:
            await drain_accept_queues(listeners)
        await super().shutdown(sockets)


def serve(config: uvicorn.Config) -> None:
    """What ``uvicorn.run`` does, with ``GracefulServer`` in a single process.

    With several workers the listening socket is shared by processes that uvicorn's supervisor
    may replace one by one; a filter on it would starve the replacements, so there only the
    per-connection drain applies.
    """
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    config.load_app()
    server = GracefulServer(config)
    server.run()
    if not server.started:
        sys.exit(3)  # uvicorn's STARTUP_FAILURE
