"""Readiness probes, run by the framework itself (as Marathon does): one HTTP GET."""

from __future__ import annotations

import asyncio
import contextlib


async def http_ready(host: str, port: int, path: str, timeout: float) -> bool:
    """Whether ``GET http://host:port/path`` answers 2xx within ``timeout`` seconds."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            await writer.drain()
            line = await reader.readline()
    except (OSError, TimeoutError):
        return False
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    parts = line.split()
    return len(parts) >= 2 and parts[1][:1] == b"2"
