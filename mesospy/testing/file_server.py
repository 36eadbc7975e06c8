"""A plain HTTP file server on 127.0.0.1 for tests of fetching (artifacts, images).

``FileServer`` serves bytes put at paths (``put``), answers 404 for anything else, counts
the requests of each path (``requests``), and can hold a path's answer half-sent until
``release`` (a slow download: for kills during a fetch, or concurrent fetches)::

    with FileServer() as server:
        server.put("/app.tar.gz", data)
        uri = server.url("/app.tar.gz")
        ...
        assert server.requests["/app.tar.gz"] == 1
"""

from __future__ import annotations

import collections
import contextlib
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["FileServer"]


class FileServer:
    """Serves in a background thread until ``stop`` (or the end of a ``with`` block)."""

    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        """``tls``: (certificate, key) PEM files to serve HTTPS with."""
        self.files: dict[str, bytes] = {}
        self.requests: collections.Counter[str] = collections.Counter()
        self.changed = threading.Condition()
        self._held: dict[str, threading.Event] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="file-server", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def put(self, path: str, data: bytes) -> str:
        """Serve ``data`` at ``path``; its URL."""
        self.files[path] = data
        return self.url(path)

    def hold(self, path: str) -> None:
        """Answers for ``path`` send their headers and half the body, then wait for
        ``release`` before they send the rest."""
        self._held[path] = threading.Event()

    def release(self) -> None:
        for event in self._held.values():
            event.set()

    def wait_for_request(self, path: str, count: int = 1, timeout: float = 30.0) -> None:
        """Block until ``path`` was asked for ``count`` times, or raise TimeoutError."""
        with self.changed:
            if not self.changed.wait_for(lambda: self.requests[path] >= count, timeout):
                raise TimeoutError(f"{path} was asked for {self.requests[path]} times")

    def start(self) -> FileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def __enter__(self) -> FileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path  # with its query: "/download?id=7" is a path of its own
        with self.changed:
            self.requests[path] += 1
            self.changed.notify_all()
        data = self.files.get(path)
        if data is None:
            handler.send_error(404, "Not Found")
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        held = self._held.get(path)
        if held is not None:
            handler.wfile.write(data[: len(data) // 2])
            handler.wfile.flush()
            held.wait()
            handler.wfile.write(data[len(data) // 2 :])
            return
        handler.wfile.write(data)


def _handler_for(server: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            # A client that went away (a killed fetch) is not an error.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                server._answer(self)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet in tests

    return Handler
