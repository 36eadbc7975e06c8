"""RecordIO and the Mesos JSON mapping on their own (the HTTP server itself is tested in
tests/unit/test_http_server.py)."""

from __future__ import annotations

import base64
import json

import pytest

from mesospy.master.http_api.mesos_json import MappingError, from_json, to_json
from mesospy.master.http_api.recordio import RecordIOError, RecordReader, record
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import scheduler_pb2 as spb


def test_recordio_split_anywhere() -> None:
    stream = record(b'{"a":1}') + record(b"") + record(b"x" * 300)
    reader = RecordReader()
    records = [r for i in range(len(stream)) for r in reader.feed(stream[i : i + 1])]
    assert records == [b'{"a":1}', b"", b"x" * 300]
    with pytest.raises(RecordIOError, match="not its length"):
        RecordReader().feed(b"abc\n")


def test_mesos_json_task_info_round_trip() -> None:
    task = pb.TaskInfo(
        name="t",
        task_id="t1",
        agent_id="a1",
        resources=[
            pb.Resource(name="cpus", type=pb.Resource.SCALAR, scalar=0.5),
            pb.Resource(name="ports", type=pb.Resource.RANGES, ranges=[pb.Range(begin=1, end=2)]),
            pb.Resource(name="gpus_ids", type=pb.Resource.SET, items=["g0"]),
        ],
        command=pb.CommandInfo(shell="echo hi", environment={"A": "1"}),
        kill_policy=pb.KillPolicy(grace_period_seconds=1.5),
        labels=[pb.Label(key="k", value="v")],
    )
    doc = to_json(task)
    assert doc["task_id"] == {"value": "t1"} and doc["agent_id"] == {"value": "a1"}
    assert doc["resources"][0]["scalar"] == {"value": 0.5}
    assert doc["resources"][1]["ranges"] == {"range": [{"begin": 1, "end": 2}]}
    assert doc["resources"][2]["set"] == {"item": ["g0"]}
    assert doc["command"] == {
        "shell": True,
        "value": "echo hi",
        "environment": {"variables": [{"name": "A", "value": "1"}]},
    }
    assert doc["kill_policy"] == {"grace_period": {"nanoseconds": 1_500_000_000}}
    assert doc["labels"] == {"labels": [{"key": "k", "value": "v"}]}
    assert from_json(json.loads(json.dumps(doc)), pb.TaskInfo()) == task


def test_mesos_json_argv_commands_and_calls() -> None:
    command = from_json(
        {"shell": False, "value": "ls", "arguments": ["ls", "-l"]}, pb.CommandInfo()
    )
    assert list(command.argv) == ["ls", "-l"] and not command.shell
    uuid = base64.b64encode(b"\x01\x02").decode()
    call = from_json(
        {
            "type": "ACKNOWLEDGE",
            "framework_id": {"value": "f"},
            "acknowledge": {"agent_id": {"value": "a"}, "task_id": {"value": "t"}, "uuid": uuid},
            "something_mesos_has": 1,
        },
        spb.Call(),
    )
    assert call.type == spb.Call.ACKNOWLEDGE and call.framework_id == "f"
    assert call.acknowledges[0].uuid == b"\x01\x02" and call.acknowledges[0].task_id == "t"
    info = from_json(
        {"name": "n", "role": "r", "capabilities": [{"type": "MULTI_ROLE"}]}, pb.FrameworkInfo()
    )
    assert list(info.roles) == ["r"] and list(info.capabilities) == [pb.FrameworkInfo.MULTI_ROLE]
    info = from_json({"name": "n", "capabilities": [{"type": "REGION_AWARE"}]}, pb.FrameworkInfo())
    assert not info.capabilities  # capabilities mesospy lacks are advisory: left out
    with pytest.raises(MappingError, match=r"operations\[0\].type 'GROW_VOLUME' .* LAUNCH"):
        from_json(
            {"type": "ACCEPT", "accept": {"operations": [{"type": "GROW_VOLUME"}]}}, spb.Call()
        )
    reserve = {"type": "RESERVE", "reserve": {"resources": [{"name": "cpus", "scalar": 1}]}}
    call = from_json({"type": "ACCEPT", "accept": {"operations": [reserve]}}, spb.Call())
    assert call.accept.operations[0].reserve.resources[0].name == "cpus"
    with pytest.raises(MappingError, match=r"\[0\]\.executor.*command"):
        launch = {"type": "LAUNCH", "launch": {"task_infos": [{"executor": {}}]}}
        from_json({"type": "ACCEPT", "accept": {"operations": [launch]}}, spb.Call())
    with pytest.raises(MappingError, match="task_id"):
        from_json({"task_id": {"nope": 1}}, pb.TaskInfo())
    with pytest.raises(MappingError):
        from_json({"name": 5, "resources": "cpus"}, pb.TaskInfo())


def test_mesos_json_events_use_mesos_names() -> None:
    status = pb.TaskStatus(
        task_id="t",
        state=pb.TASK_RUNNING,
        agent_id="a",
        uuid=b"u",
        source=pb.TaskStatus.SOURCE_AGENT,
    )
    event = spb.Event(type=spb.Event.UPDATE, update=spb.Event.Update(status=status))
    doc = to_json(event)
    assert doc["type"] == "UPDATE"
    assert doc["update"]["status"]["state"] == "TASK_RUNNING"
    assert doc["update"]["status"]["source"] == "SOURCE_AGENT"
    assert doc["update"]["status"]["uuid"] == base64.b64encode(b"u").decode()
    offer = pb.Offer(id="o", framework_id="f", agent_id="a", attributes={"rack": "r1"}, role="*")
    out = to_json(offer)
    assert out["id"] == {"value": "o"} and out["allocation_info"] == {"role": "*"}
    assert out["attributes"] == [{"name": "rack", "type": "TEXT", "text": {"value": "r1"}}]
