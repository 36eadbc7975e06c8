"""The dashboard's HTTP door refuses what it cannot take with a clear status and message,
and changes nothing (plain HTTP against a real master, no browser)."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from mesospy.cluster import LocalCluster

from .conftest import dashboard_cluster, dashboard_url


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with dashboard_cluster(tmp_path_factory, agents=1) as c:
        yield c


def _session(cluster: LocalCluster) -> tuple[str, str]:
    with urllib.request.urlopen(dashboard_url(cluster) + "api/session") as answer:
        cookie = answer.headers["Set-Cookie"].split(";")[0]
        return cookie, json.loads(answer.read())["csrf_token"]


def _refusal(request: urllib.request.Request | str) -> tuple[int, str]:
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    return refused.value.code, json.loads(refused.value.read())["error"]


def _post(cluster: LocalCluster, path: str, body: object) -> urllib.request.Request:
    cookie, token = _session(cluster)
    return urllib.request.Request(
        dashboard_url(cluster) + path,
        data=json.dumps(body).encode(),
        headers={"Cookie": cookie, "X-CSRF-Token": token, "Content-Type": "application/json"},
        method="POST",
    )


def test_unknown_paths_and_methods(cluster: LocalCluster) -> None:
    assert _refusal(dashboard_url(cluster) + "api/nothing") == (
        404,
        "no such API path /api/nothing",
    )
    assert _refusal(dashboard_url(cluster) + "api/agents/drain")[0] == 405
    assert _refusal(dashboard_url(cluster) + "static/..%2F..%2Fapp.py")[0] == 404
    assert _refusal(dashboard_url(cluster) + "etc/passwd")[0] == 404


def test_bad_filters_are_refused_with_the_reason(cluster: LocalCluster) -> None:
    code, message = _refusal(dashboard_url(cluster) + "api/tasks?state=SLEEPING")
    assert code == 400 and "unknown task state 'SLEEPING'" in message
    code, message = _refusal(dashboard_url(cluster) + "api/tasks?limit=many")
    assert code == 400 and "limit must be a whole number" in message


def test_actions_on_unknown_objects_answer_the_handlers_message(cluster: LocalCluster) -> None:
    code, message = _refusal(_post(cluster, "api/agents/drain", {"agent_id": "no-such-agent"}))
    assert code == 404 and "no-such-agent" in message
    code, message = _refusal(_post(cluster, "api/frameworks/teardown", {"framework_id": "nope"}))
    assert code == 404 and "unknown to the master" in message
    code, message = _refusal(
        _post(cluster, "api/agents/drain", {"agent_id": "x", "max_grace_period_seconds": "-1"})
    )
    assert code == 400 and "max_grace_period_seconds" in message
    code, message = _refusal(_post(cluster, "api/weights", {"role": "*", "weight": "heavy"}))
    assert code == 400 and "weight must be a number" in message
    code, message = _refusal(_post(cluster, "api/weights", {"role": "*", "weight": "-1"}))
    assert code == 400 and "must be a finite number > 0" in message


def test_jobs_and_apps_without_their_framework_say_how_to_start_it(
    cluster: LocalCluster,
) -> None:
    code, message = _refusal(dashboard_url(cluster) + "api/batch/jobs")
    assert code == 404 and "`mesospy batch serve`" in message
    code, message = _refusal(_post(cluster, "api/service/rollback", {"app_id": "web"}))
    assert code == 404 and "no mesospy-service framework" in message
    code, message = _refusal(_post(cluster, "api/service/scale", {"app_id": "w", "instances": "x"}))
    assert code == 400 and "instances must be a whole number" in message
    code, message = _refusal(_post(cluster, "api/batch/suspend", {"job": "j", "suspended": "?"}))
    assert code == 400 and "suspended must be true or false" in message


def test_a_cross_origin_post_is_refused(cluster: LocalCluster) -> None:
    request = _post(cluster, "api/agents/deactivate", {"agent_id": "x"})
    request.add_header("Origin", "http://evil.example")
    code, message = _refusal(request)
    assert code == 403 and "cross-origin" in message


def test_malformed_and_oversized_requests(cluster: LocalCluster) -> None:
    port = int(dashboard_url(cluster).rstrip("/").rsplit(":", 1)[1])

    def raw(data: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(data)
            return sock.recv(4096)

    def refusal(data: bytes) -> tuple[bytes, str]:
        head, _, body = raw(data).partition(b"\r\n\r\n")
        assert b"X-Frame-Options: DENY" in head  # the dashboard's headers, even on refusals
        return head.split(b" ")[1], json.loads(body)["error"]

    assert refusal(b"NONSENSE\r\n\r\n")[0] == b"400"
    big = b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n"
    assert refusal(big) == (b"413", "the body of 999999999 bytes is over 65536")
    long_header = b"GET / HTTP/1.1\r\n" + b"X-Long: " + b"a" * 20_000 + b"\r\n\r\n"
    assert refusal(long_header) == (b"431", "request headers are over 16384 bytes")
    assert all(a.active for a in cluster.state().agents)
