"""A master's dashboard URL travels in its election znode, so standbys can redirect to it."""

from __future__ import annotations

import json

from mesospy.v1 import common_pb2 as pb
from mesospy.zk.master_info import master_info_from_json, master_info_to_json


def test_the_dashboard_url_round_trips_through_the_election_json() -> None:
    info = pb.MasterInfo(
        id="m1",
        ip="127.0.0.1",
        port=5050,
        hostname="h",
        version="0.1.0",
        address=pb.Address(hostname="h", ip="127.0.0.1", port=5050),
        pid="master@127.0.0.1:5050",
        webui_url="http://127.0.0.1:5080",
    )
    data = master_info_to_json(info)
    assert json.loads(data)["webui_url"] == "http://127.0.0.1:5080"
    assert master_info_from_json(data) == info
    info.webui_url = ""
    assert "webui_url" not in json.loads(master_info_to_json(info))  # Mesos's shape otherwise
