"""The dashboard of a real LocalCluster in a real (headless) browser: what it shows matches
the operator API, it follows changes live, and its buttons act on the cluster."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from mesospy.client import OperatorClient
from mesospy.cluster import LocalCluster
from mesospy.resources import Resources
from mesospy.testing import FrameworkHarness
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import operator_pb2 as opb

from .conftest import dashboard_cluster, dashboard_url, rows, text_of, wait_until

LINES = 60  # the log task prints one line each 0.25 s


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with dashboard_cluster(tmp_path_factory, agents=2) as c:
        yield c


@pytest.fixture(scope="module")
def framework(cluster: LocalCluster) -> Iterator[FrameworkHarness]:
    with FrameworkHarness(cluster.master_address, name="webui-test") as fw:
        yield fw


def _task(task_id: str, shell: str) -> pb.TaskInfo:
    return pb.TaskInfo(
        name=task_id,
        task_id=task_id,
        resources=Resources.parse("cpus:0.1;mem:32").to_proto(),
        command=pb.CommandInfo(shell=shell),
        labels=[pb.Label(key="suite", value="webui")],
    )


def _running(cluster: LocalCluster, task_id: str) -> opb.GetStateResponse:
    return cluster.wait_for(
        lambda s: any(t.task_id == task_id and t.state == pb.TASK_RUNNING for t in s.tasks),
        30,
        f"task {task_id} to run",
    )


def _open(browser: webdriver.Chrome, cluster: LocalCluster, page: str = "") -> None:
    assert cluster.master is not None and cluster.master.webui_url
    browser.get(cluster.master.webui_url + page)
    wait_until(browser, lambda: browser.find_element(By.CSS_SELECTOR, "#live.on"), "live events")


def test_overview_shows_what_the_operator_api_reports(
    browser: webdriver.Chrome, cluster: LocalCluster, framework: FrameworkHarness
) -> None:
    framework.submit([_task("sleeper", "sleep 300")])
    state = _running(cluster, "sleeper")
    _open(browser, cluster)
    wait_until(browser, lambda: text_of(browser, "#count-tasks .value") == "1", "one active task")
    total = sum(r.scalar for a in state.agents for r in a.agent_info.resources if r.name == "cpus")
    used = sum(r.scalar for a in state.agents for r in a.used_resources if r.name == "cpus")
    # The page redraws as events and chart samples arrive: each value is read afresh.
    for css, value in (
        ("#count-agents .value", str(len(state.agents))),
        ("#count-frameworks .value", str(len(state.frameworks))),
        ("#resource-cpus .value", f"{used:.2f} / {total:g}"),
    ):
        wait_until(browser, lambda: text_of(browser, css) == value, f"{css} to show {value}")  # noqa: B023
    wait_until(
        browser,
        lambda: rows(browser, "#tasks-by-state tr[data-state='TASK_RUNNING'] td")[1].text == "1",
        "one running task by state",
    )
    names = {f.framework_info.name for f in state.frameworks}
    wait_until(
        browser,
        lambda: {r.text for r in rows(browser, "#frameworks tbody tr td:first-child")} == names,
        "the frameworks",
    )
    # The chart draws the master's own samples (taken since it started), not the page's.
    with urllib.request.urlopen(dashboard_url(cluster) + "api/history") as answer:
        samples = json.loads(answer.read())["samples"]
    assert samples and all(0 <= s["cpus"] <= 1 for s in samples)

    def drawn() -> bool:
        span = int(text_of(browser, "#chart-span").split()[0])
        line = browser.find_element(By.CSS_SELECTOR, "#chart polyline.cpus")
        return span >= len(samples) and len((line.get_attribute("points") or "").split()) == span

    wait_until(browser, drawn, "the chart of the master's samples")


def test_agents_page_lists_every_agent_with_its_resources(
    browser: webdriver.Chrome, cluster: LocalCluster
) -> None:
    state = cluster.state()
    _open(browser, cluster, "#/agents")
    wait_until(browser, lambda: len(rows(browser, "#agents tbody tr")) == len(state.agents), "rows")
    shown = {r.get_attribute("data-agent-id") for r in rows(browser, "#agents tbody tr")}
    assert shown == {a.agent_info.id for a in state.agents}
    first = state.agents[0].agent_info
    row = browser.find_element(By.CSS_SELECTOR, f"#agents tr[data-agent-id='{first.id}']")
    assert "cpus 2, mem 1.0 GB, disk 1.0 GB" in row.text
    assert row.find_element(By.CSS_SELECTOR, ".drain-state").text == "NOT_DRAINING"
    assert row.find_elements(By.CSS_SELECTOR, "button.drain")  # anyone may drain here


def test_tasks_filter_and_detail_with_status_history(
    browser: webdriver.Chrome, cluster: LocalCluster, framework: FrameworkHarness
) -> None:
    framework.submit([_task("quick", "echo done")])
    cluster.wait_for(
        lambda s: any(t.task_id == "quick" for t in s.completed_tasks), 30, "quick to finish"
    )
    _open(browser, cluster, "#/tasks?state=TASK_FINISHED")
    wait_until(browser, lambda: rows(browser, "#task-list tr[data-task-id='quick']"), "quick")
    assert not rows(browser, "#task-list tr[data-task-id='sleeper']")  # RUNNING: filtered out
    browser.get(cluster.master.webui_url + "#/tasks?q=suite%3Dwebui")  # type: ignore[union-attr]
    wait_until(browser, lambda: len(rows(browser, "#task-list tbody tr")) == 2, "label search")
    search = browser.find_element(By.ID, "filter-search")
    search.clear()
    search.send_keys("qui")  # narrowed as it is typed, the box kept across live updates
    wait_until(browser, lambda: len(rows(browser, "#task-list tbody tr")) == 1, "typed search")
    assert browser.find_element(By.ID, "filter-search").get_attribute("value") == "qui"
    assert rows(browser, "#task-list tr[data-task-id='quick']")
    fid = framework.driver.framework_id
    browser.get(f"{cluster.master.webui_url}#/tasks/{fid}/quick")  # type: ignore[union-attr]
    wait_until(browser, lambda: "FINISHED" in text_of(browser, "#task-props .task-state"), "detail")
    history = [r.text for r in rows(browser, "#status-history tbody tr")]
    assert history and "FINISHED" in history[0]


def test_sandbox_follows_a_log_while_the_task_prints(
    browser: webdriver.Chrome, cluster: LocalCluster, framework: FrameworkHarness
) -> None:
    shell = f"for i in $(seq 1 {LINES}); do echo line-$i; sleep 0.25; done"
    framework.submit([_task("printer", shell)])
    _running(cluster, "printer")
    fid = framework.driver.framework_id
    _open(browser, cluster, f"#/sandbox/{fid}/printer")
    first = wait_until(browser, lambda: text_of(browser, "#log") or False, "the first lines")
    seen = max(int(n) for n in re.findall(r"line-(\d+)", first))
    assert seen < LINES  # still printing
    later = wait_until(
        browser,
        lambda: (t := text_of(browser, "#log")) and f"line-{seen + 4}" in t and t,
        "lines printed after the page opened",
    )
    numbers = [int(n) for n in re.findall(r"line-(\d+)", later)]
    assert numbers == list(range(1, len(numbers) + 1))  # in order, none twice
    files = {e.get_attribute("data-path") for e in rows(browser, "#sandbox-files a.file")}
    assert {"stdout", "stderr"} <= files


def test_teardown_button_removes_the_framework(
    browser: webdriver.Chrome, cluster: LocalCluster
) -> None:
    with FrameworkHarness(cluster.master_address, name="doomed") as doomed:
        doomed.wait(lambda: bool(doomed.driver.framework_id), what="subscribed")
        fid = doomed.driver.framework_id
        _open(browser, cluster, "#/frameworks")
        row = f"#frameworks tr[data-framework-id='{fid}']"
        button = wait_until(
            browser, lambda: browser.find_element(By.CSS_SELECTOR, f"{row} button.teardown"), "it"
        )
        button.click()
        browser.switch_to.alert.accept()
        wait_until(browser, lambda: not rows(browser, row), "the framework's row to go")
        state = cluster.state()
        assert fid not in {f.framework_info.id for f in state.frameworks}
        assert rows(browser, "#frameworks tbody tr")  # the other framework stays


def test_lean_mode_counts_tasks_live_and_lists_them_on_demand(
    browser: webdriver.Chrome, cluster: LocalCluster, framework: FrameworkHarness
) -> None:
    """As for a cluster with more than FULL_TASKS tasks: the page never holds every task."""
    assert cluster.master is not None and cluster.master.webui_url
    before = cluster.state()
    active = len(before.tasks)
    browser.get("about:blank")
    browser.get(cluster.master.webui_url + "?lean#/")
    wait_until(browser, lambda: browser.find_element(By.CSS_SELECTOR, "#live.on"), "live events")
    wait_until(browser, lambda: text_of(browser, "#count-tasks .value") == str(active), "count")
    assert browser.execute_script("return [model.full, model.tasks.size]") == [False, 0]
    framework.submit([_task("lean-1", "sleep 300")])
    _running(cluster, "lean-1")
    wait_until(browser, lambda: text_of(browser, "#count-tasks .value") == str(active + 1), "+1")
    finished = sum(t.state == pb.TASK_FINISHED for t in cluster.state().completed_tasks)
    row = "#tasks-by-state tr[data-state='TASK_FINISHED'] td.num"
    assert text_of(browser, row) == str(finished)
    browser.find_element(By.CSS_SELECTOR, "#nav a[data-page='tasks']").click()
    wait_until(browser, lambda: rows(browser, "#task-list tr[data-task-id='lean-1']"), "fetched")
    state = cluster.state()
    shown = {r.get_attribute("data-task-id") for r in rows(browser, "#task-list tbody tr")}
    assert shown == {t.task_id for t in [*state.tasks, *state.completed_tasks]}


def test_roles_page_shows_weights_quota_and_sets_a_weight(
    browser: webdriver.Chrome, cluster: LocalCluster
) -> None:
    quota = opb.QuotaConfig(role="web", guarantees={"cpus": 0.5}, limits={"cpus": 2, "mem": 512})
    with OperatorClient(cluster.master_address) as client:
        client.update_quota([quota])
    _open(browser, cluster, "#/roles")
    web = "#roles tr[data-role='web']"
    wait_until(browser, lambda: text_of(browser, f"{web} .limit") == "cpus 2, mem 512 MB", "quota")
    assert text_of(browser, f"{web} .guarantee") == "cpus 0.50"
    assert text_of(browser, f"{web} .consumed [data-resource='cpus']") == "cpus 0 / 2"
    row = "#roles tr[data-role='*']"
    field = wait_until(
        browser, lambda: browser.find_element(By.CSS_SELECTOR, f"{row} input.weight"), "input"
    )
    assert field.get_attribute("value") == "1"
    field.clear()
    field.send_keys("2.5")
    browser.find_element(By.CSS_SELECTOR, f"{row} button.set-weight").click()
    wait_until(
        browser,
        lambda: (
            browser.find_element(By.CSS_SELECTOR, f"{row} input.weight").get_attribute("value")
            == "2.5"
        ),
        "the new weight, read again",
    )
    with OperatorClient(cluster.master_address) as client:
        assert client.get_weights() == {"*": 2.5}
        client.update_weights({"*": 1.0})
        client.update_quota([opb.QuotaConfig(role="web")])


def test_a_post_without_the_csrf_token_is_refused(cluster: LocalCluster) -> None:
    assert cluster.master is not None and cluster.master.webui_url
    url = cluster.master.webui_url
    with urllib.request.urlopen(url + "api/session") as answer:
        cookie = answer.headers["Set-Cookie"].split(";")[0]
        assert "HttpOnly" in answer.headers["Set-Cookie"]
        assert "SameSite=Strict" in answer.headers["Set-Cookie"]
    agent_id = cluster.state().agents[0].agent_info.id
    request = urllib.request.Request(
        url + "api/agents/deactivate",
        data=json.dumps({"agent_id": agent_id}).encode(),
        headers={"Cookie": cookie, "Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 403
    assert "CSRF" in json.loads(refused.value.read())["error"]
    assert all(a.active for a in cluster.state().agents)  # nothing changed


def test_drain_button_drains_the_agent_live(
    browser: webdriver.Chrome, cluster: LocalCluster
) -> None:
    state = cluster.state()
    # The agent with the fewest tasks (draining kills them; the test ends the module).
    idle = min(state.agents, key=lambda a: a.active_tasks).agent_info.id
    _open(browser, cluster, "#/agents")
    row = f"#agents tr[data-agent-id='{idle}']"
    button = wait_until(
        browser, lambda: browser.find_element(By.CSS_SELECTOR, f"{row} button.drain"), "drain"
    )
    button.click()
    browser.switch_to.alert.accept()
    # No reload: the page hears of the change from the event stream.
    wait_until(browser, lambda: text_of(browser, f"{row} .drain-state") == "DRAINED", "DRAINED", 40)
    drained = next(a for a in cluster.state().agents if a.agent_info.id == idle)
    assert drained.drain_state == opb.AgentState.DRAINED
    reactivate = browser.find_element(By.CSS_SELECTOR, f"{row} button.reactivate")
    assert not browser.find_elements(By.CSS_SELECTOR, f"{row} button.drain")
    reactivate.click()
    wait_until(
        browser, lambda: text_of(browser, f"{row} .drain-state") == "NOT_DRAINING", "reactivated"
    )
