"""One small HTTP/1.1 server on the running asyncio loop, for every HTTP door of mesospy.

A handler is a coroutine taking a ``Request`` and answering a ``Response``: whole (sent with
``Content-Length``; the connection is kept alive) or streamed (``Response.stream``: sent
chunked until the stream ends or the client goes away, which closes the stream so that
whatever feeds it learns nobody listens). Request bodies come with ``Content-Length`` or
chunked. ``Limits`` bound the request head (431 over it), the body (413) and how long a
connection may stay silent; anything unparsable is answered 400 and the connection closed.

Usage::

    from mesospy.http import HttpServer, Limits, Request, Response

    async def handle(request: Request) -> Response:
        if request.path == "/hello":
            return Response.json({"hello": request.query.get("name", "world")})
        return Response.text(404, f"no such path {request.path}")

    server = HttpServer(handle, Limits(max_body=1024 * 1024), tls=None)
    port = await server.start("127.0.0.1", 0)  # 0: a free port
    ...
    await server.stop()

``Response.events`` answers server-sent events (``sse`` formats one); ``tls_context`` makes
the HTTPS context from a ``TLSConfig``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger(__name__)

Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class Limits:
    """What one connection may send: the request head and body in bytes, and the seconds
    it may stay silent between requests (or stall within one) before it is closed."""

    max_head: int = 64 * 1024
    max_body: int = 64 * 1024 * 1024
    idle_timeout: float = 120.0


@dataclass
class Request:
    method: str  # upper case
    target: str  # as sent: path and query
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    client: str = ""  # the peer's address
    # The subject common name of the client's TLS certificate, when it presented a
    # verified one.
    certificate_name: str | None = None

    @property
    def path(self) -> str:
        """The decoded path, without the query."""
        return unquote(urlsplit(self.target).path)

    @property
    def query(self) -> dict[str, str]:
        """The query's parameters (the last value of each; blank values kept)."""
        parsed = parse_qs(urlsplit(self.target).query, keep_blank_values=True)
        return {k: v[-1] for k, v in parsed.items()}

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def cookies(self) -> dict[str, str]:
        jar: dict[str, str] = {}
        for part in self.header("cookie").split(";"):
            name, sep, value = part.strip().partition("=")
            if sep:
                jar[name] = value
        return jar

    def form(self) -> dict[str, str]:
        """An application/x-www-form-urlencoded or JSON body as a flat mapping."""
        if self.header("content-type").startswith("application/json"):
            try:
                data = json.loads(self.body or b"{}")
            except ValueError:
                return {}
            return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        parsed = parse_qs(self.body.decode(errors="replace"), keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: Headers = field(default_factory=list)
    # A streamed body (chunked): the server writes each piece as it comes.
    stream: AsyncIterator[bytes] | None = None
    # Run once a stream is over, however it ended (even before its first piece).
    on_close: Callable[[], Awaitable[object]] | None = None

    @classmethod
    def text(cls, status: int, message: str, headers: Headers | None = None) -> Response:
        """A plain-text answer, one line (Mesos answers its errors so)."""
        body = message.encode() + (b"\n" if message and not message.endswith("\n") else b"")
        return cls(status, body, headers=headers or [])

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: Headers | None = None) -> Response:
        return cls(status, json.dumps(data).encode(), "application/json", headers or [])

    @classmethod
    def redirect(cls, location: str, status: int = 303) -> Response:
        return cls(status, b"", headers=[("Location", location)])

    @classmethod
    def events(cls, events: AsyncIterator[str], headers: Headers | None = None) -> Response:
        """A ``text/event-stream`` answer: each item of ``events`` (see ``sse``) as sent."""
        return cls(
            200, content_type="text/event-stream", headers=headers or [], stream=_encoded(events)
        )


def sse(event: str, data: str) -> str:
    """One server-sent event (``data`` holds no newline: it is JSON)."""
    return f"event: {event}\ndata: {data}\n\n"


Handler = Callable[[Request], Awaitable[Response]]
# How the server answers what it refuses itself (bad requests, a failing handler).
ErrorAnswer = Callable[[int, str], Response]


