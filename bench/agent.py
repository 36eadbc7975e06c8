"""One agent alone: N `true` tasks through an agent daemon driven by a stand-in master.

The master here is a minimal AgentRegistry in this process: it registers the agent, sends
RunTasks in chunks while fewer than --window tasks are unfinished, and acknowledges every
status update at once. No allocator, offers or framework: the figure is what the agent
itself can carry (tasks/s from the first RunTasks to the last terminal update) and its CPU
per task, the part of bench/throughput.py that the agent owns.

    python bench/agent.py                       # 3,000 tasks, cgroups when available
    python bench/agent.py --isolation posix --runs 3

Exits non-zero unless every task ends TASK_FINISHED, and only once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import grpc
import psutil
from machine import describe, spawn_rate

from mesospy.resources import Resources
from mesospy.v1 import agent_pb2, agent_pb2_grpc, common_pb2

FRAMEWORK = common_pb2.FrameworkInfo(id="bench-fw", name="bench-agent", user=getpass.getuser())
TERMINAL = {
    common_pb2.TASK_FINISHED,
    common_pb2.TASK_FAILED,
    common_pb2.TASK_KILLED,
    common_pb2.TASK_ERROR,
    common_pb2.TASK_LOST,
}


class StandInMaster(agent_pb2_grpc.AgentRegistryServicer):
    def __init__(self) -> None:
        self.registered = asyncio.Event()
        self.agent_id = "bench-agent"
        self.terminal: dict[str, int] = {}
        self.deliveries: Counter[str] = Counter()
        self.rpcs = 0
        self.progress = asyncio.Event()
        self.stub: agent_pb2_grpc.AgentStub | None = None
        self._acks: set[asyncio.Task[Any]] = set()

    async def RegisterAgent(self, request: Any, context: Any) -> Any:
        self.stub = agent_pb2_grpc.AgentStub(  # type: ignore[no-untyped-call]
            grpc.aio.insecure_channel(f"127.0.0.1:{request.agent_info.port}")
        )
        self.registered.set()
        return agent_pb2.RegisterAgentResponse(
            agent_id=self.agent_id, heartbeat_interval_seconds=15
        )

    async def Heartbeat(self, request: Any, context: Any) -> Any:
        return agent_pb2.HeartbeatResponse()

    async def UpdateStatus(self, request: Any, context: Any) -> Any:
        self.rpcs += 1
        acks = []
        for update in request.updates:
            status = update.status
            acks.append(
                agent_pb2.AcknowledgeUpdatesRequest.Ack(
                    framework_id=update.framework_id, task_id=status.task_id, uuid=status.uuid
                )
            )
            if status.state in TERMINAL:
                self.deliveries[status.task_id] += 1
                self.terminal.setdefault(status.task_id, status.state)
        self.progress.set()
        assert self.stub is not None
        job = asyncio.ensure_future(
            self.stub.AcknowledgeUpdates(agent_pb2.AcknowledgeUpdatesRequest(acks=acks))
        )
        self._acks.add(job)
        job.add_done_callback(self._acks.discard)
        return agent_pb2.UpdateStatusResponse()


async def drive(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    master = StandInMaster()
    server = grpc.aio.server()
    agent_pb2_grpc.add_AgentRegistryServicer_to_server(master, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    agent = subprocess.Popen(
        [
            *(sys.executable, "-m", "mesospy", "agent", "--master", f"127.0.0.1:{port}"),
            *("--port", "0", "--work-dir", str(work), "--isolation", args.isolation),
            *("--resources", "cpus:1000;mem:1000000", "--kill-tasks-on-exit"),
            "--allow-root-tasks",  # the benchmark's tasks name no user
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(work.parent / "agent.log", "wb"),  # noqa: SIM115
        start_new_session=True,
    )
    try:
        await asyncio.wait_for(master.registered.wait(), 30)
        assert master.stub is not None
        proc = psutil.Process(agent.pid)
        user0, sys0 = proc.cpu_times()[:2]
        per_task = Resources({"cpus": 0.01, "mem": args.task_mem}).to_proto()
        sent = 0
        start = time.perf_counter()
        deadline = start + args.timeout
        while len(master.terminal) < args.tasks and time.perf_counter() < deadline:
            while sent < args.tasks and sent - len(master.terminal) < args.window:
                count = min(args.chunk, args.tasks - sent)
                tasks = [
                    common_pb2.TaskInfo(
                        task_id=f"t{i}",
                        name=f"t{i}",
                        agent_id=master.agent_id,
                        command=common_pb2.CommandInfo(shell="true"),
                        resources=per_task,
                    )
                    for i in range(sent, sent + count)
                ]
                sent += count
                await master.stub.RunTasks(
                    agent_pb2.RunTasksRequest(framework_info=FRAMEWORK, tasks=tasks)
                )
            master.progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(master.progress.wait(), 1.0)
        elapsed = time.perf_counter() - start
        user1, sys1 = proc.cpu_times()[:2]
        user, system = user1 - user0, sys1 - sys0
        await asyncio.sleep(0.3)  # late duplicates, if any
    finally:
        agent.terminate()
        await asyncio.to_thread(agent.wait, 30)
        await server.stop(0)
    finished = sum(1 for s in master.terminal.values() if s == common_pb2.TASK_FINISHED)
    return {
        "finished": finished,
        "duplicates": sum(n - 1 for n in master.deliveries.values()),
        "seconds": elapsed,
        "tasks_per_s": finished / elapsed,
        "agent_cpu_ms_per_task": 1000 * (user + system) / args.tasks,
        "agent_sys_ms_per_task": 1000 * system / args.tasks,
        "update_rpcs": master.rpcs,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", type=int, default=3_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--chunk", type=int, default=200, help="tasks per RunTasks")
    parser.add_argument("--window", type=int, default=1_000, help="most unfinished tasks")
    parser.add_argument("--task-mem", type=float, default=4)
    parser.add_argument("--isolation", default="auto", choices=["auto", "cgroups", "posix"])
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    print(f"machine: {describe()}")
    raw = spawn_rate()
    runs = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="mesospy-bench-agent-") as tmp:
            work = Path(tmp) / "agent"
            runs.append(asyncio.run(drive(args, work)))
    print(
        f"{'run':>3} {'finished':>8} {'dups':>5} {'seconds':>8} {'tasks/s':>8} "
        "agent CPU ms/task (of it system)  update RPCs"
    )
    for i, r in enumerate(runs):
        print(
            f"{i:>3} {r['finished']:>8} {r['duplicates']:>5} {r['seconds']:>8.2f} "
            f"{r['tasks_per_s']:>8.0f} {r['agent_cpu_ms_per_task']:>17.2f} "
            f"({r['agent_sys_ms_per_task']:.2f}) {r['update_rpcs']:>13}"
        )
    rates = [r["tasks_per_s"] for r in runs]
    print(
        f"agent alone ({args.isolation}): {max(rates):,.0f} tasks/s (best of {len(rates)}, spread "
        f"{min(rates):,.0f}-{max(rates):,.0f}) | raw spawn+reap `sh -c true` {raw:,.0f}/s"
    )
    wrong = [r for r in runs if r["finished"] != args.tasks or r["duplicates"]]
    for r in wrong:
        print(
            f"WRONG: {r['finished']} of {args.tasks} finished, {r['duplicates']} duplicates",
            file=sys.stderr,
        )
    print(
        json.dumps(
            {
                "bench": "agent",
                "machine": describe(),
                "isolation": args.isolation,
                "tasks": args.tasks,
                "tasks_per_s_best": max(rates),
                "tasks_per_s_all": rates,
                "agent_cpu_ms_per_task": [r["agent_cpu_ms_per_task"] for r in runs],
                "raw_spawn_per_s": raw,
                "correct": not wrong,
            }
        )
    )
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
