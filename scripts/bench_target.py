"""A trivial HTTP/1.1 target for the generator benchmarks: every request answered at once with a fixed response.

    python scripts/bench_target.py [--port 0]     # prints "bench target listening on http://127.0.0.1:PORT"

It answers any method and path with 200, a small JSON body and the headers the suite reads
(``Server-Timing: app;dur=..,db;dur=..`` and ``X-Cache: HIT``), over keep-alive connections, on one asyncio
event loop (uvloop when installed). It is far faster than one Locust process, so a benchmark against it
measures the load generator, not the target.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys

BODY = b'{"ok":true,"symbol":"AAPL","price":187.25,"currency":"USD"}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: application/json\r\n"
    b"Server-Timing: app;dur=0.050, db;dur=0.010\r\n"
    b"X-Cache: HIT\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)


class Answer(asyncio.Protocol):
    """Answers each request head (bodies of POSTs skipped by Content-Length) with RESPONSE."""

    def connection_made(self, transport):
        self.transport = transport
        self.pending = b""
        self.skip = 0

    def data_received(self, data: bytes) -> None:
        data = self.pending + data
        answers = 0
        while True:
            if self.skip:
                taken = min(self.skip, len(data))
                data, self.skip = data[taken:], self.skip - taken
                if self.skip:
                    break
            end = data.find(b"\r\n\r\n")
            if end < 0:
                break
            head, data = data[:end], data[end + 4 :]
            answers += 1
            lower = head.lower()
            at = lower.find(b"content-length:")
            if at >= 0:
                self.skip = int(lower[at + 15 :].split(b"\r\n", 1)[0])
        self.pending = data
        if answers:
            self.transport.write(RESPONSE * answers)


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    server = await loop.create_server(Answer, sock=sock, backlog=1024)
    print(f"bench target listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    port = parser.parse_args().port
    try:
        import uvloop

        uvloop.run(serve(port))
    except ImportError:
        asyncio.run(serve(port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
