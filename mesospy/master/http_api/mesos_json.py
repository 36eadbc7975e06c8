"""mesospy's protobuf messages as Mesos's JSON, and back.

mesospy's protos follow Mesos's field and enum names (``task_id``, ``TASK_RUNNING``,
``type: SUBSCRIBE``), so most of the mapping is generic: field names as they are, enums by
name, bytes in base64. Where the shapes differ it is explicit:

- ids are plain strings here and ``{"value": ...}`` in Mesos (``FrameworkID``, ``TaskID``...);
- ``Resource``: ``scalar: 1`` here, ``scalar: {"value": 1}``, ``ranges: {"range": [...]}`` and
  ``set: {"item": [...]}`` in Mesos;
- ``CommandInfo``: ``shell``/``argv`` here, ``value``/``shell``/``arguments`` and
  ``environment: {"variables": [...]}`` in Mesos;
- labels are ``{"labels": [...]}``, attributes a list of ``{name, type: TEXT, text}``,
  a kill policy's grace period ``{"nanoseconds": ...}``, a framework's capabilities
  ``[{"type": ...}]`` in Mesos;
- a scheduler's ``acknowledge`` (one) is ``acknowledges`` (several) here.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from mesospy.v1 import common_pb2 as pb
from mesospy.zk.master_info import master_info_to_json

M = TypeVar("M", bound=Message)
# Descriptors: typed loosely (the stubs split them between the Python and upb classes).
Descriptor = Any
Json = dict[str, Any]


class MappingError(ValueError):
    """The JSON cannot be the message asked for (the message says where)."""


# String fields that are plain strings in Mesos too, though named like ids.
_PLAIN = {("mesospy.v1.Event.Subscribed", "stream_id"), ("mesospy.v1.Call", "stream_id")}


def _is_id(desc: Descriptor, f: Any) -> bool:
    if f.type != FieldDescriptor.TYPE_STRING or (desc.full_name, f.name) in _PLAIN:
        return False
    name: str = f.name
    if f.is_repeated:
        return name.endswith("_ids") or (desc.full_name, name) == ("mesospy.v1.Role", "frameworks")
    return name == "id" or name.endswith("_id")


def _is_map(f: Any) -> bool:
    return bool(f.type == FieldDescriptor.TYPE_MESSAGE and f.message_type.GetOptions().map_entry)


# ------------------------------------------------------------------ proto -> Mesos JSON


def to_json(message: Message) -> Json:
    """``message`` as Mesos's JSON (a dict ready for ``json.dumps``)."""
    desc = message.DESCRIPTOR
    special = _OUT.get(desc.full_name)
    if special is not None:
        return special(message)
    return _generic_out(message)


def _generic_out(message: Message, skip: frozenset[str] = frozenset()) -> Json:
    desc: Descriptor = message.DESCRIPTOR
    out: Json = {}
    for f in desc.fields:
        if f.name in skip:
            continue
        value = getattr(message, f.name)
        if _is_map(f):
            value_field = f.message_type.fields_by_name["value"]
            out[f.name] = {k: _value_out(desc, value_field, v) for k, v in value.items()}
        elif f.is_repeated:
            if f.name == "labels" and f.message_type is pb.Label.DESCRIPTOR:
                if value:
                    out["labels"] = {"labels": [_generic_out(label) for label in value]}
                continue
            out[f.name] = [_value_out(desc, f, v) for v in value]
        elif f.has_presence and not message.HasField(f.name):
            continue
        else:
            out[f.name] = _value_out(desc, f, value)
    return out


def _value_out(desc: Descriptor, f: Any, value: Any) -> Any:
    if f.type == FieldDescriptor.TYPE_MESSAGE:
        return to_json(value)
    if f.type == FieldDescriptor.TYPE_ENUM:
        known = f.enum_type.values_by_number.get(value)
        return known.name if known is not None else value
    if f.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode()
    if _is_id(desc, f):
        return {"value": value}
    return value


def _resource_out(r: Message) -> Json:
    assert isinstance(r, pb.Resource)
    out: Json = {"name": r.name, "type": pb.Resource.Type.Name(r.type)}
    if r.type == pb.Resource.SCALAR:
        out["scalar"] = {"value": r.scalar}
    elif r.type == pb.Resource.RANGES:
        out["ranges"] = {"range": [{"begin": x.begin, "end": x.end} for x in r.ranges]}
    else:
        out["set"] = {"item": list(r.items)}
    out["role"] = r.role or "*"
    if r.reservations:
        out["reservations"] = [to_json(x) for x in r.reservations]
    if r.HasField("disk"):
        out["disk"] = disk = to_json(r.disk)
        if "persistence" in disk:  # a plain string in Mesos, not an {"value": ...} id
            disk["persistence"]["id"] = r.disk.persistence.id
    return out


