"""Job definitions of other schedulers, read as native job specs (thin adapters). Pure.

The format is told by the definition's shape:

- ``apiVersion`` and ``kind``: a Kubernetes ``batch/v1`` Job or CronJob;
- ``run``: a Metronome job (its ``schedules`` with it);
- ``name`` and ``command`` with an ISO 8601 ``schedule`` (``R/...``) or Chronos's own
  fields (``epsilon``, ``owner``, ``environmentVariables``, ...): a Chronos job;
- anything else: a native spec.

Each adapter turns the definition into native spec data, which ``parse_spec``
validates as any native file; nothing else of the framework knows these formats.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from frameworks.batch.formats.chronos import convert_chronos, looks_like_chronos
from frameworks.batch.formats.common import Conversion
from frameworks.batch.formats.kubernetes import convert_kubernetes
from frameworks.batch.formats.metronome import convert_metronome
from frameworks.batch.spec import JobSpec, SpecError, parse_spec

__all__ = ["Conversion", "Loaded", "convert", "detect", "load_job", "read_document"]

NATIVE = "native"


@dataclass(frozen=True)
class Loaded:
    """A job file read: its spec, and how it was converted (None: it was native)."""

    spec: JobSpec
    conversion: Conversion | None


def detect(data: object) -> str:
    """The format of a definition: kubernetes, metronome, chronos or native."""
    if not isinstance(data, dict):
        return NATIVE
    if "apiVersion" in data and "kind" in data:
        return "kubernetes"
    if isinstance(data.get("run"), dict):
        return "metronome"
    if looks_like_chronos(data):
        return "chronos"
    return NATIVE


ADAPTERS: dict[str, Callable[[dict[str, Any]], Conversion]] = {
    "kubernetes": convert_kubernetes,
    "metronome": convert_metronome,
    "chronos": convert_chronos,
}


def convert(data: object) -> Conversion | None:
    """The conversion of a foreign definition (None: it is a native spec). Refused
    fields are in ``refused``; the caller decides whether to go on."""
    fmt = detect(data)
    if fmt == NATIVE:
        return None
    assert isinstance(data, dict)
    return ADAPTERS[fmt](data)


def read_document(text: str) -> object:
    """A job file's data (YAML, of which JSON is a subset); ``SpecError`` if unreadable."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML or JSON"
        raise SpecError([("", f"cannot parse the job file{where}: {problem}")]) from None


def load_job(text: str) -> Loaded:
    """Read a job file of any supported format; ``SpecError`` lists every refused field
    (with its reason) or every problem of the resulting spec."""
    data = read_document(text)
    conversion = convert(data)
    if conversion is None:
        return Loaded(parse_spec(data), None)
    if conversion.refused:
        raise SpecError([(f"{conversion.format}: {p}", why) for p, why in conversion.refused])
    try:
        spec = parse_spec(conversion.native)
    except SpecError as exc:
        raise SpecError(
            [(f"{conversion.format} (as the native {p or 'spec'})", why) for p, why in exc.problems]
        ) from None
    return Loaded(spec, conversion)
