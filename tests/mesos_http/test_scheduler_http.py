"""A scheduler speaking Mesos's documented HTTP API with a plain HTTP client: it subscribes,
takes an offer, launches a real task on a real agent and acknowledges its updates."""

from __future__ import annotations

from .mesos_http_client import (
    SCHEDULER,
    MesosHttp,
    acknowledged_update,
    call,
    subscribe,
)


def test_subscribe_accept_launch_and_acknowledge(api: MesosHttp) -> None:
    stream = subscribe(api, "http-scheduler", capabilities=[{"type": "MULTI_ROLE"}])
    try:
        assert stream.headers["content-type"].startswith("application/json")
        assert stream.headers["mesos-stream-id"]
        subscribed = stream.next()
        assert subscribed["type"] == "SUBSCRIBED"
        framework_id = subscribed["subscribed"]["framework_id"]["value"]
        assert subscribed["subscribed"]["heartbeat_interval_seconds"] > 0
        assert subscribed["subscribed"]["master_info"]["address"]["port"] > 0

        offer = stream.until("OFFERS")["offers"]["offers"][0]
        assert set(offer["id"]) == {"value"} and set(offer["agent_id"]) == {"value"}
        assert offer["framework_id"] == {"value": framework_id}
        cpus = next(r for r in offer["resources"] if r["name"] == "cpus")
        assert cpus["type"] == "SCALAR" and cpus["scalar"]["value"] > 0

        task = {
            "name": "hello",
            "task_id": {"value": "hello-1"},
            "agent_id": offer["agent_id"],
            "resources": [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}},
            ],
            "command": {
                "value": "echo hello from $GREETING && sleep 0.5",
                "environment": {"variables": [{"name": "GREETING", "value": "mesos-http"}]},
            },
        }
        accepted = call(
            api,
            stream,
            framework_id,
            {
                "type": "ACCEPT",
                "accept": {
                    "offer_ids": [offer["id"]],
                    "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}],
                    "filters": {"refuse_seconds": 1},
                },
            },
        )
        assert accepted.status == 202, accepted.text
        assert accepted.body == b""

        states = []
        while not states or states[-1] not in ("TASK_FINISHED", "TASK_FAILED", "TASK_ERROR"):
            status = acknowledged_update(api, stream, framework_id)
            assert status["task_id"] == {"value": "hello-1"}
            assert status["source"] == "SOURCE_AGENT" and status["uuid"]
            states.append(status["state"])
        assert "TASK_RUNNING" in states and states[-1] == "TASK_FINISHED", states

        # The operator API sees the same task, finished, with Mesos's names.
        tasks = api.operator({"type": "GET_TASKS"}).json()["get_tasks"]
        done = [t for t in tasks["completed_tasks"] if t["task_id"] == {"value": "hello-1"}]
        assert done and done[0]["state"] == "TASK_FINISHED"
        assert done[0]["statuses"][-1]["state"] == "TASK_FINISHED"

        asked = {"tasks": [{"task_id": {"value": "hello-1"}, "agent_id": offer["agent_id"]}]}
        reconciled = call(api, stream, framework_id, {"type": "RECONCILE", "reconcile": asked})
        assert reconciled.status == 202, reconciled.text
        update = stream.until("UPDATE")["update"]["status"]
        assert update["task_id"] == {"value": "hello-1"}
        assert update["reason"] == "REASON_RECONCILIATION"

        for kind in ("SUPPRESS", "REVIVE"):
            assert call(api, stream, framework_id, {"type": kind}).status == 202

        torn = call(api, stream, framework_id, {"type": "TEARDOWN"})
        assert torn.status == 202, torn.text
        frameworks = api.operator({"type": "GET_FRAMEWORKS"}).json()["get_frameworks"]
        ids = [f["framework_info"]["id"]["value"] for f in frameworks["frameworks"]]
        assert framework_id not in ids
    finally:
        stream.close()


def test_decline_and_kill(api: MesosHttp) -> None:
    stream = subscribe(api, "http-decliner")
    try:
        framework_id = stream.next()["subscribed"]["framework_id"]["value"]
        offer = stream.until("OFFERS")["offers"]["offers"][0]
        declined = call(
            api,
            stream,
            framework_id,
            {
                "type": "DECLINE",
                "decline": {"offer_ids": [offer["id"]], "filters": {"refuse_seconds": 0}},
            },
        )
        assert declined.status == 202, declined.text
        offer = stream.until("OFFERS")["offers"]["offers"][0]
        task = {
            "name": "sleeper",
            "task_id": {"value": "sleeper-1"},
            "agent_id": offer["agent_id"],
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}],
            "command": {"shell": False, "value": "sleep", "arguments": ["sleep", "60"]},
        }
        launch = {"type": "LAUNCH", "launch": {"task_infos": [task]}}
        accept = {"offer_ids": [offer["id"]], "operations": [launch]}
        assert call(api, stream, framework_id, {"type": "ACCEPT", "accept": accept}).status == 202
        while acknowledged_update(api, stream, framework_id)["state"] != "TASK_RUNNING":
            pass
        kill = {"task_id": {"value": "sleeper-1"}, "agent_id": offer["agent_id"]}
        assert call(api, stream, framework_id, {"type": "KILL", "kill": kill}).status == 202
        while (state := acknowledged_update(api, stream, framework_id)["state"]) != "TASK_KILLED":
            assert state in ("TASK_RUNNING", "TASK_KILLING"), state
    finally:
        stream.close()


def _framework_ids(api: MesosHttp) -> set[str]:
    frameworks = api.operator({"type": "GET_FRAMEWORKS"}).json()["get_frameworks"]["frameworks"]
    return {f["framework_info"]["id"]["value"] for f in frameworks}


def test_bad_calls_are_400_and_change_nothing(api: MesosHttp) -> None:
    before = _framework_ids(api)
    unknown = api.post(SCHEDULER, {"type": "LAUNCH_EVERYTHING"})
    assert unknown.status == 400 and "unknown call type 'LAUNCH_EVERYTHING'" in unknown.text
    message = api.post(SCHEDULER, {"type": "MESSAGE"})
    assert message.status == 501 and "MESSAGE is not available" in message.text
    malformed = api.post(SCHEDULER, b'{"type": "SUBSCRIBE", ')
    assert malformed.status == 400 and "not JSON" in malformed.text
    nameless = api.post(SCHEDULER, {"type": "SUBSCRIBE", "subscribe": {"framework_info": {}}})
    assert nameless.status == 400 and "name" in nameless.text
    no_stream = api.post(SCHEDULER, {"type": "DECLINE", "framework_id": {"value": "f"}})
    assert no_stream.status == 400 and "Mesos-Stream-Id" in no_stream.text
    unsupported = api.post(SCHEDULER, b"x", Content_Type="text/plain")
    assert unsupported.status == 415 and "Content-Type" in unsupported.text
    assert _framework_ids(api) <= before  # none registered (an earlier test's may go)


def test_a_wrong_stream_id_is_refused(api: MesosHttp) -> None:
    stream = subscribe(api, "http-stream-check")
    try:
        framework_id = stream.next()["subscribed"]["framework_id"]["value"]
        answer = api.post(
            SCHEDULER,
            {"framework_id": {"value": framework_id}, "type": "REVIVE"},
            Mesos_Stream_Id="not-the-stream",
        )
        assert answer.status == 400 and "stream_id" in answer.text
        assert call(api, stream, framework_id, {"type": "TEARDOWN"}).status == 202
    finally:
        stream.close()
