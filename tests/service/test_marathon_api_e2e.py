"""The `marathon` client from PyPI drives a whole app lifecycle through the service
framework's Marathon API on a real cluster: create, scale, update, list tasks, restart,
kill tasks (replaced, then scaled down), delete; and it reads the event stream all along.
"""

from __future__ import annotations

import collections
import collections.abc
import contextlib
import threading
from typing import Any

import pytest
import requests
from marathon import MarathonClient
from marathon.exceptions import NotFoundError
from marathon.models import MarathonApp, MarathonHealthCheck

from mesospy.testing import LocalCluster

from .support import wait_until

# marathon 0.13.0 (its last release) encodes nested objects through collections.Iterable,
# which Python 3.10 removed: give it the name back, as its users on Python 3.11 must.
if not hasattr(collections, "Iterable"):
    collections.Iterable = collections.abc.Iterable  # type: ignore[attr-defined]

CMD = "exec python3 -u -m http.server $PORT0 --bind 127.0.0.1"


def _settled(client: MarathonClient, instances: int) -> bool:
    """No deployment left, and ``instances`` tasks, all running and healthy."""
    if client.list_deployments():
        return False
    app = client.get_app("/web", embed_tasks=True)
    running = [t for t in app.tasks if t.state == "TASK_RUNNING"]
    return app.tasks_healthy == instances and len(running) == instances == len(app.tasks)


@pytest.fixture(scope="module")
def client(marathon_cluster: LocalCluster) -> MarathonClient:
    return MarathonClient(marathon_cluster.marathon_url, timeout=10)  # type: ignore[attr-defined]


def test_a_whole_lifecycle_through_the_marathon_client(client: MarathonClient) -> None:
    assert client.ping().strip() in (b"pong", "pong")
    events: list[Any] = []
    # The stream is read as it comes: collect into the list while the test goes on.
    listener = threading.Thread(target=_collect, args=(client, events), daemon=True)
    listener.start()
    wait_until(
        "the event stream to be attached",
        lambda: any(e.event_type == "event_stream_attached" for e in events),
    )

    check = MarathonHealthCheck(
        protocol="MESOS_HTTP",
        path="/",
        port_index=0,
        interval_seconds=1,
        grace_period_seconds=30,
        timeout_seconds=5,
        max_consecutive_failures=5,
    )
    created = client.create_app(
        "/web",
        MarathonApp(cmd=CMD, instances=1, cpus=0.1, mem=32, health_checks=[check]),
    )
    assert created.id == "/web" and created.deployments, "201 with the app and its deployment"
    wait_until("the app to run 1 healthy task", lambda: _settled(client, 1), 90)

    client.scale_app("/web", instances=2)
    wait_until("2 healthy tasks", lambda: _settled(client, 2), 90)
    first_version = client.get_app("/web").version

    app = client.get_app("/web")
    app.env = {"GREETING": "hello"}
    answer = client.update_app("/web", app)
    assert answer["deploymentId"]
    wait_until("the update to roll out", lambda: _settled(client, 2), 90)
    updated = client.get_app("/web")
    assert updated.env == {"GREETING": "hello"} and updated.version != first_version
    assert len(client.list_versions("/web")) >= 3

    tasks = client.list_tasks("/web")
    assert len(tasks) == 2 and {t.state for t in tasks} == {"TASK_RUNNING"}
    assert all(t.host == "127.0.0.1" and len(t.ports) == 1 for t in tasks)
    assert {t.id for t in tasks} <= {t.id for t in client.list_tasks()}

    before = {t.id for t in tasks}
    client.restart_app("/web")
    wait_until("the restart", lambda: _settled(client, 2), 90)
    restarted = {t.id for t in client.list_tasks("/web")}
    assert not restarted & before, "a restart replaces every task"

    killed = sorted(restarted)[0]
    assert client.kill_given_tasks([killed])
    wait_until(
        "the killed task to be replaced",
        lambda: killed not in {t.id for t in client.list_tasks("/web")} and _settled(client, 2),
        90,
    )
    victim = client.list_tasks("/web")[0].id
    client.kill_task("/web", victim, scale=True)
    wait_until("the scale down to one task", lambda: _settled(client, 1), 90)
    assert client.get_app("/web").instances == 1

    client.delete_app("/web")
    wait_until("the app to be gone", lambda: _gone(client), 60)

    wait_until(
        "the app's events",
        lambda: (
            {
                "api_post_event",
                "deployment_info",
                "deployment_success",
                "status_update_event",
                "health_status_changed_event",
                "app_terminated_event",
            }
            <= {e.event_type for e in events}
        ),
        10,
    )
    kinds = {e.event_type for e in events}
    assert "deployment_failed" not in kinds
    running = [e for e in events if e.event_type == "status_update_event"]
    assert any(e.task_status == "TASK_RUNNING" and e.app_id == "/web" for e in running)
    assert any(e.task_status == "TASK_KILLED" and e.task_id == killed for e in running)


def _collect(client: MarathonClient, events: list[Any]) -> None:
    # The stream ends when the cluster stops at the end of the module.
    with contextlib.suppress(requests.exceptions.RequestException):
        for event in client.event_stream():
            events.append(event)


def _gone(client: MarathonClient) -> bool:
    try:
        client.get_app("/web")
    except NotFoundError:
        return True
    return False
