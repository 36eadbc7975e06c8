"""The jobs and apps pages: the dashboard calls the batch and service frameworks' own APIs
(found through their FrameworkInfo.endpoint), shows their answers live, and acts
through them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from frameworks.batch.cli import find_batch
from frameworks.batch.v1 import batch_pb2 as bpb
from frameworks.batch.v1 import batch_pb2_grpc
from frameworks.service.client import ServiceClient, find_service
from mesospy.cluster import LocalCluster
from mesospy.security.channels import ClientSecurity, sync_channel

from .conftest import dashboard_cluster, dashboard_url, rows, text_of, wait_until

JOB = """
name: trio
command: sleep 0.3; echo done
instances: 3
resources: {cpus: 0.05, mem: 8}
"""


def _app(release: str) -> str:
    spec = {
        "id": "web",
        "cmd": "sleep 600",
        "instances": 2,
        "cpus": 0.05,
        "mem": 8,
        "env": {"RELEASE": release},
        "killGracePeriodSeconds": 0.5,
    }
    return json.dumps(spec)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with dashboard_cluster(tmp_path_factory, agents=2, frameworks=["batch", "service"]) as c:
        yield c


def _open(browser: webdriver.Chrome, cluster: LocalCluster, page: str) -> None:
    browser.get(dashboard_url(cluster) + page)
    wait_until(browser, lambda: browser.find_element(By.CSS_SELECTOR, "#live.on"), "live events")


def _batch(cluster: LocalCluster) -> batch_pb2_grpc.BatchStub:
    channel = sync_channel(find_batch(cluster.master_address), security=ClientSecurity())
    return batch_pb2_grpc.BatchStub(channel)  # type: ignore[no-untyped-call]


def test_run_now_from_the_page_and_watch_its_instances_finish(
    browser: webdriver.Chrome, cluster: LocalCluster
) -> None:
    batch = _batch(cluster)
    batch.SubmitJob(bpb.SubmitJobRequest(spec=JOB, no_run=True), timeout=15)
    _open(browser, cluster, "#/jobs")
    wait_until(browser, lambda: rows(browser, "#jobs tr[data-job='trio']"), "the job listed")
    assert text_of(browser, "#jobs tr[data-job='trio'] .last-run") == "—"
    browser.get(dashboard_url(cluster) + "#/jobs/trio")
    button = wait_until(
        browser, lambda: browser.find_element(By.CSS_SELECTOR, "#job-props .run-now"), "Run now"
    )
    button.click()
    # The page follows the run (no reload) until its three instances have succeeded.
    wait_until(
        browser,
        lambda: [e.text for e in rows(browser, "#runs .run .instance-state")] == ["SUCCEEDED"] * 3,
        "three instances to succeed",
        60,
    )
    (run,) = batch.ListRuns(bpb.ListRunsRequest(name="trio"), timeout=15).runs
    assert (run.state, run.trigger) == ("SUCCEEDED", "manual")
    shown = browser.find_element(By.CSS_SELECTOR, "#runs .run").get_attribute("data-run")
    assert shown == run.id
    wait_until(browser, lambda: "SUCCEEDED" in text_of(browser, "#runs .run h3"), "the run's state")
    # Suspend from the page: the framework's job is suspended.
    browser.find_element(By.CSS_SELECTOR, "#job-props .suspend").click()
    wait_until(browser, lambda: text_of(browser, "#next-run") == "suspended", "suspended")
    assert batch.GetJob(bpb.GetJobRequest(name="trio"), timeout=15).suspended


def test_roll_an_app_back_from_the_page(browser: webdriver.Chrome, cluster: LocalCluster) -> None:
    with ServiceClient(find_service(cluster.master_address)) as service:
        service.deploy(_app("1"))
        service.deploy(_app("2"))
        _open(browser, cluster, "#/apps/web")
        wait_until(browser, lambda: text_of(browser, "#app-version") == "v2", "v2 deploying")
        wait_until(
            browser,
            lambda: (
                "2 running" in text_of(browser, "#app-instances")
                and {e.text for e in rows(browser, "#instances tbody td:nth-child(2)")} == {"v2"}
            ),
            "two instances of v2",
            60,
        )
        button = browser.find_element(By.CSS_SELECTOR, "#versions tr[data-version='v1'] .rollback")
        button.click()
        browser.switch_to.alert.accept()
        wait_until(
            browser,
            lambda: (
                text_of(browser, "#app-version") == "v1"
                and {e.text for e in rows(browser, "#instances tbody td:nth-child(2)")} == {"v1"}
            ),
            "the instances rolled back to v1",
            60,
        )
        app = service.app("web")
        assert app.version == "v1"
        assert {i.version for i in app.instance_list} == {"v1"}
