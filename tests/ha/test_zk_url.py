"""zk:// URLs and the election JSON (pure functions; no server needed)."""

from __future__ import annotations

import json

import pytest

from mesospy.detector import MasterDetector, MasterSpecError
from mesospy.v1 import common_pb2 as pb
from mesospy.zk.master_info import (
    master_address,
    master_info_from_json,
    master_info_to_json,
    sorted_contenders,
)
from mesospy.zk.url import ZooKeeperUrl, parse_zk_url


@pytest.mark.parametrize(
    ("url", "servers", "path"),
    [
        ("zk://h1:2181,h2:2182/mesospy", ("h1:2181", "h2:2182"), "/mesospy"),
        ("zk://h1", ("h1:2181",), "/mesospy"),
        ("zk://h1/", ("h1:2181",), "/mesospy"),
        ("zk://127.0.0.1:2181/a/b/", ("127.0.0.1:2181",), "/a/b"),
        ("zk://[::1]:2181,[fe80::1]/x", ("[::1]:2181", "[fe80::1]:2181"), "/x"),
        (" zk://h1:1, h2:2/p ", ("h1:1", "h2:2"), "/p"),
    ],
)
def test_parse_good_urls(url: str, servers: tuple[str, ...], path: str) -> None:
    parsed = parse_zk_url(url)
    assert parsed == ZooKeeperUrl(servers=servers, path=path)
    assert parse_zk_url(str(parsed)) == parsed


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("h1:2181/mesospy", "starts with zk://"),
        ("zk:///mesospy", "no ZooKeeper servers"),
        ("zk://h1,,h2/p", "empty server"),
        ("zk://h1:0/p", "bad port"),
        ("zk://h1:99999/p", "bad port"),
        ("zk://h1:abc/p", "bad port"),
        ("zk://:2181/p", "no host"),
        ("zk://fe80::1/p", "IPv6"),
        ("zk://[::1/p", "malformed IPv6"),
        ("zk://u:p@h1/p", "credentials"),
        ("zk://h1/a//b", "bad path"),
        ("zk://h1/a/../b", "bad path"),
    ],
)
def test_parse_bad_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_zk_url(url)


def test_detector_refuses_bad_zk_url_as_spec_error() -> None:
    with pytest.raises(MasterSpecError, match="bad port"):
        MasterDetector("zk://h1:0/p")


def _info(ip: str = "127.0.0.1", port: int = 5050) -> pb.MasterInfo:
    return pb.MasterInfo(
        id="m1", ip=ip, port=port, hostname="host-a", version="0.1.0",
        address=pb.Address(hostname="host-a", ip=ip, port=port), pid=f"master@{ip}:{port}",
    )  # fmt: skip


def test_master_info_json_has_mesos_shape() -> None:
    doc = json.loads(master_info_to_json(_info()))
    assert doc == {
        "id": "m1",
        "ip": 16777343,  # what Mesos writes for 127.0.0.1
        "port": 5050,
        "hostname": "host-a",
        "version": "0.1.0",
        "pid": "master@127.0.0.1:5050",
        "address": {"hostname": "host-a", "ip": "127.0.0.1", "port": 5050},
    }
    assert master_info_from_json(master_info_to_json(_info())) == _info()


def test_master_info_from_mesos_json_without_address() -> None:
    # Older Mesos wrote only the uint32 ip.
    info = master_info_from_json(b'{"id": "x", "ip": 16777343, "port": 5051, "hostname": "h"}')
    assert master_address(info) == "127.0.0.1:5051"


def test_master_info_ipv6() -> None:
    data = master_info_to_json(_info(ip="::1"))
    assert "ip" not in json.loads(data)  # a uint32 cannot hold it
    assert master_address(master_info_from_json(data)) == "[::1]:5050"


@pytest.mark.parametrize(
    "data", [b"not json", b"[]", b'{"id": "x"}', b'{"address": {"ip": "1.2.3.4"}}']
)
def test_master_info_unusable_json(data: bytes) -> None:
    with pytest.raises(ValueError, match="election znode"):
        master_info_from_json(data)


def test_sorted_contenders_ignores_other_children() -> None:
    children = ["json.info_0000000010", "registry", "json.info_0000000002", "log_replicas"]
    assert sorted_contenders(children) == ["json.info_0000000002", "json.info_0000000010"]
