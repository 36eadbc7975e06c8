"""The agent runs real processes and reports how they end."""

from __future__ import annotations

import asyncio
import os
import pwd
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest
from test_agent_harness import Cluster, cluster, task, wait_for

from mesospy.agent.task_env import DEFAULT_PATH
from mesospy.cluster import free_port
from mesospy.v1 import agent_pb2, common_pb2

R = common_pb2.TaskStatus


def test_finished_and_failed_exit_codes(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as c:
            await c.run(task("ok", "exit 0"), task("bad", "exit 3"))
            ok = await c.terminal("ok")
            bad = await c.terminal("bad")
            assert c.master.states("ok") == ["TASK_RUNNING", "TASK_FINISHED"]
            assert ok.exit_code == 0
            assert bad.state == common_pb2.TASK_FAILED
            assert bad.exit_code == 3
            assert bad.message == "exited with status 3"
            assert bad.source == R.SOURCE_AGENT
            assert bad.agent_id == "agent-1"
            assert len(bad.uuid) == 16

    asyncio.run(scenario())


def test_launch_failure_reports_container_launch_failed(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as c:
            await c.run(
                task("noexe", argv=["/no/such/program"]),
                _as_user(task("nouser", "true"), "no-such-user-xyz"),
            )
            noexe = await c.terminal("noexe")
            assert noexe.state == common_pb2.TASK_FAILED
            assert noexe.reason == R.REASON_CONTAINER_LAUNCH_FAILED
            assert "No such file or directory" in noexe.message
            nouser = await c.terminal("nouser")
            assert nouser.reason == R.REASON_CONTAINER_LAUNCH_FAILED
            assert "no-such-user-xyz" in nouser.message

    asyncio.run(scenario())


def test_invalid_task_is_task_error(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as c:
            both = task("both", "true", argv=["/bin/true"])
            await c.run(both, task("neither"))
            for task_id in ("both", "neither"):
                status = await c.terminal(task_id)
                assert status.state == common_pb2.TASK_ERROR
                assert status.reason == R.REASON_TASK_INVALID
                assert "exactly one of command.shell and command.argv" in status.message

    asyncio.run(scenario())


def test_environment_sandbox_and_ports(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as c:
            shell = (
                'echo "$MESOS_TASK_ID|$MESOS_FRAMEWORK_ID|$MESOS_AGENT_ID|$HOST|'
                '$PORT0|$PORT1|$PORTS|$GREETING|$(pwd)" && test "$MESOS_SANDBOX" = "$(pwd)"'
            )
            info = task("env", shell, resources="cpus:0.1;mem:64;ports:[31005-31006]")
            info.command.environment["GREETING"] = "hi"
            await c.run(info)
            status = await c.terminal("env")
            assert status.state == common_pb2.TASK_FINISHED, status.message
            sandbox = tmp_path / "frameworks" / "fw-1" / "tasks" / "env"
            out = (sandbox / "stdout").read_text().strip()
            assert out == f"env|fw-1|agent-1|127.0.0.1|31005|31006|31005,31006|hi|{sandbox}"

    asyncio.run(scenario())


def test_odd_task_ids_get_escaped_sandboxes(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as c:
            await c.run(task("../../evil", "echo x"), task("..", "echo y"))
            for task_id in ("../../evil", ".."):
                assert (await c.terminal(task_id)).state == common_pb2.TASK_FINISHED
            tasks_dir = tmp_path / "frameworks" / "fw-1" / "tasks"
            assert sorted(p.name for p in tasks_dir.iterdir()) == ["%2E%2E", "..%2F..%2Fevil"]
            assert not (tmp_path / "evil").exists()

    asyncio.run(scenario())


def test_kill_with_grace_escalates_to_sigkill(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as c:
            framework = common_pb2.FrameworkInfo(
                id="fw-1", capabilities=[common_pb2.FrameworkInfo.TASK_KILLING_STATE]
            )
            stubborn = task(
                "stubborn",
                "trap '' TERM; echo ready; while :; do sleep 0.05; done",
                kill_policy=common_pb2.KillPolicy(grace_period_seconds=0.5),
            )
            await c.run(stubborn, task("polite", "sleep 30"), framework=framework)
            sandbox = tmp_path / "frameworks" / "fw-1" / "tasks" / "stubborn"
            await wait_for(lambda: "ready" in _read(sandbox / "stdout"), what="trap installed")
            loop = asyncio.get_running_loop()
            started = loop.time()
            await c.stub.KillTask(
                agent_pb2.KillTaskRequest(framework_id="fw-1", task_id="stubborn")
            )
            await c.stub.KillTask(agent_pb2.KillTaskRequest(framework_id="fw-1", task_id="polite"))
            killed = await c.terminal("stubborn")
            assert loop.time() - started >= 0.45  # it ignored SIGTERM: SIGKILL after grace
            assert killed.state == common_pb2.TASK_KILLED
            assert c.master.states("stubborn") == ["TASK_RUNNING", "TASK_KILLING", "TASK_KILLED"]
            assert (await c.terminal("polite")).state == common_pb2.TASK_KILLED
            # Killing an unknown or finished task is not an error.
            await c.stub.KillTask(agent_pb2.KillTaskRequest(framework_id="fw-1", task_id="nope"))
            await c.stub.KillTask(agent_pb2.KillTaskRequest(framework_id="fw-1", task_id="polite"))

    asyncio.run(scenario())


def _as_user(info: common_pb2.TaskInfo, user: str) -> common_pb2.TaskInfo:
    info.command.user = user
    return info


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def test_no_killing_state_without_capability(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as c:
            await c.run(task("t", "sleep 30"))
            await wait_for(lambda: c.master.states("t"), what="TASK_RUNNING")
            await c.stub.KillTask(
                agent_pb2.KillTaskRequest(
                    framework_id="fw-1",
                    task_id="t",
                    kill_policy=common_pb2.KillPolicy(grace_period_seconds=0),
                )
            )
            await c.terminal("t")
            assert c.master.states("t") == ["TASK_RUNNING", "TASK_KILLED"]

    asyncio.run(scenario())


def test_shutdown_framework_kills_its_tasks(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as c:
            other = common_pb2.FrameworkInfo(id="fw-2")
            await c.run(task("a", "sleep 30"), task("b", "sleep 30"))
            await c.run(task("c", "sleep 0.5"), framework=other)
            await c.stub.ShutdownFramework(agent_pb2.ShutdownFrameworkRequest(framework_id="fw-1"))
            for task_id in ("a", "b"):
                status = await c.terminal(task_id)
                assert status.state == common_pb2.TASK_KILLED
            assert (await c.terminal("c")).state == common_pb2.TASK_FINISHED

    asyncio.run(scenario())


def test_max_completion_time(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as c:
            await c.run(task("slow", "sleep 30", max_completion_time_seconds=0.3))
            status = await c.terminal("slow")
            assert status.state == common_pb2.TASK_FAILED
            assert status.reason == R.REASON_MAX_COMPLETION_TIME_REACHED

    asyncio.run(scenario())


# Touches every page, so the memory is really used (not just reserved).
HOG = "b = bytearray(200 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); print('survived')"


def test_memory_limit_cgroups(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path, isolation="cgroups") as c:
            assert c.agent.isolator.name.startswith("cgroups")
            await c.run(task("hog", argv=[sys.executable, "-c", HOG], resources="cpus:0.5;mem:32"))
            status = await c.terminal("hog", timeout=30)
            assert status.state == common_pb2.TASK_FAILED
            assert status.reason == R.REASON_CONTAINER_LIMITATION_MEMORY
            assert status.message == "memory limit 32 MB exceeded"

    asyncio.run(scenario())


def test_cgroups_are_reused_and_each_task_is_judged_on_its_own_oom_kills(tmp_path: Path) -> None:
    # The agent pools the cgroups of ended tasks. A task's memory cgroup is reused by the
    # next one; the one after an OOM-killed task must not be reported as over its limit.
    show = "grep memory /proc/self/cgroup"

    async def run_one(c: Cluster, task_id: str, **kw: Any) -> common_pb2.TaskStatus:
        await c.run(task(task_id, resources="cpus:0.5;mem:64", **kw))
        status = await c.terminal(task_id, timeout=30)
        # Once it is back in the pool, the next task gets this same cgroup.
        isolator = c.agent.isolator
        await wait_for(lambda: sum(map(len, isolator._idle.values())) == 1, 10, "pooled")  # type: ignore[attr-defined]
        return status

    async def scenario() -> None:
        async with cluster(tmp_path, isolation="cgroups") as c:
            first = await run_one(c, "first", shell=show)
            assert first.state == common_pb2.TASK_FINISHED
            hog = await run_one(c, "hog", argv=[sys.executable, "-c", HOG])
            assert hog.reason == R.REASON_CONTAINER_LIMITATION_MEMORY, hog.message
            # It fails on its own (exit 3), so the agent asks the cgroup why.
            after = await run_one(c, "after", shell=f"{show}; exit 3")
            assert after.state == common_pb2.TASK_FAILED
            assert after.reason != R.REASON_CONTAINER_LIMITATION_MEMORY, after.message
            assert after.exit_code == 3
            sandboxes = tmp_path / "frameworks" / "fw-1" / "tasks"
            cgroups = {(sandboxes / t / "stdout").read_text() for t in ("first", "after")}
            assert len(cgroups) == 1 and "/mesospy/" in next(iter(cgroups)), cgroups

    asyncio.run(scenario())


def test_an_agent_leaves_no_cgroups_behind_and_sweeps_what_a_crash_left(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path, isolation="cgroups") as c:
            parents: list[Path] = c.agent.isolator._scope_parents  # type: ignore[attr-defined]
            await c.run(task("one", "true", resources="cpus:0.1;mem:32"))
            assert (await c.terminal("one")).state == common_pb2.TASK_FINISHED
            assert all(p.name.startswith("agent-") for p in parents)
        # Stopped: its pooled cgroups are gone, and so are its own directories.
        assert not any(p.exists() for p in parents)
        # A crash leaves its pool behind; the next start of the same agent removes it.
        for parent in parents:
            parent.mkdir()
            (parent / "left-by-a-crash").mkdir()
        async with cluster(tmp_path, isolation="cgroups") as c:
            await wait_for(
                lambda: not any((p / "left-by-a-crash").exists() for p in parents), 10, "sweep"
            )

    asyncio.run(scenario())


def test_no_task_is_taken_while_the_agent_re_registers(tmp_path: Path) -> None:
    # A task launched then could be missing from the re-registration, and the master would
    # report it lost while it runs; the agent refuses it (UNAVAILABLE: never started).
    async def scenario() -> None:
        async with cluster(tmp_path) as c:
            c.master.unavailable = True  # the next heartbeat fails: register again
            await wait_for(lambda: not c.agent.registered.is_set(), what="lost master")
            try:
                await c.run(task("early", "true"))
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.UNAVAILABLE
                assert "re-registering" in (exc.details() or "")
            else:
                raise AssertionError("a task was taken while re-registering")
            assert c.master.terminal("early") is None
            c.master.unavailable = False
            await wait_for(c.agent.registered.is_set, what="registered again")
            await c.run(task("later", "true"))
            assert (await c.terminal("later")).state == common_pb2.TASK_FINISHED

    asyncio.run(scenario())


def test_memory_limit_posix(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path, isolation="posix", posix_sample_interval=0.1) as c:
            hog = HOG.replace("print('survived')", "import time; time.sleep(30)")
            await c.run(task("hog", argv=[sys.executable, "-c", hog], resources="mem:32"))
            status = await c.terminal("hog", timeout=30)
            assert status.state == common_pb2.TASK_FAILED
            assert status.reason == R.REASON_CONTAINER_LIMITATION_MEMORY
            assert "memory limit 32 MB exceeded" in status.message

    asyncio.run(scenario())


def test_failing_health_check_kills_task(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as c:
            check = common_pb2.HealthCheck(
                type=common_pb2.HealthCheck.COMMAND,
                command=common_pb2.CommandInfo(shell="test -f healthy"),
                delay_seconds=0,
                interval_seconds=0.1,
                timeout_seconds=2,
                grace_period_seconds=5,
                consecutive_failures=2,
            )
            # Failures before the file exists fall in the grace period and do not count;
            # then healthy, then the file goes away: unhealthy, and killed after 2 failures.
            # The test removes the file once the task was reported healthy (a loaded machine
            # may run no check at all within a fixed time).
            await c.run(task("sick", "touch healthy; sleep 30", health_check=check))
            await wait_for(
                lambda: any(s.healthy for s in c.master.statuses("sick")), what="sick healthy"
            )
            (tmp_path / "frameworks" / "fw-1" / "tasks" / "sick" / "healthy").unlink()
            status = await c.terminal("sick")
            assert status.state == common_pb2.TASK_KILLED
            assert status.reason == R.REASON_TASK_UNHEALTHY
            assert status.HasField("healthy") and not status.healthy
            health = [
                (s.healthy, s.reason)
                for s in c.master.statuses("sick")
                if s.state == common_pb2.TASK_RUNNING and s.HasField("healthy")
            ]
            changed = R.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED
            assert health == [(True, changed), (False, changed)]

    asyncio.run(scenario())


def test_http_and_tcp_health_checks_pass(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as c:
            serve = f"{sys.executable} -m http.server $PORT0 --bind 127.0.0.1"
            web_port, tcp_port = free_port(), free_port()
            http = common_pb2.HealthCheck(
                type=common_pb2.HealthCheck.HTTP,
                http=common_pb2.HealthCheck.HTTPCheck(port=web_port, path="/"),
                delay_seconds=0,
                interval_seconds=0.2,
                grace_period_seconds=10,
            )
            tcp = common_pb2.HealthCheck(
                type=common_pb2.HealthCheck.TCP,
                tcp=common_pb2.HealthCheck.TCPCheck(port=tcp_port),
                delay_seconds=0,
                interval_seconds=0.2,
                grace_period_seconds=10,
            )
            await c.run(
                task("web", serve, resources=f"ports:[{web_port}-{web_port}]", health_check=http),
                task("tcp", serve, resources=f"ports:[{tcp_port}-{tcp_port}]", health_check=tcp),
            )
            for task_id in ("web", "tcp"):
                await wait_for(
                    lambda t=task_id: any(s.healthy for s in c.master.statuses(t)),
                    what=f"{task_id} healthy",
                )

    asyncio.run(scenario())


def test_task_starts_clean_in_its_own_session(tmp_path: Path) -> None:
    # Spawned without closing descriptors one by one: every agent descriptor must be
    # close-on-exec, so the task sees only stdin, stdout and stderr. It leads its own
    # session and process group (kills go to the group), ignores no signal, and starts
    # in its sandbox.
    async def scenario() -> None:
        async with cluster(tmp_path) as c:
            shell = (
                "cut -d' ' -f5,6 /proc/$$/stat; echo $$; grep SigIgn /proc/$$/status; pwd; "
                "exec ls /proc/self/fd"
            )
            await c.run(task("clean", shell))
            status = await c.terminal("clean")
            assert status.state == common_pb2.TASK_FINISHED, status.message
            sandbox = tmp_path / "frameworks" / "fw-1" / "tasks" / "clean"
            ids, pid, ignored, cwd, *fds = (sandbox / "stdout").read_text().splitlines()
            assert fds == ["0", "1", "2", "3"]  # 3: the directory ls is reading
            assert ids == f"{pid} {pid}"
            # No signal a program can use is ignored. glibc's posix_spawn leaves its two
            # internal signals (32, 33; glibc's SIGRTMIN is 34) ignored, and nothing can
            # ask it otherwise; a glibc program installs handlers for them on first use.
            internal = (1 << 31) | (1 << 32)
            assert int(ignored.split()[1], 16) & ~internal == 0, ignored
            assert cwd == str(sandbox)

    asyncio.run(scenario())


def test_tasks_get_a_defined_environment_not_the_agents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIRTUAL_ENV", "/opt/agent-venv")
    monkeypatch.setenv("AGENT_SECRET", "s3cret")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:1/simple")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.setenv("PATH", "/opt/agent-venv/bin:/usr/bin:/bin")

    async def scenario() -> None:
        async with cluster(
            tmp_path,
            task_env_passthrough=("PIP_*",),
            executor_environment_variables={"FROM_FLAG": "1", "OVERRIDDEN": "flag"},
        ) as c:
            info = task("env", "env")
            info.command.environment["OVERRIDDEN"] = "task"
            info.command.environment["MESOS_TASK_ID"] = "forged"
            await c.run(info)
            status = await c.terminal("env")
            assert status.state == common_pb2.TASK_FINISHED, status.message
            out = (tmp_path / "frameworks" / "fw-1" / "tasks" / "env" / "stdout").read_text()
            env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
            assert "VIRTUAL_ENV" not in env and "AGENT_SECRET" not in env
            assert env["PATH"] == DEFAULT_PATH
            assert env["PIP_INDEX_URL"] == "http://127.0.0.1:1/simple"  # let through by name
            assert env["LC_ALL"] == "C.UTF-8"
            assert env["HOME"] == pwd.getpwuid(os.geteuid()).pw_dir
            assert env["USER"] == pwd.getpwuid(os.geteuid()).pw_name
            assert env["FROM_FLAG"] == "1"
            assert env["OVERRIDDEN"] == "task"  # the task's own variables win over the base
            assert env["MESOS_TASK_ID"] == "env"  # ... but not over the agent's own

    asyncio.run(scenario())
