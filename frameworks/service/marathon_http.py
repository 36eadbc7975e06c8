"""A small HTTP/1.1 server on asyncio for the Marathon API (no dependency beyond Python).

It runs on the scheduler's event loop, so the handlers read and change the scheduler's
state with no locking. Requests carry a body by ``Content-Length`` (chunked request bodies
are refused with 411); answers are JSON or text with a length, or a stream (Server-Sent
Events) sent chunked until either side ends it. Connections are kept alive between requests.
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

log = logging.getLogger("frameworks.service.marathon")

MAX_HEADER = 64 * 1024
MAX_BODY = 8 * 1024 * 1024


class HttpError(Exception):
    """An answer other than success: its status and Marathon's error body."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"message": message, **extra}
        self.headers: dict[str, str] = {}


@dataclass
class Request:
    method: str
    path: str  # percent-decoded
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lowercase
    body: bytes
    client: str

    def flag(self, name: str) -> bool:
        """A boolean query parameter (``?force=true``)."""
        values = self.query.get(name, [])
        return bool(values) and values[-1].lower() in ("true", "1", "")

    def values(self, name: str) -> list[str]:
        """A query parameter's values, comma-separated ones split (``?embed=a,b&embed=c``)."""
        return [v for item in self.query.get(name, []) for v in item.split(",") if v]

    def json(self) -> Any:
        if not self.body.strip():
            raise HttpError(400, "a JSON body is required")
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise HttpError(400, f"Invalid JSON: {exc}") from exc


@dataclass
class Response:
    status: int = 200
    body: Any = None  # JSON, or text with content_type text/plain
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def payload(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass
class Stream:
    """An answer sent as it comes (each item one chunk), until the iterator ends."""

    chunks: AsyncIterator[bytes]
    content_type: str = "text/event-stream"


Handler = Callable[[Request], Awaitable[Response | Stream]]


async def start_http_server(
    handler: Handler, host: str, port: int, tls: ssl.SSLContext | None = None
) -> HttpServer:
    """Serve ``handler`` on ``host:port`` (0: a free port)."""
    server = HttpServer(handler)
    server.server = await asyncio.start_server(
        server.connection, host, port, ssl=tls, limit=MAX_HEADER
    )
    return server


class HttpServer:
    """The listening server and its open connections (``close`` ends them all)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.server is not None:
            await self.server.wait_closed()

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        client = str(peer[0]) if isinstance(peer, tuple) else ""
        try:
            while await self._one(reader, writer, client):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _one(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client: str
    ) -> bool:
        """Serve one request; whether the connection stays open for another."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        except asyncio.LimitOverrunError:
            await _write(writer, Response(431, {"message": "request headers too large"}), False)
            return False
        try:
            request = await _read_request(head, reader, client)
        except HttpError as exc:
            await _write(writer, Response(exc.status, exc.body), False)
            return False
        keep = request.headers.get("connection", "").lower() != "close"
        try:
            answer = await self.handler(request)
        except HttpError as exc:
            answer = Response(exc.status, exc.body, exc.headers)
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            answer = Response(500, {"message": "internal error (see the framework's log)"})
        if isinstance(answer, Stream):
            await _stream(writer, answer)
            return False
        await _write(writer, answer, keep, head_only=request.method == "HEAD")
        return keep


async def _read_request(head: bytes, reader: asyncio.StreamReader, client: str) -> Request:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError(400, f"not an HTTP/1.x request line: {lines[0][:100]!r}")
    method, target, _ = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise HttpError(400, f"malformed header line {line[:100]!r}")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise HttpError(411, "send the body with a Content-Length")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError as exc:
        raise HttpError(400, "Content-Length must be a number") from exc
    if length < 0 or length > MAX_BODY:
        raise HttpError(413, f"a body may have at most {MAX_BODY} bytes")
    body = await reader.readexactly(length) if length else b""
    url = urlsplit(target)
    return Request(
        method.upper(),
        unquote(url.path),
        parse_qs(url.query, keep_blank_values=True),
        headers,
        body,
        client,
    )


def _status_line(status: int) -> str:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    return f"HTTP/1.1 {status} {reason}\r\n"


async def _write(
    writer: asyncio.StreamWriter, answer: Response, keep: bool, head_only: bool = False
) -> None:
    payload = answer.payload()
    content_type = answer.content_type
    if content_type.startswith(("application/json", "text/")):
        content_type += "; charset=utf-8"
    headers = {
        "Content-Type": content_type,
        "Content-Length": str(len(payload)),
        "Connection": "keep-alive" if keep else "close",
        **answer.headers,
    }
    text = _status_line(answer.status) + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(text.encode("latin-1") + b"\r\n" + (b"" if head_only else payload))
    await writer.drain()


async def _stream(writer: asyncio.StreamWriter, answer: Stream) -> None:
    head = _status_line(200) + (
        f"Content-Type: {answer.content_type}\r\nCache-Control: no-cache\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode("latin-1"))
    await writer.drain()
    try:
        async for chunk in answer.chunks:
            if chunk:
                writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
    finally:
        with contextlib.suppress(Exception):
            await answer.chunks.aclose()  # type: ignore[attr-defined]
