"""MasterInfo as JSON, in the format Mesos writes into its ``json.info_<seq>`` znodes.

Mesos's own JSON carries ``ip`` as a uint32 (the IPv4 address's network-order bytes read
as a little-endian integer: 127.0.0.1 is 16777343) and the dotted form in
``address.ip``. Writing the same shape lets Mesos-aware tools find a mesospy leader.
"""

from __future__ import annotations

import ipaddress
import json
import struct
from typing import Any

from mesospy.v1 import common_pb2 as pb

ELECTION_PREFIX = "json.info_"


def _ip_to_uint32(ip: str) -> int | None:
    try:
        packed = ipaddress.IPv4Address(ip).packed
    except ValueError:
        return None  # IPv6 or a hostname: Mesos's uint32 cannot hold it
    value: int = struct.unpack("<I", packed)[0]
    return value


def _uint32_to_ip(value: int) -> str:
    return str(ipaddress.IPv4Address(struct.pack("<I", value)))


def master_info_to_json(info: pb.MasterInfo) -> bytes:
    """Encode ``info`` as Mesos's election JSON (bytes, ready for a znode)."""
    ip = info.address.ip or info.ip
    port = info.address.port or info.port
    hostname = info.address.hostname or info.hostname or ip
    doc: dict[str, Any] = {
        "id": info.id,
        "port": port,
        "hostname": hostname,
        "version": info.version,
        "pid": info.pid or f"master@{ip}:{port}",
        "address": {"hostname": hostname, "ip": ip, "port": port},
    }
    if (as_int := _ip_to_uint32(ip)) is not None:
        doc["ip"] = as_int
    if info.http_port:  # not Mesos's (its port is HTTP): where mesospy's HTTP API is
        doc["http_port"] = info.http_port
    if info.webui_url:
        doc["webui_url"] = info.webui_url
    return json.dumps(doc, sort_keys=True).encode()


def master_info_from_json(data: bytes) -> pb.MasterInfo:
    """Decode election JSON (mesospy's or Mesos's); raise ``ValueError`` if unusable."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"election znode does not hold JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ValueError("election znode JSON is not an object")
    address = doc.get("address") or {}
    ip = address.get("ip") or ""
    if not ip and isinstance(doc.get("ip"), int):
        ip = _uint32_to_ip(doc["ip"])
    port = address.get("port") or doc.get("port") or 0
    if not ip or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"election znode names no usable address: {doc!r}")
    hostname = address.get("hostname") or doc.get("hostname") or ip
    return pb.MasterInfo(
        id=str(doc.get("id", "")),
        ip=ip,
        port=port,
        hostname=hostname,
        version=str(doc.get("version", "")),
        address=pb.Address(hostname=hostname, ip=ip, port=port),
        pid=str(doc.get("pid") or f"master@{ip}:{port}"),
        http_port=http_port if isinstance(http_port := doc.get("http_port"), int) else 0,
        webui_url=str(doc.get("webui_url") or ""),
    )


def master_address(info: pb.MasterInfo) -> str:
    """The master's gRPC address, ``ip:port`` (``[v6]:port`` for IPv6)."""
    ip = info.address.ip or info.ip
    port = info.address.port or info.port
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def election_sequence(name: str) -> int | None:
    """The sequence number of an election znode name, or None if it is not one."""
    if not name.startswith(ELECTION_PREFIX):
        return None
    digits = name[len(ELECTION_PREFIX) :]
    return int(digits) if digits.isdigit() else None


def sorted_contenders(children: list[str]) -> list[str]:
    """The election znodes among ``children``, leader (lowest sequence) first."""
    seqs = [(seq, name) for name in children if (seq := election_sequence(name)) is not None]
    return [name for _, name in sorted(seqs)]
