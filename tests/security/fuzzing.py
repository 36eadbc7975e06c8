"""Hypothesis strategies for any protobuf request, biased toward what breaks servers:
huge strings, NaN and negative numbers, unknown enum values, duplicate ids and the ids of
other frameworks, agents and offers."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_ENUM: (-(2**31), 2**31 - 1),
}


def strings(ids: Callable[[], Sequence[str]]) -> st.SearchStrategy[str]:
    """Known ids, names that look like resources, and nasty text of every size."""
    return st.one_of(
        st.sampled_from(["", "*", "cpus", "mem", "ports", "disk", "..", "../../etc/passwd", "/"]),
        # An index, not a sample: the pool changes between examples, the draws must not.
        st.integers(0, 1000).map(lambda i: _pick(ids(), i)),
        st.text(max_size=12),
        st.integers(1000, 70_000).map(lambda n: "x" * n),
        st.sampled_from(["\x00", "a\nb", "ü" * 600, "%s%n", "${IFS}"]),
    )


def _pick(known: Sequence[str], index: int) -> str:
    return known[index % len(known)] if known else ""


def _numbers(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        special = st.sampled_from([math.nan, math.inf, -math.inf, -1.0, 0.0, 1e300, -0.0])
        return st.one_of(special, st.floats(-1e6, 1e6, allow_nan=False, width=32))
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    low, high = _INT_RANGES[field.type]
    edge = st.sampled_from([v for v in (low, -1, 0, 1, 2, 99, high) if low <= v <= high])
    return st.one_of(edge, st.integers(low, high))


def messages(
    descriptor: Descriptor,
    message_class: Callable[[Descriptor], type[Message]],
    ids: Callable[[], Sequence[str]],
    depth: int = 0,
) -> st.SearchStrategy[Message]:
    """Messages of this type with a random subset of fields set to nasty values."""
    fields = list(descriptor.fields)
    text = strings(ids)

    def value(field: FieldDescriptor) -> st.SearchStrategy[Any]:
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if depth >= 3:
                return st.just(None)
            return messages(field.message_type, message_class, ids, depth + 1)
        if field.type == FieldDescriptor.TYPE_STRING:
            return text
        if field.type == FieldDescriptor.TYPE_BYTES:
            return st.one_of(st.binary(max_size=40), text.map(str.encode))
        return _numbers(field)

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        message = message_class(descriptor)()
        chosen = draw(st.lists(st.sampled_from(fields), max_size=4)) if fields else []
        for field in chosen:
            entry = field.message_type
            if field.is_repeated and entry is not None and entry.GetOptions().map_entry:
                key, val = entry.fields_by_name["key"], entry.fields_by_name["value"]
                items = draw(st.lists(st.tuples(value(key), value(val)), max_size=3))
                target = getattr(message, field.name)
                for k, v in items:
                    if v is None:
                        continue
                    if val.type == FieldDescriptor.TYPE_MESSAGE:
                        target[k].CopyFrom(v)
                    else:
                        target[k] = v
            elif field.is_repeated:
                count = draw(st.integers(0, 15).map(lambda n: 70 if n == 0 else n % 4))
                items = draw(st.lists(value(field), min_size=min(count, 3), max_size=count))
                if count == 70 and items:
                    items = (items * 70)[:70]  # duplicates, and more than the limits allow
                target = getattr(message, field.name)
                for item in items:
                    if item is None:
                        continue
                    if field.type == FieldDescriptor.TYPE_MESSAGE:
                        target.add().CopyFrom(item)
                    else:
                        target.append(item)
            else:
                item = draw(value(field))
                if item is None:
                    continue
                if field.type == FieldDescriptor.TYPE_MESSAGE:
                    getattr(message, field.name).CopyFrom(item)
                else:
                    setattr(message, field.name, item)
        return message

    return build()
