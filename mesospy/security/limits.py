"""Limits on what one request may hold (pure): string lengths, list lengths, labels,
tasks per ACCEPT, no NaN or infinite numbers, no enum values this version does not know.

The gRPC server bounds the size of a whole message (``--max-message-size``, answered with
RESOURCE_EXHAUSTED); these bound its parts, so a request
cannot fill the master's memory or its registry with megabyte ids or a million labels.
Each breach names the field: ``accept.operations[0].launch.task_infos[3].name is 5000
characters long; at most 1024``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

# Fields that hold free text (commands, environment values, messages, label values) may
# be longer than names and ids.
TEXT_FIELDS = frozenset({"shell", "argv", "environment", "value", "message", "data", "path"})
# Opaque payloads bounded by their own handlers (framework messages: 4 MiB each, checked
# where the message is taken), not by the text limit.
PAYLOAD_FIELDS = frozenset({"mesospy.v1.Call.Message.data"})
_FLOATS = (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT)
_STRINGS = (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES)


class LimitExceeded(ValueError):
    """A request breaks a limit; the message names the field and the limit."""


@dataclass(frozen=True)
class MessageLimits:
    """What one request may hold."""

    max_string: int = 1024  # ids, names, roles, principals, label keys
    max_text: int = 64 * 1024  # see TEXT_FIELDS
    max_items: int = 100_000  # entries of any list or map
    max_labels: int = 64
    max_tasks_per_accept: int = 1_000

    def check(self, message: Message) -> None:
        """Raise ``LimitExceeded`` naming the first field over a limit."""
        try:
            if message.ByteSize() <= self._small:
                self._semantic(message)  # no text or list can be too long: the rest
            else:
                self._fast(message)  # no field paths spelled out; a plan per field
        except _Breach:
            self._walk(message, "")  # again, to name the field
            raise  # unreachable: the second walk raised LimitExceeded

    def check_accept(self, operations: list[list[Message]]) -> None:
        """The tasks of all LAUNCH operations of one ACCEPT, counted together."""
        tasks = sum(len(launch) for launch in operations)
        if tasks > self.max_tasks_per_accept:
            raise LimitExceeded(
                f"ACCEPT launches {tasks} tasks; at most {self.max_tasks_per_accept} per "
                "call (split them over several calls)"
            )

    def _fast(self, message: Message) -> None:
        """The same verdicts as ``_walk(message, None)`` at a fraction of its cost (a
        re-registering agent's request holds every task it runs): each field's checks
        are worked out once per field descriptor."""
        for field, value in message.ListFields():
            kind, repeated, labels, text, enums = _PLANS.get(field) or _plan(field)
            if repeated and len(value) > (self.max_labels if labels else self.max_items):
                raise _Breach
            if kind == _MESSAGE:
                small = self._small
                for item in value if repeated else (value,):
                    if item.ByteSize() <= small:
                        self._semantic(item)
                    else:
                        self._fast(item)
            elif kind == _MAP:
                self._map(field, value, None)
            elif kind == _STRING:
                limit = self.max_text if text else self.max_string
                if any(len(item) > limit for item in (value if repeated else (value,))):
                    raise _Breach
            elif kind != _SKIP:
                _check_numbers(kind, repeated, value, enums)

    @functools.cached_property
    def _small(self) -> int:
        """A message of at most this many bytes holds no text and no list over a limit
        (a character takes at least a byte, a list entry too); labels are counted apart."""
        return min(self.max_string, self.max_text, self.max_items)

    def _semantic(self, message: Message) -> None:
        """``_fast`` for a small message: only numbers, enum values and label counts are
        checked, in the fields that can hold them."""
        for field, value in message.ListFields():
            kind, repeated, labels, enums = _SEMANTIC.get(field) or _semantic_plan(field)
            if kind == _SKIP:
                continue
            if labels and repeated and len(value) > self.max_labels:
                raise _Breach
            if kind == _MESSAGE:
                for item in value if repeated else (value,):
                    self._semantic(item)
            elif kind == _MAP:
                self._map(field, value, None)
            elif kind != _COUNT:
                _check_numbers(kind, repeated, value, enums)

    def _walk(self, message: Message, path: str | None) -> None:
        for field, value in message.ListFields():
            where = None if path is None else f"{path}{field.name}"
            if field.is_repeated:
                limit = self.max_labels if field.name == "labels" else self.max_items
                if len(value) > limit:
                    _breach(where, f"{where} has {len(value)} entries; at most {limit}")
                if _is_map(field):
                    self._map(field, value, where)
                    continue
                for index, item in enumerate(value):
                    self._item(field, item, where, index)
            else:
                self._item(field, value, where, None)

    def _map(self, field: FieldDescriptor, value: Any, where: str | None) -> None:
        for key, item in value.items():
            self._scalar(field, key, where and f"{where} key", short=True)
            entry = field.message_type
            assert entry is not None
            self._item(entry.fields_by_name["value"], item, where, key)

    def _item(
        self, field: FieldDescriptor, value: object, where: str | None, index: object | None
    ) -> None:
        label = where if index is None or where is None else f"{where}[{index!r}]"
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            assert isinstance(value, Message)
            self._walk(value, None if label is None else label + ".")
        else:
            self._scalar(field, value, label, short=False)

    def _scalar(
        self, field: FieldDescriptor, value: object, where: str | None, short: bool
    ) -> None:
        if isinstance(value, str | bytes):
            if field.full_name in PAYLOAD_FIELDS:
                return
            text = not short and field.name in TEXT_FIELDS
            limit = self.max_text if text else self.max_string
            if len(value) > limit:
                unit = "characters" if isinstance(value, str) else "bytes"
                _breach(where, f"{where} is {len(value)} {unit} long; at most {limit}")
        elif isinstance(value, float) and not math.isfinite(value):
            _breach(where, f"{where} is {value}; numbers must be finite")
        elif (
            field.type == FieldDescriptor.TYPE_ENUM
            and field.enum_type is not None
            and value not in field.enum_type.values_by_number
        ):
            known = ", ".join(field.enum_type.values_by_name)
            _breach(where, f"{where} is {value}, not one of {known}")


def _check_numbers(kind: int, repeated: bool, value: Any, enums: frozenset[int]) -> None:
    """A float field's values must be finite, an enum field's known (both walks)."""
    if kind == _FLOAT:
        if not (all(map(math.isfinite, value)) if repeated else math.isfinite(value)):
            raise _Breach
    elif kind == _ENUM and not (enums.issuperset(value) if repeated else value in enums):
        raise _Breach


class _Breach(Exception):
    """A limit is broken; raised by the fast walk, which does not name fields."""


def _breach(where: str | None, message: str) -> None:
    if where is None:
        raise _Breach
    raise LimitExceeded(message)


_MAPS: dict[FieldDescriptor, bool] = {}

# What _fast checks in a field: (kind, repeated, counted as labels, free text, enum values).
_SKIP, _MESSAGE, _MAP, _STRING, _FLOAT, _ENUM = range(6)
_COUNT = 6  # (_semantic only) a labels list whose entries need no look
_Plan = tuple[int, bool, bool, bool, frozenset[int]]
_PLANS: dict[FieldDescriptor, _Plan] = {}


def _plan(field: FieldDescriptor) -> _Plan:
    enums: frozenset[int] = frozenset()
    if _is_map(field):
        kind = _MAP
    elif field.full_name in PAYLOAD_FIELDS:
        kind = _SKIP
    elif field.type == FieldDescriptor.TYPE_MESSAGE:
        kind = _MESSAGE
    elif field.type in _STRINGS:
        kind = _STRING
    elif field.type in _FLOATS:
        kind = _FLOAT
    elif field.type == FieldDescriptor.TYPE_ENUM and field.enum_type is not None:
        kind = _ENUM
        enums = frozenset(field.enum_type.values_by_number)
    else:
        kind = _SKIP
    plan = (kind, field.is_repeated, field.name == "labels", field.name in TEXT_FIELDS, enums)
    _PLANS[field] = plan
    return plan


# What _semantic checks in a field: (kind, repeated, counted as labels, enum values);
# _SKIP for a field that can hold no number, enum or labels anywhere beneath it.
_SemanticPlan = tuple[int, bool, bool, frozenset[int]]
_SEMANTIC: dict[FieldDescriptor, _SemanticPlan] = {}
_HOLDS: dict[Any, bool] = {}  # message descriptor -> may hold a number, enum or labels


def _semantic_plan(field: FieldDescriptor) -> _SemanticPlan:
    kind, repeated, labels, _text, enums = _PLANS.get(field) or _plan(field)
    if kind == _STRING or (kind == _MESSAGE and not _holds(field.message_type)):
        kind = _COUNT if labels else _SKIP
    plan = (kind, repeated, labels, enums)
    _SEMANTIC[field] = plan
    return plan


def _holds(descriptor: Any) -> bool:
    """Whether messages of this type may hold a float, an enum, a map or a ``labels``
    list, at any depth (a search over every message type reachable from it)."""
    known = _HOLDS.get(descriptor)
    if known is None:
        known = False
        seen: set[Any] = set()
        todo = [descriptor]
        while todo and not known:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            for field in current.fields:
                kind, _repeated, labels, _text, _enums = _PLANS.get(field) or _plan(field)
                if kind in (_FLOAT, _ENUM, _MAP) or labels:
                    known = True
                    break
                if kind == _MESSAGE:
                    todo.append(field.message_type)
        _HOLDS[descriptor] = known
    return known


def _is_map(field: FieldDescriptor) -> bool:
    known = _MAPS.get(field)
    if known is None:
        known = _MAPS[field] = bool(
            field.message_type is not None and field.message_type.GetOptions().map_entry
        )
    return known
