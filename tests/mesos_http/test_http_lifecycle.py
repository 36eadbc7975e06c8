"""What an operator sees over HTTP while a scheduler works: the event stream, the task's
sandbox files, maintenance and teardown; and the protobuf content type."""

from __future__ import annotations

import base64
import time
import urllib.parse

import pytest

from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import scheduler_pb2 as spb

from .mesos_http_client import (
    SCHEDULER,
    EventStream,
    MesosHttp,
    acknowledged_update,
    call,
    subscribe,
)


def _launch(api: MesosHttp, stream: EventStream, framework_id: str, task_id: str, cmd: str) -> str:
    offer = stream.until("OFFERS")["offers"]["offers"][0]
    task = {
        "name": task_id,
        "task_id": {"value": task_id},
        "agent_id": offer["agent_id"],
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}],
        "command": {"value": cmd},
        "kill_policy": {"grace_period": {"nanoseconds": 500_000_000}},
        "labels": {"labels": [{"key": "origin", "value": "http"}]},
    }
    accept = {
        "offer_ids": [offer["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}],
    }
    answer = call(api, stream, framework_id, {"type": "ACCEPT", "accept": accept})
    assert answer.status == 202, answer.text
    return str(offer["agent_id"]["value"])


def test_operator_events_files_and_teardown(api: MesosHttp) -> None:
    status, events = api.stream(
        "/api/v1", {"type": "SUBSCRIBE", "subscribe": {"heartbeat_interval_seconds": 5}}
    )
    assert status == 200 and isinstance(events, EventStream), events
    stream = subscribe(api, "http-lifecycle")
    try:
        assert events.next()["type"] == "SUBSCRIBED"
        framework_id = stream.next()["subscribed"]["framework_id"]["value"]
        added = events.until("FRAMEWORK_ADDED")["framework_added"]["framework"]
        assert added["framework_info"]["id"] == {"value": framework_id}
        assert added["framework_info"]["name"] == "http-lifecycle"

        _launch(api, stream, framework_id, "talker", "echo said-over-http; exec sleep 60")
        task = events.until("TASK_ADDED")["task_added"]["task"]
        assert task["task_id"] == {"value": "talker"}
        assert task["labels"] == {"labels": [{"key": "origin", "value": "http"}]}
        assert task["kill_policy"] == {"grace_period": {"nanoseconds": 500_000_000}}
        assert task["command"]["shell"] is True
        while acknowledged_update(api, stream, framework_id)["state"] != "TASK_RUNNING":
            pass
        while True:
            updated = events.until("TASK_UPDATED")["task_updated"]
            if updated["state"] == "TASK_RUNNING":
                break
        assert updated["framework_id"] == {"value": framework_id}
        assert updated["status"]["task_id"] == {"value": "talker"}

        query = urllib.parse.urlencode(
            {"framework_id": framework_id, "task_id": "talker", "path": "stdout"}
        )
        sandbox = urllib.parse.urlencode({"framework_id": framework_id, "task_id": "talker"})
        listing = api.request("GET", f"/files/browse?{sandbox}")
        assert listing.status == 200, listing.text
        assert any(f["path"].endswith("stdout") for f in listing.json())
        deadline = time.monotonic() + 15
        while True:  # the task writes it soon after it runs
            read = api.request("GET", f"/files/read?{query}")
            assert read.status == 200, read.text
            if "said-over-http" in read.json()["data"]:
                break
            assert time.monotonic() < deadline, read.json()
            time.sleep(0.1)
        missing = api.request("GET", "/files/read?path=stdout")
        assert missing.status == 400 and "framework_id" in missing.text

        torn = api.operator(
            {"type": "TEARDOWN", "teardown": {"framework_id": {"value": framework_id}}}
        )
        assert torn.status == 200, torn.text
        removed = events.until("FRAMEWORK_REMOVED")["framework_removed"]
        assert removed["framework_info"]["id"] == {"value": framework_id}
        error = stream.until("ERROR")["error"]
        assert error["message"]
        with pytest.raises(EOFError):
            stream.next(timeout=10)  # the master ends the scheduler's stream
        again = api.operator({"type": "TEARDOWN", "teardown": {"framework_id": {"value": "no"}}})
        assert again.status == 404 and "no" in again.text
    finally:
        stream.close()
        events.close()


def test_deactivate_and_reactivate_an_agent(api: MesosHttp) -> None:
    agent = api.operator({"type": "GET_AGENTS"}).json()["get_agents"]["agents"][0]
    agent_id = agent["agent_info"]["id"]
    answer = api.operator({"type": "DEACTIVATE_AGENT", "deactivate_agent": {"agent_id": agent_id}})
    assert answer.status == 200, answer.text
    assert api.operator({"type": "GET_AGENTS"}).json()["get_agents"]["agents"][0]["active"] is False
    answer = api.operator({"type": "REACTIVATE_AGENT", "reactivate_agent": {"agent_id": agent_id}})
    assert answer.status == 200, answer.text
    assert api.operator({"type": "GET_AGENTS"}).json()["get_agents"]["agents"][0]["active"] is True


def test_weights_round_trip(api: MesosHttp) -> None:
    update = {
        "type": "UPDATE_WEIGHTS",
        "update_weights": {"weight_infos": [{"role": "http-role", "weight": 2.5}]},
    }
    assert api.operator(update).status == 200
    weights = api.operator({"type": "GET_WEIGHTS"}).json()["get_weights"]["weight_infos"]
    assert {"role": "http-role", "weight": 2.5} in weights
    bad = api.operator(
        {
            "type": "UPDATE_WEIGHTS",
            "update_weights": {"weight_infos": [{"role": "http-role", "weight": -1}]},
        }
    )
    assert bad.status == 400 and "weight" in bad.text
    weights = api.operator({"type": "GET_WEIGHTS"}).json()["get_weights"]["weight_infos"]
    assert {"role": "http-role", "weight": 2.5} in weights


def test_quota_round_trip_in_mesos_shape(api: MesosHttp) -> None:
    update = {
        "type": "UPDATE_QUOTA",
        "update_quota": {
            "force": True,
            "quota_configs": [
                {
                    "role": "http-quota",
                    "guarantees": {"cpus": {"value": 0.5}},
                    "limits": {"cpus": {"value": 1}, "mem": {"value": 256}},
                }
            ],
        },
    }
    assert api.operator(update).status == 200
    configs = api.operator({"type": "GET_QUOTA"}).json()["get_quota"]["status"]["configs"]
    wanted = {
        "role": "http-quota",
        "guarantees": {"cpus": {"value": 0.5}},
        "limits": {"cpus": {"value": 1.0}, "mem": {"value": 256.0}},
    }
    assert wanted in configs
    bad = api.operator(
        {
            "type": "UPDATE_QUOTA",
            "update_quota": {"quota_configs": [{"role": "http-quota", "limits": {"cpus": "x"}}]},
        }
    )
    assert bad.status == 400 and "limits.cpus" in bad.text
    assert wanted in api.operator({"type": "GET_QUOTA"}).json()["get_quota"]["status"]["configs"]
    removed = api.operator({"type": "REMOVE_QUOTA", "remove_quota": {"role": "http-quota"}})
    assert removed.status == 501 and "UPDATE_QUOTA" in removed.text


def test_protobuf_content_type(api: MesosHttp) -> None:
    subscribe_call = spb.Call(
        type=spb.Call.SUBSCRIBE,
        subscribe=spb.Call.Subscribe(framework_info=pb.FrameworkInfo(name="http-protobuf")),
    )
    headers = {"Content-Type": "application/x-protobuf", "Accept": "application/x-protobuf"}
    status, stream = api.stream(SCHEDULER, subscribe_call.SerializeToString(), headers)
    assert status == 200 and isinstance(stream, EventStream), stream
    try:
        assert stream.headers["content-type"] == "application/x-protobuf"
        first = spb.Event.FromString(stream.next_record())
        assert first.type == spb.Event.SUBSCRIBED
        assert first.subscribed.stream_id == stream.headers["mesos-stream-id"]
        teardown = spb.Call(type=spb.Call.TEARDOWN, framework_id=first.subscribed.framework_id)
        answer = api.post(
            SCHEDULER,
            teardown.SerializeToString(),
            Content_Type="application/x-protobuf",
            Mesos_Stream_Id=first.subscribed.stream_id,
        )
        assert answer.status == 202, answer.text
        garbage = api.post(SCHEDULER, b"\xff\xff\xff", Content_Type="application/x-protobuf")
        assert garbage.status == 400 and "mesospy.v1.Call" in garbage.text
    finally:
        stream.close()


def test_a_framework_fails_over_to_a_new_subscription(api: MesosHttp) -> None:
    first = subscribe(api, "http-failover", failover_timeout=600)
    framework_id = first.next()["subscribed"]["framework_id"]["value"]
    old_stream_id = first.headers["mesos-stream-id"]
    second = subscribe(api, "http-failover", failover_timeout=600, id={"value": framework_id})
    try:
        subscribed = second.next()["subscribed"]
        assert subscribed["framework_id"] == {"value": framework_id}
        assert second.headers["mesos-stream-id"] != old_stream_id
        stale = api.post(
            SCHEDULER,
            {"type": "REVIVE", "framework_id": {"value": framework_id}},
            Mesos_Stream_Id=old_stream_id,
        )
        assert stale.status == 400 and "stream_id" in stale.text
        assert call(api, second, framework_id, {"type": "TEARDOWN"}).status == 202
    finally:
        first.close()
        second.close()


def test_closing_the_stream_disconnects_the_framework(api: MesosHttp) -> None:
    stream = subscribe(api, "http-leaver", failover_timeout=600)
    framework_id = stream.next()["subscribed"]["framework_id"]["value"]
    stream.close()
    deadline = time.monotonic() + 20
    while True:
        frameworks = api.operator({"type": "GET_FRAMEWORKS"}).json()["get_frameworks"]
        mine = [
            f
            for f in frameworks["frameworks"]
            if f["framework_info"]["id"] == {"value": framework_id}
        ]
        assert mine, "the framework stays for its failover_timeout"
        if not mine[0]["connected"]:
            break
        assert time.monotonic() < deadline, "still connected after its stream closed"
        time.sleep(0.1)
    uuid = base64.b64encode(b"x").decode()
    answer = api.post(
        SCHEDULER,
        {
            "type": "ACKNOWLEDGE",
            "framework_id": {"value": framework_id},
            "acknowledge": {"agent_id": {"value": "a"}, "task_id": {"value": "t"}, "uuid": uuid},
        },
        Mesos_Stream_Id="whatever",
    )
    assert answer.status == 400 and "disconnected" in answer.text


def test_drain_then_reactivate_an_agent(api: MesosHttp) -> None:
    """Last in this module: it takes the agent out of offers for a while."""
    agent_id = api.operator({"type": "GET_AGENTS"}).json()["get_agents"]["agents"][0]["agent_info"][
        "id"
    ]
    bad = api.operator(
        {"type": "DRAIN_AGENT", "drain_agent": {"agent_id": agent_id, "max_grace_period": 5}}
    )
    assert bad.status == 400 and "nanoseconds" in bad.text
    drain = {"agent_id": agent_id, "max_grace_period": {"nanoseconds": 1_000_000_000}}
    answer = api.operator({"type": "DRAIN_AGENT", "drain_agent": drain})
    assert answer.status == 200, answer.text
    agent = api.operator({"type": "GET_AGENTS"}).json()["get_agents"]["agents"][0]
    assert agent["drain_info"]["state"] in ("DRAINING", "DRAINED")
    answer = api.operator({"type": "REACTIVATE_AGENT", "reactivate_agent": {"agent_id": agent_id}})
    assert answer.status == 200, answer.text
    agent = api.operator({"type": "GET_AGENTS"}).json()["get_agents"]["agents"][0]
    assert agent["active"] is True and "drain_info" not in agent
