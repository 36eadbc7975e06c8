"""The operator API at /api/v1 and the master's older endpoints, over plain HTTP."""

from __future__ import annotations

from .mesos_http_client import EventStream, MesosHttp


def test_get_health_answers_in_mesos_shape(api: MesosHttp) -> None:
    answer = api.operator({"type": "GET_HEALTH"})
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == {"type": "GET_HEALTH", "get_health": {"healthy": True}}


def test_get_version_and_flags(api: MesosHttp) -> None:
    version = api.operator({"type": "GET_VERSION"}).json()
    assert version["type"] == "GET_VERSION"
    assert version["get_version"]["version_info"]["version"]
    flags = api.operator({"type": "GET_FLAGS"}).json()["get_flags"]["flags"]
    by_name = {f["name"]: f["value"] for f in flags}
    assert by_name["http-port"] == str(api.port)
    assert by_name["allocation-interval"] == "0.2"


def test_get_state_names_agents_with_mesos_keys(api: MesosHttp) -> None:
    doc = api.operator({"type": "GET_STATE"}).json()
    assert doc["type"] == "GET_STATE"
    state = doc["get_state"]
    assert set(state) >= {"get_tasks", "get_frameworks", "get_agents", "get_executors"}
    agents = state["get_agents"]["agents"]
    assert len(agents) == 1
    agent = agents[0]
    assert agent["active"] is True
    assert set(agent["agent_info"]["id"]) == {"value"}
    cpus = next(r for r in agent["total_resources"] if r["name"] == "cpus")
    assert cpus == {"name": "cpus", "type": "SCALAR", "scalar": {"value": 4.0}, "role": "*"}
    ports = next(r for r in agent["total_resources"] if r["name"] == "ports")
    assert ports["type"] == "RANGES"
    assert ports["ranges"] == {"range": [{"begin": 31000, "end": 31999}]}
    assert agent["registered_time"]["nanoseconds"] > 0


def test_get_agents_frameworks_tasks_roles_metrics(api: MesosHttp) -> None:
    agents = api.operator({"type": "GET_AGENTS"}).json()["get_agents"]
    assert len(agents["agents"]) == 1
    frameworks = api.operator({"type": "GET_FRAMEWORKS"}).json()["get_frameworks"]
    assert "frameworks" in frameworks and "completed_frameworks" in frameworks
    tasks = api.operator({"type": "GET_TASKS"}).json()["get_tasks"]
    assert set(tasks) >= {"tasks", "completed_tasks"}
    roles = api.operator({"type": "GET_ROLES"}).json()
    assert roles["type"] == "GET_ROLES" and "roles" in roles["get_roles"]
    metrics = api.operator({"type": "GET_METRICS"}).json()["get_metrics"]["metrics"]
    assert metrics and all(set(m) == {"name", "value"} for m in metrics)


def test_unknown_call_type_is_400_with_the_known_ones(api: MesosHttp) -> None:
    answer = api.operator({"type": "GET_EVERYTHING"})
    assert answer.status == 400
    assert "unknown call type 'GET_EVERYTHING'" in answer.text
    assert "GET_STATE" in answer.text


def test_mesos_calls_without_a_counterpart_are_501_and_say_what_to_use(api: MesosHttp) -> None:
    answer = api.operator({"type": "START_MAINTENANCE", "start_maintenance": {"machines": []}})
    assert answer.status == 501
    assert "START_MAINTENANCE is not available" in answer.text and "DRAIN_AGENT" in answer.text


def test_malformed_json_is_400(api: MesosHttp) -> None:
    answer = api.post("/api/v1", b'{"type": "GET_STATE"')
    assert answer.status == 400
    assert "not JSON" in answer.text
    answer = api.post("/api/v1", b"[1, 2]")
    assert answer.status == 400 and "JSON object" in answer.text


def test_a_call_missing_its_argument_is_400_and_changes_nothing(api: MesosHttp) -> None:
    before = api.operator({"type": "GET_AGENTS"}).json()
    answer = api.operator({"type": "DEACTIVATE_AGENT", "deactivate_agent": {}})
    assert answer.status == 400
    assert "agent_id" in answer.text
    assert api.operator({"type": "GET_AGENTS"}).json() == before


