"""Artifacts a task asks the agent to fetch (``CommandInfo.URI``): the checks master and
agent both apply, and the names the fetcher derives from a URI.

Pure: no I/O. A URI is ``http://``, ``https://``, ``file://`` or an absolute path on the
agent; an optional checksum is ``sha256:<64 hex digits>``; ``output_file`` names a file in
the sandbox (relative, no ``..``).
"""

from __future__ import annotations

import posixpath
import re
from urllib.parse import unquote, urlsplit

from mesospy.v1 import common_pb2

SCHEMES = ("http", "https", "file")
MAX_URIS = 64
_SHA256 = re.compile(r"^sha256:[0-9a-fA-F]{64}$")
# Longest suffix first: ".tar.gz" before ".gz" (a bare ".gz" is not an archive here).
ARCHIVE_SUFFIXES = (
    (".tar.gz", "tar"),
    (".tar.bz2", "tar"),
    (".tar.xz", "tar"),
    (".tgz", "tar"),
    (".tbz2", "tar"),
    (".txz", "tar"),
    (".tar", "tar"),
    (".zip", "zip"),
)


def uri_problem(uri: common_pb2.CommandInfo.URI) -> str | None:
    """Why this URI cannot be fetched as given, or None."""
    value = uri.value
    if not value.strip():
        return "uri value must not be empty"
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return f"uri {value[:80]!r} contains control characters"
    try:
        problem = _value_problem(value)
    except ValueError as exc:  # urlsplit's: "Invalid IPv6 URL", a bad port...
        problem = f"uri {value[:200]!r} is not a valid URI: {exc}"
    if problem:
        return problem
    if uri.checksum and not _SHA256.match(uri.checksum):
        return (
            f"uri {value[:200]!r} has checksum {uri.checksum[:80]!r}; expected "
            "'sha256:' and 64 hex digits"
        )
    if uri.output_file and (p := output_file_problem(uri.output_file)):
        return f"uri {value[:200]!r}: {p}"
    if not uri.output_file and not default_name(value):
        return f"uri {value[:200]!r} ends in no file name; give output_file"
    return None


def _value_problem(value: str) -> str | None:
    if not value.startswith("/"):  # else a path on the agent
        parts = urlsplit(value)
        if parts.scheme.lower() not in SCHEMES:
            shown = parts.scheme or "none"
            return (
                f"uri {value[:200]!r} has scheme {shown!r}; use http://, https://, file:// "
                "or an absolute path"
            )
        if parts.scheme.lower() == "file":
            if parts.netloc not in ("", "localhost"):
                return f"uri {value[:200]!r} names host {parts.netloc!r}; file:// URIs are local"
            if not parts.path.startswith("/"):
                return f"uri {value[:200]!r} needs an absolute path (file:///path)"
        elif not parts.hostname:
            return f"uri {value[:200]!r} names no host"
        else:
            _ = parts.port  # raises ValueError for a port that is not one
    return None


def uris_problem(uris: list[common_pb2.CommandInfo.URI]) -> str | None:
    """The first problem among a command's URIs, or None."""
    if len(uris) > MAX_URIS:
        return f"{len(uris)} uris; at most {MAX_URIS}"
    for index, uri in enumerate(uris):
        if p := uri_problem(uri):
            return f"uris[{index}]: {p}"
    return None


def output_file_problem(name: str) -> str | None:
    if "\0" in name:
        return "output_file contains a NUL character"
    if name.startswith("/"):
        return f"output_file {name!r} must be relative to the sandbox"
    parts = name.split("/")
    if ".." in parts:
        return f"output_file {name!r} must not contain '..'"
    if not parts[-1] or parts[-1] == ".":
        return f"output_file {name!r} must name a file"
    return None


def local_path(value: str) -> str | None:
    """The agent path a ``file://`` URI or plain path names, or None for http(s)."""
    if value.startswith("/"):
        return value
    parts = urlsplit(value)
    if parts.scheme.lower() == "file":
        return unquote(parts.path)
    return None


def default_name(value: str) -> str:
    """The sandbox file name a URI is saved under without ``output_file``: its basename."""
    path = local_path(value)
    if path is None:
        path = unquote(urlsplit(value).path)
    name = posixpath.basename(path.rstrip("/") if path.endswith("/") else path)
    return "" if name in ("", ".", "..") else name


def destination(uri: common_pb2.CommandInfo.URI) -> str:
    """Where in the sandbox the fetched file goes (a relative path)."""
    return posixpath.normpath(uri.output_file) if uri.output_file else default_name(uri.value)


def archive_kind(name: str) -> str | None:
    """``"tar"`` or ``"zip"`` when a file of this name is an archive the fetcher extracts."""
    lowered = name.lower()
    for suffix, kind in ARCHIVE_SUFFIXES:
        if lowered.endswith(suffix):
            return kind
    return None


def wants_extract(uri: common_pb2.CommandInfo.URI) -> bool:
    """Extraction is on unless ``extract`` is set false (Mesos's default)."""
    return not uri.HasField("extract") or uri.extract
