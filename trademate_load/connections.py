"""The users' HTTP connections: when each response reached this machine, and no pause before a request is sent.

Locust times a request from just before it is sent until its response has been read and parsed, on one gevent
loop that every user of the process shares. Two waits on that loop were counted as the target's time (measured
at 1500 req/s, 150 paced users, against a target answering in 0.06 ms; a single connection for reference):

- Before the send: geventhttpclient 2.6 checks a pooled connection with ``select``, and gevent's ``select`` yields
  to every other ready greenlet even with a zero timeout, so a request started, then waited for other users'
  work before it was sent (start to send p50 0.42 ms, p99 4.3 ms; 0.13 and 0.23 ms on a single connection).
  :func:`install` makes the check with the unpatched ``select``: the same answer, without the yield.
- After the response arrived: the user waits its turn on the loop before it reads and parses it (p50 0.45 ms,
  p99 6.6 ms; 0.10 and 0.26 ms on a single connection). The users' sockets ask the kernel for receive
  timestamps (Linux ``SO_TIMESTAMPNS``: when the bytes reached this machine, stamped whatever the loop was doing),
  and :func:`service_ms` times a request from its start to the kernel's receipt of the response's last bytes.

Where the kernel gives no timestamp (not Linux, TLS, no response read) the time Locust measured is kept.
"""

from __future__ import annotations

import contextvars
import socket
import struct
import sys

import gevent.monkey
import gevent.socket
from geventhttpclient.connectionpool import ConnectionPool

KERNEL_TIMESTAMPS = sys.platform.startswith("linux")
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux's value; Python's socket module does not name it
_TIMESPEC = struct.Struct("qq")  # struct timespec: seconds, nanoseconds (CLOCK_REALTIME, as time.time())
_ANCILLARY_BYTES = socket.CMSG_SPACE(_TIMESPEC.size)
_select = gevent.monkey.get_original("select", "select")
_received: contextvars.ContextVar[float | None] = contextvars.ContextVar("trademate_received", default=None)


class TimestampedSocket(gevent.socket.socket):
    """A gevent socket whose ``recv`` notes, for the greenlet reading, when the kernel received those bytes."""

    __slots__ = ()

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        sock = self._sock  # gevent's own recv and recvmsg loop the same way, one call deeper
        while True:
            try:
                data, ancillary, _flags, _address = sock.recvmsg(bufsize, _ANCILLARY_BYTES, flags)
                break
            except BlockingIOError:
                if self.timeout == 0.0:
                    raise
            self._wait(self._read_event)
        for level, kind, payload in ancillary:
            if kind == SO_TIMESTAMPNS and level == socket.SOL_SOCKET:
                seconds, nanoseconds = _TIMESPEC.unpack(payload)
                _received.set(seconds + nanoseconds * 1e-9)
        return data


def _create_tcp_socket(_pool: ConnectionPool, family: int, socktype: int, protocol: int) -> TimestampedSocket:
    sock = TimestampedSocket(family, socktype, protocol)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    return sock


def _is_socket_alive(_pool: ConnectionPool, sock: gevent.socket.socket | None) -> bool:
    """geventhttpclient's check (an idle keep-alive connection is not readable), without gevent's yield."""
    if sock is None:
        return False
    try:  # given the socket underneath, select() asks its C fileno(), not gevent's Python one
        return not _select((sock._sock,), (), (), 0.0)[0]
    except (OSError, ValueError):  # closed: a negative descriptor
        return False


def install() -> None:
    """Give every geventhttpclient connection pool of this process the check and (on Linux) the sockets above."""
    ConnectionPool._is_socket_alive = _is_socket_alive
    if KERNEL_TIMESTAMPS:
        ConnectionPool._create_tcp_socket = _create_tcp_socket


def service_ms(start_time: float | None, response_time: float, exception: BaseException | None) -> float:
    """A request's service time in ms: from its start to the kernel's receipt of the last bytes of its response,
    when this greenlet read one since the request started (an answer with a status, even an error status);
    else ``response_time``, the time Locust measured. Clears the receipt, so the next request starts afresh."""
    received = _received.get()
    if received is None:
        return response_time
    _received.set(None)
    if start_time is None or (exception is not None and not isinstance(getattr(exception, "code", None), int)):
        return response_time  # no answer (a timeout, a reset): Locust's time is how long the request took
    measured = (received - start_time) * 1000.0
    return min(measured, response_time) if measured >= 0.0 else response_time  # < 0: an earlier request's bytes
