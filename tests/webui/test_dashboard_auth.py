"""The dashboard of a master that requires operators to authenticate, with ACLs: login,
what a principal sees follows the ACLs, and a forbidden action is refused (403)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from frameworks.batch.v1 import batch_pb2 as bpb
from frameworks.batch.v1 import batch_pb2_grpc
from mesospy.cluster import LocalCluster
from mesospy.security.channels import ClientSecurity, sync_channel
from mesospy.security.credentials import Credential
from mesospy.testing.security import authentication_flags, write_credentials

from .conftest import FAST_MASTER, dashboard_cluster, dashboard_url, rows, text_of, wait_until

SECRETS = {"operator": "op-secret-7f3a", "viewer": "view-secret-91c2", "guessed": "g-5d1e"}
ACLS = {
    "register_agents": [{"principals": "ANY"}],
    "register_frameworks": [{"principals": "ANY", "roles": "ANY"}],
    "view_cluster": [{"principals": ["operator", "viewer"]}],
    "drain_agents": [{"principals": ["operator"], "agents": "ANY"}],
    "read_sandboxes": [{"principals": ["operator"], "users": "ANY"}],
    "teardown_frameworks": [{"principals": ["operator"], "framework_principals": "ANY"}],
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    files: Path = tmp_path_factory.mktemp("security")
    acls = files / "acls.json"
    acls.write_text(json.dumps(ACLS))
    credentials = write_credentials(files, SECRETS)
    with dashboard_cluster(
        tmp_path_factory,
        agents=2,
        master_flags=[*FAST_MASTER, *authentication_flags(credentials, ("operators",), acls)],
        client_security=ClientSecurity(None, Credential("operator", SECRETS["operator"])),
        # The batch framework's API authenticates its callers from the same credentials.
        framework_args={"batch": ["--credentials", str(credentials), "--authenticate"]},
        frameworks=["batch"],
    ) as c:
        yield c


def _login(browser: webdriver.Chrome, cluster: LocalCluster, principal: str, secret: str) -> None:
    browser.get("about:blank")  # a page of its own, not a jump within the last one
    browser.delete_all_cookies()
    browser.get(dashboard_url(cluster) + "#/login")
    field = wait_until(browser, lambda: browser.find_element(By.ID, "login-principal"), "login")
    field.send_keys(principal)
    browser.find_element(By.ID, "login-secret").send_keys(secret)
    browser.find_element(By.ID, "login-submit").click()


def _post_from_page(browser: webdriver.Chrome, path: str, body: dict[str, str]) -> list[object]:
    """POST from the page as its own buttons do (with the session's CSRF token)."""
    script = """
        const [path, body, done] = arguments;
        fetch('/api/session').then((r) => r.json()).then((s) => fetch(path, {
            method: 'POST',
            headers: {'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf_token},
            body: JSON.stringify(body)}))
        .then((r) => r.json().then((b) => done([r.status, b.error || ''])))
        .catch((e) => done([0, String(e)]));
    """
    answer: list[object] = browser.execute_async_script(script, path, body)
    return answer


def test_nothing_is_shown_without_logging_in(
    browser: webdriver.Chrome, cluster: LocalCluster
) -> None:
    browser.get(dashboard_url(cluster))
    wait_until(browser, lambda: browser.find_element(By.ID, "login-form"), "the login form")
    assert not rows(browser, "#agents, #count-agents")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(dashboard_url(cluster) + "api/state")
    assert refused.value.code == 401
    assert "log in" in json.loads(refused.value.read())["error"]


def test_a_wrong_secret_is_refused(browser: webdriver.Chrome, cluster: LocalCluster) -> None:
    _login(browser, cluster, "operator", "not-the-secret")
    wait_until(
        browser,
        lambda: "wrong secret" in text_of(browser, "#login-error"),
        "the refusal",
    )
    assert browser.find_element(By.ID, "login-secret").get_attribute("value") == ""


def test_a_principal_without_drain_agents_sees_no_drain_button_and_gets_403(
    browser: webdriver.Chrome, cluster: LocalCluster
) -> None:
    _login(browser, cluster, "viewer", SECRETS["viewer"])
    wait_until(browser, lambda: text_of(browser, "#principal") == "viewer", "logged in")
    browser.get(dashboard_url(cluster) + "#/agents")
    state = cluster.state()
    wait_until(browser, lambda: len(rows(browser, "#agents tbody tr")) == len(state.agents), "rows")
    wait_until(browser, lambda: browser.find_element(By.CSS_SELECTOR, "#live.on"), "live")
    assert not rows(browser, "#agents button.drain, #agents button.deactivate")
    agent_id = state.agents[0].agent_info.id
    status, error = _post_from_page(browser, "/api/agents/drain", {"agent_id": agent_id})
    assert status == 403
    assert "'viewer' may not drain" in str(error)
    assert all(a.drain_state == 0 for a in cluster.state().agents)  # nothing changed
    browser.get(dashboard_url(cluster) + "#/sandbox/some-framework/some-task")
    refusal = wait_until(
        browser, lambda: text_of(browser, "#sandbox-files .notice"), "the sandbox's refusal"
    )
    assert "'viewer' may not read the sandbox" in refusal


def test_an_operator_with_drain_agents_sees_the_buttons(
    browser: webdriver.Chrome, cluster: LocalCluster
) -> None:
    _login(browser, cluster, "operator", SECRETS["operator"])
    wait_until(browser, lambda: text_of(browser, "#principal") == "operator", "logged in")
    browser.get(dashboard_url(cluster) + "#/agents")
    count = len(cluster.state().agents)
    wait_until(browser, lambda: len(rows(browser, "#agents button.drain")) == count, "buttons")


def test_the_jobs_page_calls_the_framework_as_the_logged_in_principal(
    browser: webdriver.Chrome, cluster: LocalCluster
) -> None:
    # Anonymous, the framework's API refuses (it authenticates every call itself).
    with pytest.raises(grpc.RpcError) as refused:
        _batch_jobs(cluster, None)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    _login(browser, cluster, "viewer", SECRETS["viewer"])
    wait_until(browser, lambda: text_of(browser, "#principal") == "viewer", "logged in")
    browser.get(dashboard_url(cluster) + "#/jobs")
    # The dashboard forwarded the session's principal and secret: the framework answered.
    wait_until(browser, lambda: "No jobs" in text_of(browser, "#jobs-page"), "the framework's list")
    assert not _batch_jobs(cluster, Credential("viewer", SECRETS["viewer"])).jobs


def _batch_jobs(cluster: LocalCluster, credential: Credential | None) -> bpb.ListJobsResponse:
    security = ClientSecurity(None, credential)
    (endpoint,) = [
        f.framework_info.endpoint
        for f in cluster.state().frameworks
        if f.framework_info.name == "mesospy-batch"
    ]
    with sync_channel(endpoint, security=security) as channel:
        stub = batch_pb2_grpc.BatchStub(channel)  # type: ignore[no-untyped-call]
        answer: bpb.ListJobsResponse = stub.ListJobs(bpb.ListJobsRequest(), timeout=10)
        return answer


def test_no_secret_in_the_page_the_url_or_a_script_readable_cookie(
    browser: webdriver.Chrome, cluster: LocalCluster
) -> None:
    _login(browser, cluster, "operator", SECRETS["operator"])
    wait_until(browser, lambda: text_of(browser, "#principal") == "operator", "logged in")
    for page in ("#/", "#/agents", "#/frameworks", "#/tasks", "#/roles"):
        browser.get(dashboard_url(cluster) + page)
        wait_until(browser, lambda: browser.find_element(By.CSS_SELECTOR, "#live.on"), "live")
        assert SECRETS["operator"] not in browser.page_source
        assert SECRETS["operator"] not in browser.current_url
    session = browser.execute_async_script(
        "const done = arguments[0];fetch('/api/session').then((r) => r.text()).then(done);"
    )
    assert SECRETS["operator"] not in session
    assert browser.execute_script("return document.cookie") == ""  # HttpOnly
    cookie = browser.get_cookie("mesospy_session")
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"


def test_logins_are_refused_after_five_failures(cluster: LocalCluster) -> None:
    with urllib.request.urlopen(dashboard_url(cluster) + "api/session") as answer:
        cookie = answer.headers["Set-Cookie"].split(";")[0]
        token = json.loads(answer.read())["csrf_token"]

    def login(secret: str) -> int:
        request = urllib.request.Request(
            dashboard_url(cluster) + "api/login",
            data=json.dumps({"principal": "guessed", "secret": secret}).encode(),
            headers={"Cookie": cookie, "X-CSRF-Token": token, "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request) as answer:
                return answer.status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert [login(f"guess-{i}") for i in range(5)] == [401] * 5
    assert login(SECRETS["guessed"]) == 429  # even the right secret, for a minute