class BadRequest(Exception):
    """The bytes are not an HTTP request this server takes (status, message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class HttpServer:
    """Serves ``handler`` on ``host:port``; ``start`` answers the bound port.

    ``headers`` go on every answer (e.g. a dashboard's security headers); ``error`` makes
    the answers to refused requests (plain text by default).
    """

    def __init__(
        self,
        handler: Handler,
        limits: Limits = Limits(),
        tls: ssl.SSLContext | None = None,
        headers: Headers | None = None,
        error: ErrorAnswer = Response.text,
    ) -> None:
        self.handler = handler
        self.limits = limits
        self.tls = tls
        self.headers = headers or []
        self.error = error
        self.port = 0
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(
            self._connection, host, port, limit=self.limits.max_head, ssl=self.tls
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        client = str(peer[0]) if peer else ""
        name = _common_name(writer.get_extra_info("peercert"))
        try:
            while await self._exchange(reader, writer, client, name):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _exchange(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        client: str,
        name: str | None,
    ) -> bool:
        """One request and its answer; whether the connection goes on."""
        limits = self.limits
        try:
            async with asyncio.timeout(limits.idle_timeout):
                head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                await self._refuse(writer, 400, "the request ends before its headers")
            return False
        except asyncio.LimitOverrunError:
            await self._refuse(writer, 431, f"request headers are over {limits.max_head} bytes")
            return False
        try:
            request, version = _parse_head(head)
            request.client, request.certificate_name = client, name
            async with asyncio.timeout(limits.idle_timeout):  # a client that stalls mid-body
                request.body = await self._body(reader, request)
        except BadRequest as exc:
            await self._refuse(writer, exc.status, exc.message)
            return False
        connection = request.header("connection").lower()
        # HTTP/1.1 keeps the connection unless told not to; HTTP/1.0 only when asked to.
        keep = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        try:
            response = await self.handler(request)
        except Exception:
            log.exception("HTTP %s %s failed", request.method, request.path)
            response = self.error(500, "internal error; see the server's log")
        if response.stream is not None:
            await self._stream(reader, writer, response)
            return False
        await self._write(writer, response, keep, head_only=request.method == "HEAD")
        return keep

    async def _refuse(self, writer: asyncio.StreamWriter, status: int, message: str) -> None:
        await self._write(writer, self.error(status, message), False)

    async def _body(self, reader: asyncio.StreamReader, request: Request) -> bytes:
        coding = request.header("transfer-encoding").lower()
        if coding:
            if coding.rsplit(",", 1)[-1].strip() != "chunked":
                raise BadRequest(400, f"Transfer-Encoding {coding!r} is not taken; use chunked")
            return await self._chunked(reader)
        raw = request.header("content-length", "0").strip() or "0"
        if not raw.isdigit():
            raise BadRequest(400, f"Content-Length {raw[:20]!r} is not a number")
        length = int(raw)
        if length > self.limits.max_body:
            raise BadRequest(413, f"the body of {length} bytes is over {self.limits.max_body}")
        return await reader.readexactly(length) if length else b""

    async def _chunked(self, reader: asyncio.StreamReader) -> bytes:
        body = bytearray()
        try:
            while True:
                line = (await reader.readuntil(b"\r\n")).split(b";")[0].strip()
                try:
                    size = int(line, 16)
                except ValueError:
                    raise BadRequest(400, f"chunk size {line[:20]!r} is not hexadecimal") from None
                if size < 0 or len(body) + size > self.limits.max_body:
                    raise BadRequest(413, f"the body is over {self.limits.max_body} bytes")
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":
                        pass  # trailers: ignored
                    return bytes(body)
                body += await reader.readexactly(size)
                if await reader.readexactly(2) != b"\r\n":
                    raise BadRequest(400, "a chunk does not end with CRLF")
        except asyncio.LimitOverrunError:
            raise BadRequest(400, "a chunk size or trailer line is too long") from None

    def _head(self, response: Response, extra: Headers) -> bytes:
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [f"HTTP/1.1 {response.status} {reason}", f"Content-Type: {response.content_type}"]
        lines += [f"{k}: {v}" for k, v in [*self.headers, *extra, *response.headers]]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _write(
        self, writer: asyncio.StreamWriter, response: Response, keep: bool, head_only: bool = False
    ) -> None:
        """The answer with its length; for HEAD (``head_only``) the GET's headers and no
        body, as HTTP says."""
        extra = [
            ("Content-Length", str(len(response.body))),
            ("Connection", "keep-alive" if keep else "close"),
        ]
        writer.write(self._head(response, extra) + (b"" if head_only else response.body))
        await writer.drain()

    async def _stream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, response: Response
    ) -> None:
        """Write a chunked stream until it ends or the client goes away (then the stream is
        closed, so whatever feeds it learns that nobody listens)."""
        assert response.stream is not None
        stream = response.stream
        writer.write(
            self._head(response, [("Transfer-Encoding", "chunked"), ("Connection", "close")])
        )
        gone = asyncio.ensure_future(reader.read(1))  # EOF (or anything) ends the stream

        async def pump() -> None:
            async for piece in stream:
                if piece:
                    writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()

        pumping = asyncio.ensure_future(pump())
        try:
            await asyncio.wait({gone, pumping}, return_when=asyncio.FIRST_COMPLETED)
            error = pumping.exception() if pumping.done() and not pumping.cancelled() else None
            if error is not None and not isinstance(error, ConnectionError):
                log.error("an HTTP stream failed", exc_info=error)
        finally:
            for task in (gone, pumping):
                task.cancel()
            for task in (gone, pumping):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for close in (getattr(stream, "aclose", None), response.on_close):
                if close is not None:
                    with contextlib.suppress(Exception):
                        await close()


async def _encoded(events: AsyncIterator[str]) -> AsyncIterator[bytes]:
    try:
        async for event in events:
            yield event.encode()
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


def _common_name(peercert: object) -> str | None:
    """The subject common name of a verified client certificate (``ssl``'s dict form)."""
    if not isinstance(peercert, dict):
        return None
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


def _parse_head(head: bytes) -> tuple[Request, str]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, f"not an HTTP/1.x request line: {lines[0][:100]!r}")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise BadRequest(400, f"not a header line: {line[:100]!r}")
        headers[name.strip().lower()] = value.strip()
    return Request(method.upper(), target, headers), version
