"""A PNG of each dashboard page, for reviewers to look at.

Starts a LocalCluster (2 agents, the master serving its dashboard, the batch and service
frameworks), a framework running a few tasks (one printing its log, one sleeping, some
finished, one failed), drains one agent, gives a role quota, runs two batch jobs (one on a
schedule), deploys an app twice (two versions), then opens each page in a headless
Chromium and writes OUT/NAME.png.

    python bench/webui_screenshots.py                  # into ./webui-screenshots
    python bench/webui_screenshots.py --out /tmp/shots

Needs Debian's chromium and chromium-driver, and selenium (pip install -e '.[dev]').
Exits non-zero if a page shows an error or a screenshot is not written.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's mesospy

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from frameworks.batch.cli import find_batch
from frameworks.batch.v1 import batch_pb2 as bpb
from frameworks.batch.v1 import batch_pb2_grpc
from frameworks.service.client import ServiceClient, find_service
from mesospy.client import OperatorClient
from mesospy.cluster import LocalCluster
from mesospy.resources import Resources
from mesospy.security.channels import sync_channel
from mesospy.testing import FrameworkHarness
from mesospy.testing.browser import start_browser
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import operator_pb2 as opb

JOBS = [
    """
name: nightly-report
schedule: {cron: "30 2 * * *", timezone: Europe/Berlin}
command: echo report for $MESOSPY_INSTANCE; sleep 0.5
instances: 4
resources: {cpus: 0.05, mem: 16}
""",
    """
name: flaky-import
command: '[ "$MESOSPY_INSTANCE" != 2 ] || exit 7'
instances: 3
resources: {cpus: 0.05, mem: 16}
""",
]


def _task(task_id: str, shell: str) -> pb.TaskInfo:
    return pb.TaskInfo(
        name=task_id,
        task_id=task_id,
        resources=Resources.parse("cpus:0.25;mem:64").to_proto(),
        command=pb.CommandInfo(shell=shell),
        labels=[pb.Label(key="app", value="demo")],
    )


def _app(release: str) -> str:
    return (
        '{"id": "web", "cmd": "sleep 600", "instances": 3, "cpus": 0.05, "mem": 16, '
        f'"env": {{"RELEASE": "{release}"}}, "killGracePeriodSeconds": 0.5}}'
    )


def _frameworks_work(cluster: LocalCluster) -> None:
    """Quota on a role, two jobs with runs (one run now by hand), an app with two versions."""
    with OperatorClient(cluster.master_address) as client:
        quota = opb.QuotaConfig(role="eng", guarantees={"cpus": 0.5}, limits={"cpus": 3})
        client.update_quota([quota])
    with sync_channel(find_batch(cluster.master_address)) as channel:
        batch = batch_pb2_grpc.BatchStub(channel)  # type: ignore[no-untyped-call]
        for spec in JOBS:
            batch.SubmitJob(bpb.SubmitJobRequest(spec=spec), timeout=15)
        batch.RunJob(bpb.RunJobRequest(name="nightly-report"), timeout=15)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runs = [
                r
                for name in ("nightly-report", "flaky-import")
                for r in batch.ListRuns(bpb.ListRunsRequest(name=name), timeout=15).runs
            ]
            if runs and all(r.state not in ("PENDING", "RUNNING") for r in runs):
                break
            time.sleep(0.2)
    with ServiceClient(find_service(cluster.master_address)) as service:
        service.deploy(_app("1"))
        deadline = time.monotonic() + 60
        while service.app("web").running < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        service.deploy(_app("2"))
        time.sleep(1.0)  # the rolling update under way


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("webui-screenshots"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    resources = "cpus:2;mem:2048;disk:4096;ports:[31000-31999]"
    with (
        LocalCluster(
            agents=2, webui=True, agent_resources=resources, frameworks=["batch", "service"]
        ) as cluster,
        FrameworkHarness(cluster.master_address, name="demo") as framework,
        tempfile.TemporaryDirectory(prefix="mesospy-chromium-") as profile,
    ):
        framework.submit(
            [
                _task("web-1", "sleep 600"),
                _task("web-2", "sleep 600"),
                _task("printer", "for i in $(seq 1 600); do echo log line $i; sleep 0.2; done"),
                *(_task(f"batch-{i}", "echo done") for i in range(4)),
                _task("broken", "echo oops >&2; exit 3"),
            ]
        )
        state = cluster.wait_for(
            lambda s: (
                sum(t.state == pb.TASK_RUNNING for t in s.tasks) == 3
                and len(s.completed_tasks) == 5
            ),
            60,
            "the demo tasks",
        )
        busy = {t.agent_id for t in state.tasks}
        idle = [a.agent_info.id for a in state.agents if a.agent_info.id not in busy]
        if idle:
            with OperatorClient(cluster.master_address) as client:
                client.drain_agent(idle[0])
        _frameworks_work(cluster)
        fid = framework.driver.framework_id
        agent = state.agents[0].agent_info.id
        pages = {
            "overview": "#/",
            "agents": "#/agents",
            "agent": f"#/agents/{agent}",
            "frameworks": "#/frameworks",
            "framework": f"#/frameworks/{fid}",
            "tasks": "#/tasks",
            "tasks-failed": "#/tasks?state=TASK_FAILED",
            "task": f"#/tasks/{fid}/broken",
            "sandbox": f"#/sandbox/{fid}/printer",
            "roles": "#/roles",
            "jobs": "#/jobs",
            "job": "#/jobs/flaky-import",
            "job-scheduled": "#/jobs/nightly-report",
            "apps": "#/apps",
            "app": "#/apps/web",
        }
        assert cluster.master is not None and cluster.master.webui_url
        browser = start_browser(profile, 1400, 900)
        failed = []
        try:
            for name, page in pages.items():
                browser.get("about:blank")
                browser.get(cluster.master.webui_url + page)
                WebDriverWait(browser, 20).until(
                    lambda b: b.find_elements(By.CSS_SELECTOR, "#live.on")
                )
                time.sleep(1.5)  # let the sandbox's log and the roles' answer arrive
                notice = browser.find_element(By.ID, "notice").text
                notice += " ".join(e.text for e in browser.find_elements(By.ID, "framework-error"))
                path = args.out / f"{name}.png"
                browser.save_screenshot(str(path))
                ok = path.exists() and path.stat().st_size > 0 and not notice
                print(f"{name:14} {path}  {'ok' if ok else 'FAILED ' + notice}")
                if not ok:
                    failed.append(name)
        finally:
            browser.quit()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