def test_an_unknown_agent_is_404(api: MesosHttp) -> None:
    answer = api.operator(
        {"type": "DEACTIVATE_AGENT", "deactivate_agent": {"agent_id": {"value": "nope"}}}
    )
    assert answer.status in (400, 404), answer.text
    assert "nope" in answer.text


def test_formats_other_than_json_are_415_and_406(api: MesosHttp) -> None:
    protobuf = api.post("/api/v1", b"\x08\x01", Content_Type="application/x-protobuf")
    assert protobuf.status == 415 and "application/json" in protobuf.text
    accept = api.post("/api/v1", {"type": "GET_HEALTH"}, Accept="application/x-protobuf")
    assert accept.status == 406 and "application/json" in accept.text


def test_get_only_is_405_and_unknown_paths_404(api: MesosHttp) -> None:
    assert api.request("GET", "/api/v1").status == 405
    assert api.request("GET", "/no/such/thing").status == 404


def test_subscribe_streams_the_state_then_heartbeats(api: MesosHttp) -> None:
    status, stream = api.stream(
        "/api/v1", {"type": "SUBSCRIBE", "subscribe": {"heartbeat_interval_seconds": 0.2}}
    )
    assert status == 200 and isinstance(stream, EventStream), stream
    try:
        first = stream.next()
        assert first["type"] == "SUBSCRIBED"
        assert len(first["subscribed"]["get_state"]["get_agents"]["agents"]) == 1
        assert stream.until("HEARTBEAT", timeout=10)["type"] == "HEARTBEAT"
    finally:
        stream.close()


def test_state_json_has_mesos_keys(api: MesosHttp) -> None:
    for path in ("/master/state", "/state.json", "/master/state.json"):
        answer = api.request("GET", path)
        assert answer.status == 200, path
        doc = answer.json()
        assert set(doc) >= {"frameworks", "slaves", "leader", "activated_slaves", "flags"}
        assert doc["activated_slaves"] == 1
        slave = doc["slaves"][0]
        assert slave["resources"]["cpus"] == 4.0
        assert slave["resources"]["ports"] == "[31000-31999]"
        assert doc["leader"] == doc["pid"]


def test_metrics_snapshot_and_redirect(api: MesosHttp) -> None:
    api.operator({"type": "GET_ROLES"})
    metrics = api.request("GET", "/metrics/snapshot").json()
    assert isinstance(metrics, dict) and metrics
    assert all(isinstance(v, int | float) for v in metrics.values())
    # HTTP calls count as their gRPC twins do.
    key = 'mesospy_master_calls_total{api="operator",result="OK",type="GetRoles"}'
    assert metrics[key] >= 1
    redirect = api.request("GET", "/master/redirect")
    assert redirect.status == 307
    assert redirect.headers["location"] == f"http://127.0.0.1:{api.port}"


def test_reserve_and_unreserve_resources_in_mesos_shape(api: MesosHttp) -> None:
    agent = api.operator({"type": "GET_AGENTS"}).json()["get_agents"]["agents"][0]
    agent_id = agent["agent_info"]["id"]
    cpus = {
        "name": "cpus",
        "type": "SCALAR",
        "scalar": {"value": 1},
        "reservations": [{"type": "DYNAMIC", "role": "eng", "principal": ""}],
    }
    answer = api.operator(
        {
            "type": "RESERVE_RESOURCES",
            "reserve_resources": {"agent_id": agent_id, "resources": [cpus]},
        }
    )
    assert answer.status == 200, answer.text
    (after,) = api.operator({"type": "GET_AGENTS"}).json()["get_agents"]["agents"]
    reserved = [r for r in after["total_resources"] if r.get("reservations")]
    assert [(r["name"], r["scalar"], r["reservations"][0]["role"]) for r in reserved] == [
        ("cpus", {"value": 1.0}, "eng")
    ]
    unreserve = {"agent_id": agent_id, "resources": [cpus]}
    assert (
        api.operator({"type": "UNRESERVE_RESOURCES", "unreserve_resources": unreserve}).status
        == 200
    )
    again = api.operator({"type": "UNRESERVE_RESOURCES", "unreserve_resources": unreserve})
    assert again.status == 409 and "not reserved like that" in again.text, again.text
    assert api.operator({"type": "GET_AGENTS"}).json()["get_agents"]["agents"][0] == agent
