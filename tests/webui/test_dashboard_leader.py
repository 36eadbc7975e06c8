"""With several masters, a standby's dashboard sends the browser to the leader's."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from mesospy.cluster import LocalCluster
from mesospy.testing.clusters import running_cluster
from mesospy.testing.zookeeper import ZooKeeperSandbox, ZooKeeperServer

from .conftest import AGENT_RESOURCES, FAST_MASTER, text_of, wait_until


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with ZooKeeperServer() as server:
        sandbox = ZooKeeperSandbox(server)
        try:
            with running_cluster(
                lambda: tmp_path_factory.mktemp("cluster"),
                agents=1,
                zk=sandbox.url,
                masters=2,
                webui=True,
                agent_resources=AGENT_RESOURCES,
                master_flags=FAST_MASTER,
            ) as c:
                yield c
        finally:
            sandbox.close()


def _standby(cluster: LocalCluster) -> tuple[str, str]:
    leader = cluster.leader()
    standby = next(d for d in cluster.master_daemons if d is not leader)
    assert leader.webui_url and standby.webui_url
    return leader.webui_url, standby.webui_url


def test_a_standby_redirects_pages_and_names_the_leader_to_the_api(
    cluster: LocalCluster,
) -> None:
    leader, standby = _standby(cluster)
    opener = urllib.request.build_opener(_NoRedirects)
    with pytest.raises(urllib.error.HTTPError) as redirected:
        opener.open(standby)
    assert redirected.value.code == 307
    assert redirected.value.headers["Location"] == leader
    with pytest.raises(urllib.error.HTTPError) as refused:
        opener.open(standby + "api/state")
    assert refused.value.code == 503
    body = json.loads(refused.value.read())
    assert body["leader"] + "/" == leader
    assert "not the leader" in body["error"]


def test_a_browser_on_a_standby_ends_up_on_the_leader(
    browser: webdriver.Chrome, cluster: LocalCluster
) -> None:
    leader, standby = _standby(cluster)
    browser.get(standby + "#/agents")
    wait_until(browser, lambda: browser.current_url.startswith(leader), "the leader's dashboard")
    wait_until(browser, lambda: browser.find_element(By.CSS_SELECTOR, "#live.on"), "live")
    wait_until(browser, lambda: text_of(browser, "#agents tbody tr .drain-state"), "agents")
