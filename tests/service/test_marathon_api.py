"""The Marathon API's status codes and error bodies, spoken with a plain HTTP client to a
real cluster: 404 for an unknown app, 422 with the invalid fields' paths, 409 for an app
locked by a deployment (and ``?force=true``), 401 without credentials where they are
required. A refused request changes nothing.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import socket
import ssl
import urllib.error
import urllib.request
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from frameworks.service.marathon_api import LIMITS, MarathonApi, marathon_error
from frameworks.service.marathon_app import convert
from frameworks.service.marathon_json import definition
from frameworks.service.scheduler import ServiceScheduler
from frameworks.service.spec import parse_spec
from frameworks.service.store import Store
from mesospy.cluster import free_port
from mesospy.http import HttpServer
from mesospy.security.certs import init_certificates
from mesospy.testing import LocalCluster

from .support import wait_until


def call(*args: Any, **kwargs: Any) -> tuple[int, Any]:
    return _call(*args, **kwargs)


def _call(
    url: str,
    method: str,
    path: str,
    body: Any = None,
    auth: tuple[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as answer:
            raw = answer.read()
            status = answer.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    text = raw.decode()
    try:
        return status, json.loads(text) if text else None
    except ValueError:
        return status, text


@pytest.fixture(scope="module")
def url(marathon_cluster: LocalCluster) -> str:
    return str(marathon_cluster.marathon_url)  # type: ignore[attr-defined]


SLEEPER = {"id": "/sleeper", "cmd": "exec sleep 600", "cpus": 0.1, "mem": 16, "instances": 1}


def test_ping_info_and_leader(url: str) -> None:
    assert call(url, "GET", "/ping") == (200, "pong")
    status, info = call(url, "GET", "/v2/info")
    assert status == 200 and info["name"] == "mesospy-service" and info["elected"] is True
    assert call(url, "GET", "/v2/leader") == (200, {"leader": url.removeprefix("http://")})


def test_unknown_app_is_404_with_marathons_message(url: str) -> None:
    for method, path in [
        ("GET", "/v2/apps/nope"),
        ("DELETE", "/v2/apps/nope"),
        ("POST", "/v2/apps/nope/restart"),
        ("GET", "/v2/apps/nope/tasks"),
        ("GET", "/v2/apps/nope/versions"),
    ]:
        assert call(url, method, path) == (404, {"message": "App '/nope' does not exist"}), path
    status, body = call(url, "DELETE", "/v2/deployments/0123abcd")
    assert status == 404 and "0123abcd" in body["message"]


def test_an_invalid_app_is_422_with_paths_and_nothing_is_deployed(url: str) -> None:
    bad = {**SLEEPER, "id": "/bad", "cpus": -1, "mem": "lots", "residency": {}}
    status, body = call(url, "POST", "/v2/apps", bad)
    assert status == 422 and body["message"] == "Object is not valid"
    paths = {d["path"]: d["errors"] for d in body["details"]}
    assert "/cpus" in paths and "/mem" in paths and "/residency" in paths
    assert all(errors and all(isinstance(e, str) for e in errors) for errors in paths.values())
    assert call(url, "GET", "/v2/apps/bad")[0] == 404
    status, body = call(url, "POST", "/v2/apps", ["not", "an", "app"])
    assert status == 422
    request = urllib.request.Request(url + "/v2/apps", data=b"{not json", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400
    assert "message" in json.loads(refused.value.read())
    assert call(url, "GET", "/v2/apps")[1] == {"apps": []}


def test_create_conflict_lock_force_and_deployment_rollback(url: str) -> None:
    status, app = call(url, "POST", "/v2/apps", SLEEPER)
    assert status == 201 and app["id"] == "/sleeper" and len(app["deployments"]) == 1
    status, body = call(url, "POST", "/v2/apps", SLEEPER)
    assert status == 409 and body["message"] == "An app with id [/sleeper] already exists."

    wait_until("the deployment to end", lambda: call(url, "GET", "/v2/deployments")[1] == [])

    checked = {
        "cmd": "exec sleep 600",
        "healthChecks": [
            {
                "protocol": "COMMAND",
                "command": {"value": "false"},
                "intervalSeconds": 1,
                "gracePeriodSeconds": 600,
            }
        ],
    }
    status, body = call(url, "PUT", "/v2/apps/sleeper", checked)
    assert status == 200 and body["deploymentId"]
    update = body["deploymentId"]
    status, deployments = call(url, "GET", "/v2/deployments")
    assert [d["id"] for d in deployments] == [update]
    assert deployments[0]["affectedApps"] == ["/sleeper"]

    status, body = call(url, "PUT", "/v2/apps/sleeper", {"instances": 3})
    assert status == 409 and body["deployments"] == [{"id": update}]
    assert call(url, "GET", "/v2/apps/sleeper")[1]["app"]["instances"] == 1

    status, body = call(url, "DELETE", f"/v2/deployments/{update}")
    assert status == 200 and body["deploymentId"] and body["deploymentId"] != update
    status, got = call(url, "GET", "/v2/apps/sleeper")
    assert got["app"]["healthChecks"] == [], "the rollback is back to the version without it"

    status, body = call(url, "PUT", "/v2/apps/sleeper?force=true", {"instances": 2})
    assert status == 200
    assert call(url, "GET", "/v2/apps/sleeper")[1]["app"]["instances"] == 2
    status, body = call(url, "DELETE", f"/v2/deployments/{body['deploymentId']}?force=true")
    assert status == 202
    assert call(url, "GET", "/v2/deployments")[1] == []

    status, body = call(url, "PATCH", "/v2/apps/sleeper", {"cpus": -1, "labels": {"a": "b"}})
    assert status == 422 and [d["path"] for d in body["details"]] == ["/cpus"]
    before = call(url, "GET", "/v2/apps/sleeper")[1]["app"]
    assert before["cpus"] == 0.1 and before["labels"] == {}
    status, body = call(url, "PATCH", "/v2/apps/sleeper", {"labels": {"a": "b"}})
    assert status == 200 and body["deploymentId"]
    after = call(url, "GET", "/v2/apps/sleeper")[1]["app"]
    assert (
        after["labels"] == {"a": "b"} and after["instances"] == 2 and after["cmd"] == SLEEPER["cmd"]
    )
    versions = call(url, "GET", "/v2/apps/sleeper/versions")[1]["versions"]
    assert versions[0] == after["version"] and len(versions) >= 4
    status, old = call(url, "GET", f"/v2/apps/sleeper/versions/{versions[-1]}")
    assert status == 200 and old["instances"] == 1 and old["labels"] == {}

    status, body = call(url, "POST", "/v2/tasks/delete", {"ids": ["no-such-task"]})
    assert status == 404
    assert call(url, "POST", "/v2/tasks/delete", {"ids": "x"})[0] == 422
    status, body = call(url, "DELETE", "/v2/apps/sleeper?force=true")
    assert status == 200 and body["deploymentId"]
    wait_until("the app to go", lambda: call(url, "GET", "/v2/apps/sleeper")[0] == 404)


def test_groups_list_the_apps_by_folder(url: str) -> None:
    group = {
        "id": "/shop",
        "apps": [
            {**SLEEPER, "id": "db"},
            {**SLEEPER, "id": "web", "dependencies": ["/shop/db"]},
        ],
    }
    status, body = call(url, "POST", "/v2/groups", group)
    assert status == 201 and body["deploymentId"]
    status, root = call(url, "GET", "/v2/groups")
    assert status == 200 and root["id"] == "/"
    [shop] = root["groups"]
    assert shop["id"] == "/shop" and {a["id"] for a in shop["apps"]} == {"/shop/db", "/shop/web"}
    assert call(url, "GET", "/v2/groups/shop")[1]["id"] == "/shop"
    assert call(url, "GET", "/v2/groups/nope")[0] == 404
    bad = {"id": "/broken", "apps": [{**SLEEPER, "id": "a"}, {**SLEEPER, "id": "b", "cpus": -2}]}
    status, body = call(url, "POST", "/v2/groups", bad)
    assert status == 422 and body["details"][0]["path"].startswith("/apps(1)")
    assert call(url, "GET", "/v2/apps/broken/a")[0] == 404, "nothing of a refused group"
    status, body = call(url, "DELETE", "/v2/groups/shop?force=true")
    assert status == 200 and body["deploymentId"]
    wait_until("the group's apps to go", lambda: call(url, "GET", "/v2/groups/shop")[0] == 404)
    assert call(url, "DELETE", "/v2/groups/shop")[0] == 404


def test_queue_embed_and_task_filters(url: str) -> None:
    huge = {**SLEEPER, "id": "/huge", "cpus": 64}
    assert call(url, "POST", "/v2/apps", huge)[0] == 201
    assert call(url, "POST", "/v2/apps", {**SLEEPER, "id": "/small"})[0] == 201

    def queued() -> list[dict[str, Any]]:
        return list(call(url, "GET", "/v2/queue")[1]["queue"])

    wait_until(
        "the huge app to wait for an offer",
        lambda: (
            bool(queued()) and all(q["processedOffersSummary"]["unplacedReason"] for q in queued())
        ),
    )
    [waiting] = queued()
    assert waiting["app"]["id"] == "/huge" and waiting["count"] == 1
    assert "cpus" in waiting["processedOffersSummary"]["unplacedReason"]
    assert call(url, "DELETE", "/v2/queue/huge/delay")[0] == 204
    assert call(url, "DELETE", "/v2/queue/nope/delay")[0] == 404

    wait_until(
        "the small app's task to run",
        lambda: (
            [t["appId"] for t in call(url, "GET", "/v2/tasks?status=running")[1]["tasks"]]
            == ["/small"]
        ),
    )
    assert call(url, "GET", "/v2/tasks?status=staging")[1] == {"tasks": []}
    status, listed = call(url, "GET", "/v2/apps?embed=apps.tasks&embed=apps.deployments")
    assert status == 200
    by_id = {a["id"]: a for a in listed["apps"]}
    assert [t["state"] for t in by_id["/small"]["tasks"]] == ["TASK_RUNNING"]
    assert by_id["/huge"]["tasks"] == [] and len(by_id["/huge"]["deployments"]) == 1
    assert "tasks" not in call(url, "GET", "/v2/apps")[1]["apps"][0]
    assert [a["id"] for a in call(url, "GET", "/v2/apps?id=/sma")[1]["apps"]] == ["/small"]
    # PUT /v2/apps: several updates, all checked first (one refused: none made).
    refused = [{"id": "/small", "labels": {"x": "y"}}, {"id": "/huge", "mem": -1}]
    assert call(url, "PUT", "/v2/apps?force=true", refused)[0] == 422
    assert call(url, "GET", "/v2/apps/small")[1]["app"]["labels"] == {}
    both = [{"id": "/small", "labels": {"x": "y"}}, {"id": "/huge", "instances": 0}]
    status, body = call(url, "PUT", "/v2/apps?force=true", both)
    assert status == 200 and body["deploymentId"]
    assert call(url, "GET", "/v2/apps/small")[1]["app"]["labels"] == {"x": "y"}
    assert call(url, "GET", "/v2/apps/huge")[1]["app"]["instances"] == 0
    for app_id in ("huge", "small"):
        assert call(url, "DELETE", f"/v2/apps/{app_id}?force=true")[0] == 200
    wait_until("the apps to go", lambda: call(url, "GET", "/v2/apps")[1] == {"apps": []})


def test_credentials_are_required_when_the_framework_requires_them(
    marathon_cluster: LocalCluster, tmp_path: Path
) -> None:
    """And with the gRPC API's certificate, the Marathon API is HTTPS."""
    credentials = tmp_path / "credentials"
    credentials.write_text("ops s3cret\n")
    issued = init_certificates(tmp_path / "tls")
    port = free_port()
    first = marathon_cluster.framework_daemons["service"]
    daemon = marathon_cluster.add_framework(
        "service",
        wait=False,
        state=str(tmp_path / "state"),
        extra_args=[
            "--marathon-api-port",
            str(port),
            "--credentials",
            str(credentials),
            "--authenticate",
            "--tls-cert",
            str(issued.server_cert),
            "--tls-key",
            str(issued.server_key),
        ],
    )
    secured = f"https://127.0.0.1:{port}"
    context = ssl.create_default_context(cafile=str(issued.ca_cert))
    call = partial(_call, context=context)
    try:
        wait_until("the secured API", lambda: _answers(secured, context))
        with pytest.raises((OSError, http.client.HTTPException)):  # plain HTTP: refused
            _call(secured.replace("https", "http"), "GET", "/ping")
        assert call(secured, "GET", "/ping") == (200, "pong"), "health stays open"
        status, body = call(secured, "GET", "/v2/apps")
        assert status == 401 and "authenticate" in body["message"]
        assert call(secured, "GET", "/v2/apps", auth=("ops", "wrong"))[0] == 401
        assert call(secured, "POST", "/v2/apps", SLEEPER, auth=("ops", "wrong"))[0] == 401
        assert call(secured, "GET", "/v2/apps", auth=("ops", "s3cret")) == (200, {"apps": []})
    finally:
        daemon.stop()
        marathon_cluster.framework_daemons["service"] = first


