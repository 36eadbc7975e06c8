"""A small HTTP/1.1 server on the running asyncio loop: what the master's HTTP APIs need.

Requests carry a ``Content-Length`` or chunked body; responses are either whole (with a
``Content-Length``, and the connection kept alive) or a stream (chunked, ending when the
stream ends or the client goes away). Anything it cannot parse is answered 400 and the
connection closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

MAX_HEAD = 64 * 1024
# A connection that sends nothing for this long between requests (or stalls in one) is closed.
IDLE_TIMEOUT = 120.0


class BadRequest(Exception):
    """The bytes are not an HTTP request this server takes (status, message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    # The common name of the client's TLS certificate, when it presented a verified one.
    certificate_name: str | None = None

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        """The query's parameters (the last value of each)."""
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.target).query).items()}

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    # A streamed body (chunked): the server writes each piece as it comes.
    stream: AsyncIterator[bytes] | None = None
    # Run once a stream is over, however it ended (even before its first piece).
    on_close: Callable[[], Awaitable[object]] | None = None


def text(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """A plain-text answer (errors: Mesos answers them so)."""
    body = message.encode() + (b"\n" if message and not message.endswith("\n") else b"")
    return Response(status, body, headers=headers or {})


Handler = Callable[[Request], Awaitable[Response]]


class HttpServer:
    """Serves ``handler`` on ``ip:port``; ``start`` answers the bound port."""

    def __init__(
        self,
        handler: Handler,
        max_body: int = 64 * 1024 * 1024,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.handler = handler
        self.max_body = max_body
        self.tls = tls
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, ip: str, port: int) -> int:
        self._server = await asyncio.start_server(
            self._connection, ip, port, limit=MAX_HEAD, ssl=self.tls
        )
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

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
                await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        name = _common_name(writer.get_extra_info("peercert"))
        try:
            while await self._exchange(reader, writer, name):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, name: str | None
    ) -> bool:
        """One request and its answer; whether the connection goes on."""
        try:
            async with asyncio.timeout(IDLE_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                await _write(writer, text(400, "the request ends before its headers"), False)
            return False
        except asyncio.LimitOverrunError:
            await _write(writer, text(431, f"request headers are over {MAX_HEAD} bytes"), False)
            return False
        try:
            request, version = _parse_head(head)
            request.certificate_name = name
            async with asyncio.timeout(IDLE_TIMEOUT):  # a client that stalls mid-body
                request.body = await self._body(reader, request)
        except BadRequest as exc:
            await _write(writer, text(exc.status, exc.message), False)
            return False
        keep = version == "HTTP/1.1" and request.header("connection").lower() != "close"
        try:
            response = await self.handler(request)
        except Exception:
            log.exception("HTTP %s %s failed", request.method, request.path)
            response = text(500, "the master failed to answer this call; see its log")
        if response.stream is not None:
            await _stream(reader, writer, response)
            return False
        await _write(writer, response, keep)
        return keep

    async def _body(self, reader: asyncio.StreamReader, request: Request) -> bytes:
        if "chunked" in request.header("transfer-encoding").lower():
            return await self._chunked(reader)
        raw = request.header("content-length", "0").strip() or "0"
        if not raw.isdigit():
            raise BadRequest(400, f"Content-Length {raw!r} is not a number")
        length = int(raw)
        if length > self.max_body:
            raise BadRequest(413, f"the body of {length} bytes is over {self.max_body}")
        return await reader.readexactly(length) if length else b""

    async def _chunked(self, reader: asyncio.StreamReader) -> bytes:
        body = bytearray()
        while True:
            line = (await reader.readuntil(b"\r\n")).split(b";")[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                raise BadRequest(400, f"chunk size {line[:20]!r} is not hexadecimal") from None
            if len(body) + size > self.max_body:
                raise BadRequest(413, f"the body is over {self.max_body} bytes")
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers: ignored
                return bytes(body)
            body += await reader.readexactly(size)
            await reader.readexactly(2)


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
    try:
        lines = head.decode("latin-1").split("\r\n")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        raise BadRequest(400, "the request head is not text") from None
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


def _head(response: Response, extra: dict[str, str]) -> bytes:
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {response.status} {reason}", f"Content-Type: {response.content_type}"]
    lines += [f"{k}: {v}" for k, v in {**response.headers, **extra}.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _write(writer: asyncio.StreamWriter, response: Response, keep: bool) -> None:
    extra = {"Content-Length": str(len(response.body))}
    if not keep:
        extra["Connection"] = "close"
    writer.write(_head(response, extra) + response.body)
    await writer.drain()


async def _stream(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, response: Response
) -> None:
    """Write a chunked stream until it ends or the client goes away (then the stream is
    closed, so whatever feeds it learns that nobody listens)."""
    assert response.stream is not None
    stream = response.stream
    writer.write(_head(response, {"Transfer-Encoding": "chunked", "Connection": "close"}))
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
            log.error("an HTTP event stream failed", exc_info=error)
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
