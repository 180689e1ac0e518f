"""The users' connections over real loopback sockets: no yield while a pooled connection is checked, and the
service time ending when the kernel received the response, however long the loop took to read it."""

from __future__ import annotations

import select
import subprocess
import sys
import time

import gevent
import gevent.select
import gevent.socket
import greenlet
import pytest
from geventhttpclient import HTTPClient
from geventhttpclient.connectionpool import ConnectionPool
from locust.contrib.fasthttp import LocustBadStatusCode

from trademate_load import connections

pytestmark = pytest.mark.skipif(not connections.KERNEL_TIMESTAMPS, reason="kernel receive timestamps are Linux's")

# A keep-alive HTTP server in its own process (so this process's busy loop cannot delay it): it answers every
# request DELAY_S after reading it. It prints its port once listening.
DELAY_S = 0.02
SERVER = f"""
import contextlib, socket, threading, time
def serve(conn):
    with conn, contextlib.suppress(OSError):
        while True:
            data = b""
            while b"\\r\\n\\r\\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            time.sleep({DELAY_S})
            conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok")
listener = socket.create_server(("127.0.0.1", 0))
print(listener.getsockname()[1], flush=True)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""


@pytest.fixture(scope="module")
def server_port():
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        yield int(proc.stdout.readline())
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def client(server_port):
    connections.install()
    client = HTTPClient("127.0.0.1", server_port, concurrency=1)
    yield client
    client.close()


def switches_during(call) -> list:
    """What ``call()`` returned, and the greenlet switches out of the calling greenlet while it ran."""
    me, seen = greenlet.getcurrent(), []

    def trace(event, args):
        if event in ("switch", "throw") and args[0] is me:
            seen.append(args[1])

    previous = greenlet.settrace(trace)
    try:
        result = call()
    finally:
        greenlet.settrace(previous)
    return [result, seen]


def test_a_pooled_connection_is_handed_out_without_yielding_to_other_greenlets(client, monkeypatch):
    monkeypatch.setattr(select, "select", gevent.select.select)  # as Locust's gevent.monkey.patch_all() leaves it
    assert client.get("/").read() == b"ok"  # one idle keep-alive connection now waits in the pool
    pooled = client._connection_pool
    ready = gevent.spawn(lambda: None)  # another greenlet ready to run: a yield would switch to it
    sock, switched = switches_during(pooled.get_socket)
    assert switched == []
    assert not ready.dead
    assert isinstance(sock, connections.TimestampedSocket)
    pooled.return_socket(sock)


def test_a_connection_with_unread_bytes_or_closed_is_not_handed_out_again(server_port):
    connections.install()
    pool = ConnectionPool("127.0.0.1", server_port, "127.0.0.1", server_port, size=1)
    sock = pool.get_socket()
    assert pool._is_socket_alive(sock)
    peer = gevent.socket.socket()  # a connection whose answer is left unread, then closed
    peer.connect(("127.0.0.1", server_port))
    peer.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    gevent.sleep(DELAY_S * 5)
    assert not pool._is_socket_alive(peer)  # readable while idle: bytes nobody asked for, as a FIN would be
    peer.close()
    assert not pool._is_socket_alive(peer)  # closed
    assert not pool._is_socket_alive(None)
    pool.return_socket(sock)
    pool.close()


def test_the_service_time_ends_when_the_kernel_received_the_response_not_when_the_busy_loop_read_it(client):
    hog_s = 0.3

    def hog():  # a greenlet that keeps the loop for hog_s without yielding, as a burst of other users would
        until = time.perf_counter() + hog_s
        while time.perf_counter() < until:
            pass

    # A pooled connection, so the request goes out at once: a new one is resolved (on gevent's thread pool)
    # and connected first, and once that took longer than DELAY_S / 4 the hog ran before the request was sent.
    assert client.get("/").read() == b"ok"
    start_time = time.time()
    start_perf = time.perf_counter()
    gevent.spawn_later(DELAY_S / 4, hog)  # runs while the request waits for its answer
    response = client.get("/")
    body = response.read()
    response_time = (time.perf_counter() - start_perf) * 1000.0  # Locust's way: until the response was read
    service = connections.service_ms(start_time, response_time, None)
    assert body == b"ok"
    assert response_time >= hog_s * 1000.0
    assert DELAY_S * 1000.0 <= service < hog_s * 1000.0 / 2
    assert connections.service_ms(start_time, response_time, None) == response_time  # the receipt is used once


def test_without_an_answer_the_time_locust_measured_is_kept(client):
    assert client.get("/").read() == b"ok"  # a receipt is noted...
    timeout = TimeoutError("timed out")
    assert connections.service_ms(time.time() - 1.0, 1000.0, timeout) == 1000.0  # ...but the request had no answer
    assert connections.service_ms(time.time(), 5.0, None) == 5.0  # and it was used up

    started = time.time()
    assert client.get("/").read() == b"ok"
    bad_status = LocustBadStatusCode("http://127.0.0.1/", code=503)  # what FastHttpUser fails a 5xx answer with
    assert connections.service_ms(started, 10_000.0, bad_status) < 10_000.0  # an error status is an answer


def test_bytes_received_before_the_request_started_are_not_its_answer(client):
    assert client.get("/").read() == b"ok"
    later = time.time() + 60.0  # a request "started" after the receipt: the bytes cannot be its answer
    assert connections.service_ms(later, 7.0, None) == 7.0