def _answers(url: str, context: ssl.SSLContext) -> bool:
    try:
        return call(url, "GET", "/ping", context=context)[0] == 200
    except OSError:
        return False


def test_a_definition_reads_back_to_the_same_spec() -> None:
    spec = convert(
        {
            "id": "/prod/web",
            "cmd": "exec serve $PORT0",
            "instances": 3,
            "portDefinitions": [{"port": 0, "name": "http"}],
            "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/health", "portIndex": 0}],
            "constraints": [["@hostname", "UNIQUE"]],
            "env": {"A": "1"},
            "labels": {"team": "x"},
            "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.2},
        }
    ).spec
    assert convert(definition(spec)).spec == spec
    native = parse_spec({"id": "api", "cmd": "run", "ports": ["http"]})
    again = convert(definition(native)).spec
    assert (again.cmd, again.ports, again.instances) == (native.cmd, native.ports, 1)


def test_the_event_stream_is_server_sent_events(url: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    stream = http.client.HTTPConnection(host, int(port), timeout=30)
    stream.request("GET", "/v2/events", headers={"Accept": "text/event-stream"})
    answer = stream.getresponse()
    assert answer.status == 200
    assert answer.getheader("Content-Type", "").startswith("text/event-stream")
    try:
        assert _next_event(answer)[0] == "event_stream_attached"
        app = {**SLEEPER, "id": "/evented"}
        assert call(url, "POST", "/v2/apps", app)[0] == 201
        seen: dict[str, dict[str, Any]] = {}
        while not {"api_post_event", "deployment_info", "deployment_success"} <= set(seen):
            kind, data = _next_event(answer)
            assert data["eventType"] == kind and data["timestamp"].endswith("Z")
            seen.setdefault(kind, data)
        assert seen["api_post_event"]["appDefinition"]["id"] == "/evented"
        assert seen["deployment_info"]["plan"]["steps"][0]["actions"][0]["app"] == "/evented"
        never_healthy = {
            "healthChecks": [
                {"protocol": "COMMAND", "command": {"value": "false"}, "gracePeriodSeconds": 600}
            ]
        }
        status, body = call(url, "PUT", "/v2/apps/evented", never_healthy)
        assert status == 200
        assert call(url, "DELETE", f"/v2/deployments/{body['deploymentId']}")[0] == 200
        while "deployment_failed" not in seen:
            kind, data = _next_event(answer)
            seen.setdefault(kind, data)
        assert seen["deployment_failed"]["id"] == body["deploymentId"]
        assert call(url, "DELETE", "/v2/apps/evented?force=true")[0] == 200
        while "app_terminated_event" not in seen:
            kind, data = _next_event(answer)
            seen.setdefault(kind, data)
        assert seen["app_terminated_event"]["appId"] == "/evented"
        assert seen["status_update_event"]["appId"] == "/evented"
    finally:
        stream.close()


def _next_event(answer: http.client.HTTPResponse) -> tuple[str, dict[str, Any]]:
    """The next ``event:``/``data:`` pair of the stream (keep-alive blank lines skipped)."""
    kind = ""
    while True:
        line = answer.readline().decode()
        assert line, "the stream ended"
        if line.startswith("event: "):
            kind = line.removeprefix("event: ").strip()
        elif line.startswith("data: "):
            return kind, json.loads(line.removeprefix("data: "))


def test_malformed_http_is_refused_and_the_server_keeps_serving(url: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    for raw, status in [
        (b"NONSENSE\r\n\r\n", b" 400 "),
        (b"POST /v2/apps HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n", b" 413 "),
        # Chunked bodies are read (a list is not an app: 422); a bad chunk is refused.
        (
            b"POST /v2/apps HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n[]\r\n0\r\n\r\n",
            b" 422 ",
        ),
        (b"POST /v2/apps HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", b" 400 "),
        (b"GET /v2/nothing HTTP/1.1\r\n\r\n", b" 404 "),
        (b"DELETE /v2/info HTTP/1.1\r\n\r\n", b" 405 "),
    ]:
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(raw)
            answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1") and status in answer.split(b"\r\n")[0], raw
        assert b'"message"' in answer
    assert call(url, "GET", "/v2/apps")[0] == 200


def test_head_keeps_the_connection_and_a_gone_client_ends_its_subscription(
    tmp_path: Path,
) -> None:
    """In process, on the shared HTTP server: a HEAD answers no body, so the connection
    serves the next request; closing an event stream drops its listener."""
    scheduler = ServiceScheduler(Store.open(str(tmp_path)), "127.0.0.1:1", clock=lambda: 1.0)

    async def main() -> None:
        api = MarathonApi(scheduler, leader=lambda: "127.0.0.1:1")
        server = HttpServer(api.handle, LIMITS, error=marathon_error)
        port = await server.start("127.0.0.1", 0)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"HEAD /v2/apps HTTP/1.1\r\n\r\nGET /v2/apps HTTP/1.1\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert head.startswith(b"HTTP/1.1 200") and b"Connection: keep-alive" in head
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert head.startswith(b"HTTP/1.1 200"), "the HEAD's answer had a body"
            assert json.loads(await reader.readexactly(len(b'{"apps": []}'))) == {"apps": []}
            writer.close()

            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /v2/events HTTP/1.1\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert b"Transfer-Encoding: chunked" in head
            await asyncio.wait_for(reader.readline(), 10)  # the first chunk's size
            assert b"event_stream_attached" in await asyncio.wait_for(reader.readline(), 10)
            assert scheduler.events.listening == 1
            writer.close()
            async with asyncio.timeout(10):
                while scheduler.events.listening:
                    await asyncio.sleep(0.01)
        finally:
            await server.stop()

    try:
        asyncio.run(main())
    finally:
        scheduler.close()
