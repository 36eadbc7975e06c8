"""The shared HTTP/1.1 server (``mesospy.http``) on its own: a real server on a loopback
port, spoken to with raw sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from mesospy.http import HttpServer, Limits, Request, Response, sse

SMALL = Limits(max_body=100)
DEFAULT = Limits()


async def _echo(request: Request) -> Response:
    if request.path == "/stream":

        async def pieces() -> AsyncIterator[bytes]:
            for n in range(3):
                yield json.dumps({"n": n}).encode()

        return Response(200, content_type="application/json", stream=pieces())
    if request.path == "/events":

        async def events() -> AsyncIterator[str]:
            yield sse("HELLO", '{"a": 1}')

        return Response.events(events())
    doc = {
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "body": request.body.decode(),
        "type": request.header("content-type"),
        "cookies": request.cookies(),
        "form": request.form(),
    }
    return Response.json(doc)


def _serve_and(raw: bytes, limits: Limits = SMALL, **options: object) -> bytes:
    async def main() -> bytes:
        server = HttpServer(_echo, limits, **options)  # type: ignore[arg-type]
        port = await server.start("127.0.0.1", 0)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(raw)
            await writer.drain()
            data = await asyncio.wait_for(reader.read(), 10)
            writer.close()
            return data
        finally:
            await server.stop()

    return asyncio.run(main())


def _chunks(body: bytes) -> bytes:
    payload = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        payload, body = payload + rest[:size], rest[size + 2 :]
    return payload


def test_keep_alive_serves_two_requests_on_one_connection() -> None:
    one = b"POST /a%20b?x=1&x=2&e= HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"
    two = b"GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    data = _serve_and(one + two)
    assert data.count(b"HTTP/1.1 200 OK") == 2
    assert b'"path": "/a b"' in data and b'"query": {"x": "2", "e": ""}' in data
    assert b'"body": "hi"' in data and b'"path": "/b"' in data
    assert data.count(b"Connection: keep-alive") == 1 and data.count(b"Connection: close") == 1


def test_http_1_0_closes_unless_asked_to_keep_alive() -> None:
    one = b"GET /a HTTP/1.0\r\n\r\nGET /never HTTP/1.0\r\n\r\n"
    data = _serve_and(one)
    assert data.count(b"HTTP/1.1 200") == 1 and b"/never" not in data


def test_chunked_request_body() -> None:
    raw = (
        b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n"
    )
    assert b'"body": "abcde"' in _serve_and(raw)


def test_cookies_and_forms() -> None:
    body = b"a=1&b=&a=2"
    raw = (
        b"POST /f HTTP/1.1\r\nCookie: s=abc; other=x\r\nConnection: close\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    doc = json.loads(_serve_and(raw).partition(b"\r\n\r\n")[2])
    assert doc["cookies"] == {"s": "abc", "other": "x"}
    assert doc["form"] == {"a": "1", "b": ""}
    body = b'{"agent_id": "a1", "n": 2}'
    raw = (
        b"POST /f HTTP/1.1\r\nContent-Type: application/json\r\nConnection: close\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    assert json.loads(_serve_and(raw).partition(b"\r\n\r\n")[2])["form"] == {
        "agent_id": "a1",
        "n": "2",
    }


def test_streams_are_chunked() -> None:
    head, _, body = _serve_and(b"GET /stream HTTP/1.1\r\n\r\n").partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head and b"Connection: close" in head
    assert _chunks(body) == b'{"n": 0}{"n": 1}{"n": 2}'


def test_server_sent_events() -> None:
    head, _, body = _serve_and(b"GET /events HTTP/1.1\r\n\r\n").partition(b"\r\n\r\n")
    assert b"Content-Type: text/event-stream" in head
    assert _chunks(body) == b'event: HELLO\ndata: {"a": 1}\n\n'


@pytest.mark.parametrize(
    ("raw", "status", "words"),
    [
        (b"NONSENSE\r\n\r\n", b"400", b"not an HTTP/1.x request line"),
        (b"GET / HTTP/2\r\n\r\n", b"400", b"not an HTTP/1.x request line"),
        (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", b"400", b"not a header line"),
        (b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", b"400", b"not a number"),
        (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", b"400", b"not a number"),
        (b"POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", b"413", b"over 100"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", b"400", b"hexadecimal"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n", b"413", b"over 100"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", b"400", b"use chunked"),
        (b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 2000 + b"\r\n\r\n", b"431", b"over 1024"),
    ],
)
def test_bad_requests_are_answered_and_closed(raw: bytes, status: bytes, words: bytes) -> None:
    data = _serve_and(raw, Limits(max_head=1024, max_body=100))
    assert data.startswith(b"HTTP/1.1 " + status), data
    assert words in data and b"Connection: close" in data


def test_a_request_cut_short_is_answered_400() -> None:
    async def client(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x")
        writer.write_eof()
        data = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert data.startswith(b"HTTP/1.1 400") and b"ends before its headers" in data

    _with_server(_echo, client)


def test_refusals_and_headers_are_the_servers_own() -> None:
    def error(status: int, message: str) -> Response:
        return Response.json({"error": message}, status)

    data = _serve_and(
        b"POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n",
        headers=[("X-Frame-Options", "DENY")],
        error=error,
    )
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413") and b"X-Frame-Options: DENY" in head
    assert json.loads(body) == {"error": "the body of 101 bytes is over 100"}


def _with_server(
    handler: Callable[[Request], Awaitable[Response]],
    client: Callable[[int], Awaitable[None]],
    limits: Limits = DEFAULT,
) -> None:
    async def main() -> None:
        server = HttpServer(handler, limits)
        port = await server.start("127.0.0.1", 0)
        try:
            await client(port)
        finally:
            await server.stop()

    asyncio.run(main())


def test_a_failing_handler_answers_500_and_the_server_goes_on() -> None:
    async def handler(request: Request) -> Response:
        if request.path == "/boom":
            raise RuntimeError("bug")
        return Response.text(200, "fine")

    async def client(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /boom HTTP/1.1\r\n\r\nGET /ok HTTP/1.1\r\nConnection: close\r\n\r\n")
        data = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert data.startswith(b"HTTP/1.1 500") and b"internal error" in data
        assert b"HTTP/1.1 200 OK" in data and data.endswith(b"fine\n")

    _with_server(handler, client)


def test_an_idle_connection_is_closed() -> None:
    async def client(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed, nothing said
        writer.close()

    _with_server(_echo, client, Limits(idle_timeout=0.2))


def test_a_client_going_away_closes_its_stream() -> None:
    closed = asyncio.Event()

    async def forever() -> AsyncIterator[bytes]:
        yield b"{}"
        await asyncio.Event().wait()  # never another piece
        yield b""  # pragma: no cover

    async def close() -> None:
        closed.set()

    async def handler(request: Request) -> Response:
        return Response(200, stream=forever(), on_close=close)

    async def client(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /s HTTP/1.1\r\n\r\n")
        await reader.readuntil(b"{}")
        writer.close()
        await asyncio.wait_for(closed.wait(), 5)

    _with_server(handler, client)
