"""A client of the Docker Registry HTTP API v2: manifests and blobs, with bearer tokens.

Anonymous first; a 401 with ``WWW-Authenticate: Bearer realm=...,service=...,scope=...``
is answered by asking the realm for a token (anonymously) and trying again with it, as
``docker pull`` does for public images. Every blob is streamed to a file while its sha256
is computed, and refused when it does not match its digest. Blocking: call from a worker
thread; a Cancellation (the task's kill) shuts its sockets down.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from mesospy.agent.fetcher import Cancellation, _HTTPHandler, _HTTPSHandler, _loopback

TIMEOUT = 30.0
CHUNK = 1 << 20
MAX_MANIFEST = 4 << 20
ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


class RegistryError(Exception):
    """The registry cannot be reached, refused, or sent something wrong."""


class RegistryClient:
    """Talks to one registry (``base``: "http://host:port" or "https://host")."""

    def __init__(
        self, base: str, cancel: Cancellation, context: ssl.SSLContext | None = None
    ) -> None:
        self.base = base.rstrip("/")
        self._cancel = cancel
        handlers: list[urllib.request.BaseHandler] = [
            _HTTPHandler(cancel),
            _HTTPSHandler(cancel, context or ssl.create_default_context()),
        ]
        if _loopback(self.base):
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)
        self._token: str | None = None

    # ------------------------------------------------------------------ requests

    def _open(self, path: str, accept: str = "") -> Any:
        url = f"{self.base}{path}"
        for attempt in range(2):
            headers = {"User-Agent": "mesospy-agent"}
            if accept:
                headers["Accept"] = accept
            if self._token:
                headers["Authorization"] = f"Bearer {self._token}"
            request = urllib.request.Request(url, headers=headers)
            try:
                return self._opener.open(request, timeout=TIMEOUT)
            except urllib.error.HTTPError as exc:
                challenge = exc.headers.get("WWW-Authenticate", "")
                exc.close()
                if exc.code == 401 and attempt == 0 and challenge.lower().startswith("bearer"):
                    self._token = self._fetch_token(challenge)
                    continue
                raise RegistryError(_http_problem(exc.code, exc.reason)) from exc
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                self._cancel.check()
                reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
                if isinstance(reason, OSError) and reason.strerror:
                    reason = reason.strerror
                raise RegistryError(f"cannot reach {self.base}: {reason}") from exc
        raise RegistryError(f"{self.base} refused the token it issued (HTTP 401)")

    def _fetch_token(self, challenge: str) -> str:
        fields = dict(_CHALLENGE.findall(challenge))
        realm = fields.pop("realm", "")
        if not realm:
            raise RegistryError(f"{self.base} asks for a token but names no realm")
        query = urllib.parse.urlencode(
            {k: v for k, v in fields.items() if k in ("service", "scope")}
        )
        url = f"{realm}?{query}" if query else realm
        opener = self._opener
        try:
            with opener.open(urllib.request.Request(url), timeout=TIMEOUT) as answer:
                body = json.loads(answer.read(MAX_MANIFEST))
        except urllib.error.HTTPError as exc:
            raise RegistryError(
                f"token service {realm} answered HTTP {exc.code} {exc.reason}"
            ) from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            self._cancel.check()
            raise RegistryError(f"cannot get a token from {realm}: {exc}") from exc
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"token service {realm} sent no token")
        return token

    # ------------------------------------------------------------------ API

    def manifest(self, repository: str, reference: str) -> tuple[bytes, str]:
        """The manifest's bytes and media type (verified against ``reference`` when that
        is a digest)."""
        with self._open(f"/v2/{repository}/manifests/{reference}", ACCEPT) as answer:
            body = answer.read(MAX_MANIFEST + 1)
            media_type = answer.headers.get("Content-Type", "").split(";")[0].strip()
        if len(body) > MAX_MANIFEST:
            raise RegistryError(
                f"manifest {repository}:{reference} is larger than {MAX_MANIFEST} bytes"
            )
        if reference.startswith("sha256:"):
            check_digest(body, reference, f"manifest {repository}@{reference}")
        return body, media_type

    def blob(self, repository: str, digest: str, dest: Path, max_size: int) -> int:
        """Download a blob into ``dest`` (made or replaced), checking its digest; its size."""
        hasher = hashlib.sha256()
        size = 0
        with self._open(f"/v2/{repository}/blobs/{digest}") as answer, open(dest, "wb") as out:
            while True:
                self._cancel.check()
                try:
                    chunk = answer.read(CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    self._cancel.check()
                    raise RegistryError(f"download of blob {digest} broke off: {exc}") from exc
                if not chunk:
                    break
                size += len(chunk)
                if size > max_size:
                    raise RegistryError(f"blob {digest} is larger than {max_size} bytes")
                hasher.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        actual = "sha256:" + hasher.hexdigest()
        if actual != digest:
            raise RegistryError(f"blob {digest} does not match its digest (got {actual})")
        return size


def check_digest(data: bytes, digest: str, what: str) -> None:
    if not digest.startswith("sha256:"):
        raise RegistryError(f"{what}: only sha256 digests are supported, not {digest!r}")
    actual = "sha256:" + hashlib.sha256(data).hexdigest()
    if actual != digest:
        raise RegistryError(f"{what} does not match its digest (got {actual})")


def _http_problem(code: int, reason: str) -> str:
    if code == 404:
        return "not found (HTTP 404)"
    if code in (401, 403):
        return f"access denied (HTTP {code} {reason})"
    return f"HTTP {code} {reason}"