def attributes_out(attributes: Any) -> list[Json]:
    return [
        {"name": k, "type": "TEXT", "text": {"value": v}} for k, v in sorted(attributes.items())
    ]


def _offer_out(o: Message) -> Json:
    assert isinstance(o, pb.Offer)
    out = _generic_out(o, frozenset({"attributes", "role"}))
    out["attributes"] = attributes_out(o.attributes)
    out["allocation_info"] = {"role": o.role or "*"}
    return out


def _agent_info_out(a: Message) -> Json:
    assert isinstance(a, pb.AgentInfo)
    out = _generic_out(a, frozenset({"attributes"}))
    out["attributes"] = attributes_out(a.attributes)
    return out


def _command_out(c: Message) -> Json:
    assert isinstance(c, pb.CommandInfo)
    out: Json = {}
    if c.argv:
        out.update(shell=False, value=c.argv[0], arguments=list(c.argv))
    else:
        out.update(shell=True, value=c.shell)
    if c.environment:
        out["environment"] = {
            "variables": [{"name": k, "value": v} for k, v in sorted(c.environment.items())]
        }
    if c.user:
        out["user"] = c.user
    if c.uris:
        out["uris"] = [_generic_out(u) for u in c.uris]
    return out


def nanoseconds(seconds: float) -> Json:
    return {"nanoseconds": round(seconds * 1e9)}


def _kill_policy_out(k: Message) -> Json:
    assert isinstance(k, pb.KillPolicy)
    return (
        {"grace_period": nanoseconds(k.grace_period_seconds)}
        if k.HasField("grace_period_seconds")
        else {}
    )


def _framework_info_out(f: Message) -> Json:
    assert isinstance(f, pb.FrameworkInfo)
    out = _generic_out(f, frozenset({"capabilities"}))
    out["capabilities"] = [{"type": pb.FrameworkInfo.Capability.Name(c)} for c in f.capabilities]
    if f.roles:
        out["role"] = f.roles[0]
    return out


def _task_out(t: Message) -> Json:
    assert isinstance(t, pb.Task)
    out = _generic_out(t, frozenset({"status"}))
    out["statuses"] = [to_json(t.status)] if t.HasField("status") else []
    return out


def _master_info_out(m: Message) -> Json:
    assert isinstance(m, pb.MasterInfo)
    doc: Json = json.loads(master_info_to_json(m))
    return doc


_OUT: dict[str, Callable[[Message], Json]] = {
    "mesospy.v1.Resource": _resource_out,
    "mesospy.v1.Offer": _offer_out,
    "mesospy.v1.AgentInfo": _agent_info_out,
    "mesospy.v1.CommandInfo": _command_out,
    "mesospy.v1.KillPolicy": _kill_policy_out,
    "mesospy.v1.FrameworkInfo": _framework_info_out,
    "mesospy.v1.Task": _task_out,
    "mesospy.v1.MasterInfo": _master_info_out,
}


# ------------------------------------------------------------------ Mesos JSON -> proto


