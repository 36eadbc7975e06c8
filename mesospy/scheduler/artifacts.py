"""Artifacts a task fetches into its sandbox before it starts (``CommandInfo.uris``).

``uri("https://example.com/app.tgz", checksum="sha256:...")`` builds one for ``task(...,
uris=[...])``; ``parse_fetch`` reads the ``fetch:`` list of a job or app spec (a URI
string, or a mapping of ``uri``, ``executable``, ``extract``, ``cache``, ``output_file``,
``checksum``) into ``Artifact`` values, with every problem named by its path. The same
checks as the master's (``mesospy.uris``) apply, so a bad URI is refused when the spec is
submitted, not when its task runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mesospy.uris import uri_problem
from mesospy.v1 import common_pb2

__all__ = ["FETCH_FIELDS", "Artifact", "parse_fetch", "uri"]

FETCH_FIELDS = ("uri", "executable", "extract", "cache", "output_file", "checksum")


def uri(
    value: str,
    *,
    executable: bool = False,
    extract: bool = True,
    cache: bool = False,
    output_file: str = "",
    checksum: str = "",
) -> common_pb2.CommandInfo.URI:
    """One artifact: ``http://``, ``https://``, ``file://`` or an absolute path on the
    agent. Archives (.tar, .tar.gz/.tgz, .tar.bz2, .tar.xz, .zip) are unpacked into the
    sandbox unless ``extract`` is false; ``executable`` makes the file executable; ``cache``
    keeps it in the agent's fetcher cache (the next task on that agent gets it without a
    download); ``output_file`` is its name in the sandbox (default: the URI's basename);
    ``checksum`` is ``"sha256:<hex>"``, checked before the task starts."""
    return common_pb2.CommandInfo.URI(
        value=value,
        executable=executable,
        extract=extract,
        cache=cache,
        output_file=output_file,
        checksum=checksum,
    )


@dataclass(frozen=True)
class Artifact:
    """One entry of a spec's ``fetch:`` list."""

    uri: str
    executable: bool = False
    extract: bool = True
    cache: bool = False
    output_file: str = ""
    checksum: str = ""

    def to_proto(self) -> common_pb2.CommandInfo.URI:
        """The ``CommandInfo.URI`` to put in a task's ``command.uris``."""
        return uri(
            self.uri,
            executable=self.executable,
            extract=self.extract,
            cache=self.cache,
            output_file=self.output_file,
            checksum=self.checksum,
        )

    def to_dict(self) -> dict[str, Any]:
        """The canonical form: ``uri`` and the fields that differ from their defaults."""
        out: dict[str, Any] = {"uri": self.uri}
        default = Artifact(self.uri)
        for name in FETCH_FIELDS[1:]:
            if getattr(self, name) != getattr(default, name):
                out[name] = getattr(self, name)
        return out


Problem = tuple[str, str]  # (field path, what is wrong)


def parse_fetch(value: object, path: str = "fetch") -> tuple[tuple[Artifact, ...], list[Problem]]:
    """The artifacts of a ``fetch:`` list, and the problems found, each as ``(field path,
    reason)``: ``("fetch[1].cache", "must be true or false")``."""
    if value is None:
        return (), []
    if not isinstance(value, list):
        return (), [(path, "must be a list of URIs or of mappings with 'uri'")]
    artifacts: list[Artifact] = []
    problems: list[Problem] = []
    for index, item in enumerate(value):
        where = f"{path}[{index}]"
        artifact = _artifact(item, where, problems)
        if artifact is None:
            continue
        if problem := uri_problem(artifact.to_proto()):
            problems.append((where, problem))
            continue
        artifacts.append(artifact)
    return tuple(artifacts), problems


def _artifact(item: object, where: str, problems: list[Problem]) -> Artifact | None:
    if isinstance(item, str):
        return Artifact(item)
    if not isinstance(item, dict):
        problems.append((where, "must be a URI string or a mapping with 'uri'"))
        return None
    unknown = [str(k) for k in item if k not in FETCH_FIELDS]
    if unknown:
        known = ", ".join(FETCH_FIELDS)
        problems.append((f"{where}.{unknown[0]}", f"unknown field; known: {known}"))
        return None
    value = item.get("uri")
    if not isinstance(value, str) or not value:
        problems.append((f"{where}.uri", "is required: a URI string"))
        return None
    fields: dict[str, Any] = {}
    for name in ("executable", "extract", "cache"):
        if name in item:
            if not isinstance(item[name], bool):
                problems.append((f"{where}.{name}", "must be true or false"))
                return None
            fields[name] = item[name]
    for name in ("output_file", "checksum"):
        if name in item:
            if not isinstance(item[name], str):
                problems.append((f"{where}.{name}", "must be a string"))
                return None
            fields[name] = item[name]
    return Artifact(value, **fields)
