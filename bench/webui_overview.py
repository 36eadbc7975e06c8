"""The dashboard under load: overview load time, and the master's CPU with dashboards open.

One real master serving its dashboard, ``--agents`` simulated agents (``sim_agents.py``)
holding ``--tasks`` long-running tasks of ``--frameworks`` lean frameworks
(``sim_frameworks.py``), plus one framework churning short tasks (``--churn-seconds``
long) in the slot each agent keeps free, so events flow while dashboards watch. Measured:

- overview load: a headless Chromium opens the overview and waits until it shows every
  task (the active-task count reaches ``--tasks``); the best and the median of
  ``--loads`` fresh loads (a fresh tab each, the browser warm);
- master CPU: CPU seconds of the master process (psutil) per wall second over
  ``--window`` seconds, as % of one core, first with no dashboard open, then with
  ``--dashboards`` tabs on the overview (each its own event stream); the difference is
  what the dashboards cost.

    python bench/webui_overview.py                                   # 1,000 agents, 10k tasks
    python bench/webui_overview.py --agents 10000 --tasks 100000 --frameworks 100

Targets (issue 17): overview <= 2 s at 10,000 agents / 100,000 tasks; 10 dashboards add
<= 10 % of a core. Exits non-zero on a wrong result: a task lost, the overview never
showing every task, an agent not registered.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fleet import CpuMeter, Fleet, load, raise_fd_limit, start_master, tear_down, wait_serving
from machine import describe, report
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from sim_frameworks import ChannelPool, LeanFramework, Record

from mesospy.cluster import free_port
from mesospy.detector import MasterDetector
from mesospy.resources import Resources
from mesospy.testing.browser import start_browser

LOAD_TARGET = 2.0  # s
CPU_TARGET = 10.0  # % of a core


def _overview_seconds(browser: WebDriver, url: str, tasks: int, timeout: float) -> float:
    """Open the overview in a new tab; seconds until it shows ``tasks`` active tasks."""
    browser.switch_to.new_window("tab")
    started = time.monotonic()
    browser.get(url)

    def shows_all(driver: WebDriver) -> bool:
        text = driver.execute_script(
            "const e = document.querySelector('#count-tasks .value');return e ? e.textContent : '';"
        )
        return str(text).isdigit() and int(text) >= tasks

    WebDriverWait(browser, timeout, poll_frequency=0.02).until(shows_all)
    seconds = time.monotonic() - started
    # Where the time went, from the page's own marks (ms since the navigation started).
    marks = browser.execute_script(
        "const m = {};"
        "for (const e of performance.getEntriesByType('mark')) m[e.name] = e.startTime;"
        "const n = performance.getEntriesByType('navigation')[0];"
        "if (n) m['page-loaded'] = n.loadEventEnd;"
        "return m;"
    )
    parts = ", ".join(
        f"{name.removeprefix('mesospy-')} {float(ms) / 1000:.2f} s"
        for name, ms in sorted(dict(marks).items(), key=lambda kv: float(kv[1]))
    )
    print(f"  page timeline: {parts}")
    return seconds


async def _cpu_percent(meter: CpuMeter, window: float) -> float:
    before, started = meter.cpu(), time.monotonic()
    await asyncio.sleep(window)
    return 100.0 * (meter.cpu() - before) / (time.monotonic() - started)


async def run(args: argparse.Namespace, work: Path) -> dict[str, object]:
    raise_fd_limit()
    webui_port = free_port()
    flags = ["--agent-ping-timeout", str(args.heartbeat), "--webui-port", str(webui_port)]
    master = start_master(work, "master", flags)
    address = f"127.0.0.1:{master.port}"
    url = f"http://127.0.0.1:{webui_port}/"
    per_agent = -(-args.tasks // args.agents)
    per_task = Resources.parse(args.task_resources)
    agent_resources = (
        f"cpus:{(per_agent + 1) * per_task.scalar('cpus')};"
        f"mem:{(per_agent + 1) * per_task.scalar('mem')}"
    )
    fleet: Fleet | None = None
    detector = MasterDetector(address)
    pools: list[ChannelPool] = []
    jobs: list[asyncio.Task[None]] = []
    record = Record()
    wrong: list[str] = []
    loads: list[float] = []
    with tempfile.TemporaryDirectory(prefix="mesospy-chromium-") as profile:
        browser = None
        try:
            await asyncio.to_thread(wait_serving, master)
            fleet = Fleet(address, args.agents, agent_resources, work)
            await fleet.start()
            await fleet.wait(
                f"{args.agents} agents to register",
                lambda: fleet is not None and fleet.registered() >= args.agents,
                args.timeout,
            )
            share, extra = divmod(args.tasks, args.frameworks)
            for i in range(args.frameworks):
                pools.append(ChannelPool("", detector))
                count = share + (1 if i < extra else 0)
                framework = LeanFramework(
                    f"fw{i}", pools[-1], record, per_task, lambda: 1e7, count, 3600.0, 4
                )
                jobs.append(asyncio.ensure_future(framework.run()))
            t0 = time.time()
            await fleet.wait(
                f"{args.tasks} tasks running",
                lambda: fleet is not None and fleet.total("acks") >= args.tasks,
                args.timeout,
            )
            print(f"{args.tasks} tasks running in {time.time() - t0:.1f} s ({load()})")
            pools.append(ChannelPool("", detector))
            churn = LeanFramework(
                "churn", pools[-1], record, per_task, lambda: args.churn_seconds, None, 1.0
            )
            jobs.append(asyncio.ensure_future(churn.run()))
            await asyncio.sleep(args.churn_seconds)  # the churn reaches its steady rate
            assert master.process is not None
            meter = CpuMeter(master.process.pid)
            load_before = load()
            idle_cpu = await _cpu_percent(meter, args.window)
            print(f"master CPU, no dashboard: {idle_cpu:.1f} % of a core")

            browser = await asyncio.to_thread(start_browser, profile)
            first = browser.current_window_handle
            for _ in range(args.loads):
                seconds = await asyncio.to_thread(
                    _overview_seconds, browser, url, args.tasks, args.timeout
                )
                loads.append(seconds)
                print(f"overview showed {args.tasks} tasks after {seconds:.2f} s")
                browser.close()
                browser.switch_to.window(first)
            # Opened from the page (WebDriver would wait on each tab's renderer in turn).
            for _ in range(args.dashboards):
                browser.execute_script("window.open(arguments[0], '_blank')", url)
            await asyncio.sleep(args.settle)
            print(f"{len(browser.window_handles) - 1} dashboards open")
            busy_cpu = await _cpu_percent(meter, args.window)
            print(f"master CPU, {args.dashboards} dashboards: {busy_cpu:.1f} % of a core")
            load_after = load()
        finally:
            if browser is not None:
                browser.quit()
            await tear_down(jobs, [*pools, detector], fleet)
            master.stop()
    if record.wrong_states:
        wrong.append(f"tasks ended: {dict(record.wrong_states)} e.g. {record.wrong_examples[:3]}")
    return {
        "agents": args.agents,
        "tasks": args.tasks,
        "frameworks": args.frameworks,
        "churn_task_seconds": args.churn_seconds,
        "overview_best_s": min(loads),
        "overview_median_s": statistics.median(loads),
        "master_cpu_idle_pct": idle_cpu,
        "master_cpu_dashboards_pct": busy_cpu,
        "dashboards": args.dashboards,
        "dashboards_cost_pct": busy_cpu - idle_cpu,
        "load_before": load_before,
        "load_after": load_after,
        "wrong": wrong,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--agents", type=int, default=1_000)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--frameworks", type=int, default=10)
    parser.add_argument("--task-resources", default="cpus:1;mem:256")
    parser.add_argument("--churn-seconds", type=float, default=10.0)
    parser.add_argument("--dashboards", type=int, default=10)
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--window", type=float, default=15.0)
    parser.add_argument(
        "--settle", type=float, default=15.0, help="s for the tabs to load (snapshots done)"
    )
    parser.add_argument("--heartbeat", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mesospy-bench-") as work:
        figures = asyncio.run(run(args, Path(work)))
    rows = [
        ("overview load, best", f"{figures['overview_best_s']:.2f} s", f"<= {LOAD_TARGET} s"),
        ("overview load, median", f"{figures['overview_median_s']:.2f} s", ""),
        ("master CPU, no dashboard", f"{figures['master_cpu_idle_pct']:.1f} %", ""),
        (
            f"master CPU, {args.dashboards} dashboards",
            f"{figures['master_cpu_dashboards_pct']:.1f} %",
            "",
        ),
        ("dashboards' cost", f"{figures['dashboards_cost_pct']:.1f} %", f"<= {CPU_TARGET} %"),
    ]
    summary = (
        f"{args.agents} agents / {args.tasks} tasks: overview in "
        f"{figures['overview_best_s']:.2f} s, {args.dashboards} dashboards cost "
        f"{figures['dashboards_cost_pct']:.1f} % of a core ({describe()})"
    )
    return report("webui_overview", rows, figures, summary)


if __name__ == "__main__":
    sys.exit(main())