def from_json(doc: Any, message: M) -> M:
    """Fill ``message`` from Mesos's JSON; fields mesospy does not have are ignored (Mesos
    clients send many), values of the wrong kind raise ``MappingError``."""
    if not isinstance(doc, dict):
        raise MappingError(f"a {message.DESCRIPTOR.name} must be a JSON object")
    try:
        json_format.ParseDict(_in(message.DESCRIPTOR, doc, ""), message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise MappingError(str(exc)) from None
    return message


def _in(desc: Descriptor, doc: Json, where: str) -> Json:
    special = _IN.get(desc.full_name)
    if special is not None:
        doc = special(dict(doc), where)
    out: Json = {}
    for name, value in doc.items():
        f = desc.fields_by_name.get(name)
        if f is None:
            continue
        path = f"{where}.{name}" if where else name
        if _is_map(f):
            out[name] = value
        elif f.is_repeated:
            if f.name == "labels" and isinstance(value, dict):
                value = value.get("labels", [])
            if not isinstance(value, list):
                raise MappingError(f"{path} must be a list")
            if f.type == FieldDescriptor.TYPE_ENUM:  # e.g. capabilities: unknown ones are
                value = [v for v in value if not _unknown_name(f, v)]  # advisory, dropped
            out[name] = [_value_in(desc, f, v, f"{path}[{i}]") for i, v in enumerate(value)]
        else:
            out[name] = _value_in(desc, f, value, path)
    return out


def _value_in(desc: Descriptor, f: Any, value: Any, where: str) -> Any:
    if f.type == FieldDescriptor.TYPE_MESSAGE:
        if not isinstance(value, dict):
            raise MappingError(f"{where} must be a JSON object")
        return _in(f.message_type, value, where)
    if f.type == FieldDescriptor.TYPE_ENUM and _unknown_name(f, value):
        known = ", ".join(
            n for n in f.enum_type.values_by_name if f.enum_type.values_by_name[n].number
        )
        raise MappingError(f"{where} {value!r} is not supported here; one of: {known}")
    if _is_id(desc, f) and isinstance(value, dict):
        if not isinstance(value.get("value"), str):
            raise MappingError(f'{where} must be {{"value": "<id>"}}')
        return value["value"]
    return value


def _unknown_name(f: Any, value: Any) -> bool:
    """A string that names no value of the enum field ``f``."""
    return isinstance(value, str) and value not in f.enum_type.values_by_name


def _scalar_value(doc: Json, key: str, where: str) -> Any:
    inner = doc.get(key)
    return inner.get("value") if isinstance(inner, dict) else inner


def _resource_in(doc: Json, where: str) -> Json:
    if isinstance(doc.get("scalar"), dict):
        doc["scalar"] = _scalar_value(doc, "scalar", where)
    ranges = doc.pop("ranges", None)
    if isinstance(ranges, dict):
        doc["ranges"] = ranges.get("range", [])
    elif ranges is not None:
        doc["ranges"] = ranges
    items = doc.pop("set", None)
    if isinstance(items, dict):
        doc["items"] = items.get("item", [])
    if "type" not in doc:
        doc["type"] = "RANGES" if "ranges" in doc else "SET" if "items" in doc else "SCALAR"
    if doc.get("role") in (None, "", "*"):  # unreserved: mesospy writes no role
        doc.pop("role", None)
    return doc


def _command_in(doc: Json, where: str) -> Json:
    value = doc.pop("value", None)
    arguments = doc.pop("arguments", None)
    shell = doc.pop("shell", True)
    if shell is not False:
        doc["shell"] = value or ""
    else:
        doc["argv"] = arguments if arguments else ([value] if value else [])
    env = doc.get("environment")
    if isinstance(env, dict) and "variables" in env:
        variables = env["variables"]
        if not isinstance(variables, list) or not all(
            isinstance(v, dict) and "name" in v for v in variables
        ):
            raise MappingError(f"{where}.environment.variables must be [{{name, value}}, ...]")
        doc["environment"] = {v["name"]: v.get("value", "") for v in variables}
    return doc


def _kill_policy_in(doc: Json, where: str) -> Json:
    grace = doc.pop("grace_period", None)
    if isinstance(grace, dict):
        ns = grace.get("nanoseconds", 0)
        if not isinstance(ns, int | float | str):
            raise MappingError(f"{where}.grace_period.nanoseconds must be a number")
        doc["grace_period_seconds"] = float(ns) / 1e9
    return doc


def _framework_info_in(doc: Json, where: str) -> Json:
    caps = doc.get("capabilities")
    if isinstance(caps, list):
        doc["capabilities"] = [c.get("type") if isinstance(c, dict) else c for c in caps]
    role = doc.pop("role", None)
    if role and not doc.get("roles"):
        doc["roles"] = [role]
    return doc


def _attributes_in(doc: Json, where: str) -> Json:
    attributes = doc.get("attributes")
    if isinstance(attributes, list):
        doc["attributes"] = {
            a["name"]: str(_scalar_value(a, "text", where) or _scalar_value(a, "scalar", where))
            for a in attributes
            if isinstance(a, dict) and "name" in a
        }
    return doc


def _task_info_in(doc: Json, where: str) -> Json:
    if "executor" in doc:
        raise MappingError(
            f"{where}.executor: a task's own ExecutorInfo is not supported; give its "
            '"command" (mesospy runs it under its command executor)'
        )
    return doc


def _call_in(doc: Json, where: str) -> Json:
    ack = doc.pop("acknowledge", None)
    if ack is not None:
        doc["acknowledges"] = [ack]
    return doc


_IN: dict[str, Callable[[Json, str], Json]] = {
    "mesospy.v1.Resource": _resource_in,
    "mesospy.v1.CommandInfo": _command_in,
    "mesospy.v1.KillPolicy": _kill_policy_in,
    "mesospy.v1.FrameworkInfo": _framework_info_in,
    "mesospy.v1.AgentInfo": _attributes_in,
    "mesospy.v1.Offer": _attributes_in,
    "mesospy.v1.Call": _call_in,
    "mesospy.v1.TaskInfo": _task_info_in,
}
