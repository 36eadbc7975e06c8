"""Tasks from container images end to end: a real master and agent, a real registry, and
the task in its own mount and PID namespaces with the image as its root."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from mesospy.agent.containers.rootfs import mounted_under
from mesospy.cluster import free_port
from mesospy.resources import Reservation, Resources, Volume
from mesospy.scheduler import calls, executor, executor_task, is_terminal, task
from mesospy.testing import FrameworkHarness, LocalCluster, TaskQueueScheduler
from mesospy.testing.prometheus import scrape
from mesospy.testing.registry import (
    RegistryImages,
    RegistryProxy,
    busybox_image,
    write_docker_archive,
)
from mesospy.v1 import common_pb2 as pb

R = pb.TaskStatus
FAST = ["--allocation-interval", "0.2"]


@pytest.fixture(scope="module")
def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A host directory the agent lets image tasks mount (--allowed-host-paths)."""
    path = tmp_path_factory.mktemp("shared")
    (path / "in.txt").write_text("from the host\n")
    return path


@pytest.fixture(scope="module")
def image_cluster(
    tmp_path_factory: pytest.TempPathFactory, shared_dir: Path
) -> Iterator[LocalCluster]:
    with LocalCluster(
        agents=1,
        work_dir=tmp_path_factory.mktemp("images"),
        agent_resources="cpus:8;mem:4096;disk:4096",
        master_flags=FAST,
        agent_flags=["--allowed-host-paths", str(shared_dir)],
        metrics=True,
    ) as c:
        yield c


@pytest.fixture
def fw(image_cluster: LocalCluster) -> Iterator[FrameworkHarness]:
    with FrameworkHarness(image_cluster.master_address, name="images") as harness:
        yield harness


@contextlib.contextmanager
def _own_cluster(tmp_path: Path, name: str) -> Iterator[tuple[LocalCluster, FrameworkHarness]]:
    """A cluster of one agent for one test (one whose agent is killed and restarted)."""
    with (
        LocalCluster(
            agents=1,
            work_dir=tmp_path / "cluster",
            agent_resources="cpus:2;mem:512;disk:512",
            master_flags=FAST,
        ) as cluster,
        FrameworkHarness(cluster.master_address, name=name) as harness,
    ):
        yield cluster, harness


def _final(fw: FrameworkHarness, task_id: str, timeout: float = 60.0) -> pb.TaskStatus:
    fw.wait(lambda: is_terminal(fw.latest_states().get(task_id, 0)), timeout, f"{task_id} to end")
    return [s for s in fw.tasks.statuses if s.task_id == task_id][-1]


def _output(cluster: LocalCluster, task_id: str, name: str = "stdout") -> str:
    assert cluster.work_dir is not None
    (path,) = cluster.work_dir.glob(f"agent-*/frameworks/*/tasks/{task_id}/{name}")
    return path.read_text()


def _finished(cluster: LocalCluster, fw: FrameworkHarness, task_id: str) -> str:
    status = _final(fw, task_id)
    stderr = _output(cluster, task_id, "stderr")
    assert status.state == pb.TASK_FINISHED, (status.message, stderr)
    return _output(cluster, task_id)


def test_a_task_sees_its_image_as_root_and_only_its_own_processes(
    images: RegistryImages, image_cluster: LocalCluster, fw: FrameworkHarness
) -> None:
    script = (
        "cat /etc/os-release; echo pid=$$; ps -o pid,comm > /tmp/ps; cat /tmp/ps; "
        "echo sandbox=$MESOS_SANDBOX; echo var=$IMAGE_VAR; echo > $MESOS_SANDBOX/written; "
        "test -e /usr/bin/python3 && echo HOST-FILES-VISIBLE; pwd; id -u; cat hello.txt"
    )
    fw.submit([task("look", script, "cpus:0.1;mem:32", image=images.name())])
    out = _finished(image_cluster, fw, "look")
    assert "ID=mesospy-test" in out and "Debian" not in out
    assert "pid=1\n" in out
    # ps sees two processes: the task's shell (pid 1) and ps itself.
    listed = out.split("PID", 1)[1].split("sandbox=")[0].split("\n")[1:-1]
    assert [line.split()[1] for line in listed] == ["sh", "ps"], listed
    assert listed[0].split()[0] == "1"
    assert "sandbox=/mnt/mesos/sandbox" in out and "var=from-image" in out
    assert "HOST-FILES-VISIBLE" not in out
    assert "/srv/app\n0\nhello from the image\n" in out  # WorkingDir; root by default
    assert image_cluster.work_dir is not None
    assert list(image_cluster.work_dir.glob("agent-*/frameworks/*/tasks/look/written"))
    # Ended: its root is unmounted and gone.
    fw.wait(
        lambda: not any(image_cluster.work_dir.glob("agent-0/containers/[0-9a-f]*/root")),  # type: ignore[union-attr]
        10,
        "the task's root to be removed",
    )


def test_the_images_entrypoint_cmd_workdir_env_and_user_are_honoured(
    images: RegistryImages, image_cluster: LocalCluster, fw: FrameworkHarness
) -> None:
    image = busybox_image(
        os_id="entrypoint",
        env=["PATH=/bin", "GREETING=hello", "WHO=image"],
        entrypoint=["/bin/sh", "-c", 'echo "entry $0 $1"; pwd; id -un; echo "$GREETING $WHO"'],
        cmd=["cmd-arg", "more"],
        working_dir="/home/app",
        user="app",
    )
    images.registry.push("test/entry", "1", image)
    name = images.name("test/entry")
    fw.submit(
        [
            task("image-cmd", [], "cpus:0.1;mem:32", image=name),
            task("argv", ["given", "args"], "cpus:0.1;mem:32", image=name, env={"WHO": "task"}),
            task("shell", "echo shell $(id -u) $PWD", "cpus:0.1;mem:32", image=name),
        ]
    )
    assert (
        _finished(image_cluster, fw, "image-cmd")
        == "entry cmd-arg more\n/home/app\napp\nhello image\n"
    )
    assert _finished(image_cluster, fw, "argv") == "entry given args\n/home/app\napp\nhello task\n"
    # A shell command runs instead of the Entrypoint and Cmd, as the image's user.
    assert _finished(image_cluster, fw, "shell") == "shell 1000 /home/app\n"


def test_an_unknown_image_or_a_registry_that_is_down_fails_the_task(
    images: RegistryImages, fw: FrameworkHarness
) -> None:
    unknown = images.name("test/nothing-here")
    down = f"127.0.0.1:{free_port()}/test/busybox:1"
    fw.submit(
        [
            task("unknown", "true", "cpus:0.1;mem:32", image=unknown),
            task("down", "true", "cpus:0.1;mem:32", image=down),
        ]
    )
    for task_id, name, cause in (("unknown", unknown, "not found"), ("down", down, "refused")):
        status = _final(fw, task_id)
        assert status.state == pb.TASK_FAILED
        assert status.reason == R.REASON_CONTAINER_LAUNCH_FAILED
        assert name in status.message and cause in status.message, status.message


def test_two_tasks_of_one_image_at_once_download_it_once(
    images: RegistryImages, proxy: RegistryProxy, fw: FrameworkHarness, image_cluster: LocalCluster
) -> None:
    images.registry.push("test/shared", "1", busybox_image(os_id="shared"))
    name = f"{proxy.host}/test/shared:1"
    metrics_url = image_cluster.agent_daemons[0].metrics_url
    assert metrics_url is not None
    before = scrape(metrics_url).get("mesospy_agent_image_blob_downloads_total")
    proxy.hold_blobs()
    fw.submit(
        [task(f"pair-{i}", "cat /etc/os-release", "cpus:0.1;mem:32", image=name) for i in range(2)]
    )
    proxy.wait_for(lambda p: p.blob_requests() >= 1)
    proxy.release()
    for i in range(2):
        assert "ID=shared" in _finished(image_cluster, fw, f"pair-{i}")
    assert proxy.blob_requests() == 2  # one layer and one config, for both tasks
    after = scrape(metrics_url).get("mesospy_agent_image_blob_downloads_total")
    assert after - before == 2
    assert proxy.requests["GET /v2/test/shared/manifests/1"] == 1


def test_a_task_killed_while_its_image_is_pulled_is_killed(
    images: RegistryImages, proxy: RegistryProxy, fw: FrameworkHarness
) -> None:
    images.registry.push("test/slow", "1", busybox_image(os_id="slow"))
    proxy.hold_blobs()
    fw.submit([task("slow", "true", "cpus:0.1;mem:32", image=f"{proxy.host}/test/slow:1")])
    proxy.wait_for(lambda p: p.blob_requests() >= 1)
    fw.driver.kill("slow")
    status = _final(fw, "slow")
    proxy.release()
    assert status.state == pb.TASK_KILLED, status.message
    assert status.reason == R.REASON_TASK_KILLED_DURING_LAUNCH


def test_agents_say_whether_they_run_images_and_the_master_shows_tasks_images(
    images: RegistryImages, image_cluster: LocalCluster, fw: FrameworkHarness
) -> None:
    (agent,) = image_cluster.state().agents
    assert agent.agent_info.attributes["mesospy.images"] == "true"
    fw.submit([task("shown", "sleep 60", "cpus:0.1;mem:32", image=images.name())])
    fw.wait(lambda: fw.latest_states().get("shown") == pb.TASK_RUNNING, 30, "shown to run")
    (shown,) = [t for t in image_cluster.state().tasks if t.task_id == "shown"]
    assert shown.container.mesos.image.docker.name == images.name()
    fw.driver.kill("shown")
    assert _final(fw, "shown").state == pb.TASK_KILLED


def test_an_agent_that_cannot_run_images_fails_their_tasks_at_launch(
    images: RegistryImages, tmp_path: Path
) -> None:
    with LocalCluster(
        agents=1,
        work_dir=tmp_path,
        agent_resources="cpus:2;mem:512;disk:512",
        master_flags=FAST,
        agent_flags=["--no-container-images"],
    ) as cluster:
        (agent,) = cluster.state().agents
        assert agent.agent_info.attributes["mesospy.images"] == "false"
        with FrameworkHarness(cluster.master_address, name="no-images") as harness:
            harness.submit(
                [
                    task("refused", "true", "cpus:0.1;mem:32", image=images.name()),
                    task("plain", "true", "cpus:0.1;mem:32"),
                ]
            )
            status = _final(harness, "refused")
            assert status.state == pb.TASK_FAILED
            assert status.reason == R.REASON_CONTAINER_LAUNCH_FAILED
            assert images.name() in status.message
            assert "--no-container-images" in status.message
            assert _final(harness, "plain").state == pb.TASK_FINISHED


def _mesospy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mesospy", *args],
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )


def test_mesospy_run_image_streams_the_output_and_exit_code(
    images: RegistryImages, image_cluster: LocalCluster
) -> None:
    master = image_cluster.master_address
    ran = _mesospy(
        "run", "--master", master, "--image", images.name(), "--", "cat", "/etc/os-release"
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("ID=mesospy-test\n")
    image = busybox_image(os_id="cli", entrypoint=["/bin/echo", "entry"], cmd=["from-cmd"])
    images.registry.push("test/cli", "1", image)
    own = _mesospy("run", "--master", master, "--image", images.name("test/cli"))
    assert (own.returncode, own.stdout) == (0, "entry from-cmd\n"), own.stderr
    failing = _mesospy(
        "run", "--master", master, "--image", images.name(), "--shell", "--", "exit 3"
    )
    assert failing.returncode == 3, failing.stderr
    bad = _mesospy("run", "--master", master, "--image", "Bad Name", "--", "true")
    assert bad.returncode == 2 and "bad repository component" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = _mesospy("run", "--master", master)
    assert missing.returncode == 2 and "--image" in missing.stderr


def test_an_agent_restart_during_a_pull_fails_the_task_and_leaves_nothing_behind(
    images: RegistryImages, proxy: RegistryProxy, tmp_path: Path
) -> None:
    images.registry.push("test/restart", "1", busybox_image(os_id="restart"))
    name = f"{proxy.host}/test/restart:1"
    with _own_cluster(tmp_path, "restart") as (cluster, harness):
        proxy.hold_blobs()
        harness.submit([task("pulling", "true", "cpus:0.1;mem:32", image=name)])
        proxy.wait_for(lambda p: p.blob_requests() >= 1)
        agent = cluster.agent_daemons[0]
        agent.signal(signal.SIGKILL)
        assert agent.process is not None
        agent.process.wait(10)
        proxy.release()
        agent.start()
        status = _final(harness, "pulling")
        assert status.state == pb.TASK_FAILED
        assert status.reason == R.REASON_AGENT_RESTARTED, status.message
        # The image is had afterwards as if nothing happened; a long task is left running.
        harness.submit(
            [
                task("after", "cat /etc/os-release", "cpus:0.1;mem:32", image=name),
                task("long", "sleep 600", "cpus:0.1;mem:32", image=name,
                     health_check=pb.HealthCheck(
                         type=pb.HealthCheck.COMMAND,
                         # The image's Env, seen by the check (not the agent's).
                         command=pb.CommandInfo(shell='test "$IMAGE_VAR" = from-image'),
                         delay_seconds=0, interval_seconds=0.3, grace_period_seconds=1,
                         consecutive_failures=1000,
                     )),
            ]
        )  # fmt: skip
        assert "ID=restart" in _finished(cluster, harness, "after")
        harness.wait(
            lambda: harness.latest_states().get("long") == pb.TASK_RUNNING,
            30,
            "the long task to run",
        )
        # Its root's mounts are in its own namespace only, none in the agent's.
        assert mounted_under(tmp_path / "cluster") == []
        containers = tmp_path / "cluster/agent-0/containers"
        assert len(list(containers.glob("[0-9a-f]*"))) == 1

        # An agent restarted under a running image task takes it back; a kill then ends it
        # and its root goes.
        def verdicts() -> list[bool]:
            with harness.tasks.changed:
                return [
                    st.healthy
                    for st in harness.tasks.statuses
                    if st.task_id == "long" and st.HasField("healthy")
                ]

        harness.wait(lambda: verdicts() == [True], 30, "the long task's check to pass")
        agent.signal(signal.SIGKILL)
        agent.process.wait(10)
        agent.start()
        # Taken back, its check runs again in its image, with the image's Env.
        harness.wait(lambda: len(verdicts()) > 1, 30, "a check verdict after the restart")
        assert verdicts()[1] is True, verdicts()
        for _ in range(10):  # a kill sent before the agent is back may not reach it
            harness.driver.kill("long")
            with contextlib.suppress(TimeoutError):
                final = _final(harness, "long", timeout=5)
                break
        assert final.state == pb.TASK_KILLED, final.message
        harness.wait(lambda: not list(containers.glob("[0-9a-f]*")), 15, "the root removed")
    assert list((tmp_path / "cluster/agent-0/containers").glob("[0-9a-f]*")) == []


def test_host_and_sandbox_volumes_are_mounted_as_asked(
    images: RegistryImages, image_cluster: LocalCluster, fw: FrameworkHarness, shared_dir: Path
) -> None:
    script = (
        "cat /data/in.txt; touch /data/new 2>/dev/null || echo read-only; "
        "echo scratch > /var/scratch/out; echo rw > $MESOS_SANDBOX/shared/written; ls /data"
    )
    volumes = task("volumes", script, "cpus:0.1;mem:32", image=images.name())
    volumes.container.volumes.add(
        host_path=str(shared_dir), container_path="/data", mode=pb.Volume.RO
    )
    volumes.container.volumes.add(host_path="scratch", container_path="/var/scratch")
    # A relative container_path is in the sandbox (as the task sees it); read-write.
    volumes.container.volumes.add(host_path=str(shared_dir), container_path="shared")
    outside = task("outside", "true", "cpus:0.1;mem:32", image=images.name())
    outside.container.volumes.add(host_path="/etc", container_path="/hostetc")
    fw.submit([volumes, outside])
    out = _finished(image_cluster, fw, "volumes")
    # The same host directory, written through the read-write mount, seen through both.
    assert out == "from the host\nread-only\nin.txt\nwritten\n"
    assert not (shared_dir / "new").exists()
    assert image_cluster.work_dir is not None
    (sandbox,) = image_cluster.work_dir.glob("agent-*/frameworks/*/tasks/volumes")
    assert (sandbox / "scratch/out").read_text() == "scratch\n"
    assert (shared_dir / "written").read_text() == "rw\n"
    refused = _final(fw, "outside")
    assert refused.state == pb.TASK_FAILED
    assert refused.reason == R.REASON_CONTAINER_LAUNCH_FAILED
    assert "'/etc'" in refused.message and "--allowed-host-paths" in refused.message


def test_a_persistent_volume_is_mounted_in_an_image_tasks_sandbox(
    images: RegistryImages, image_cluster: LocalCluster
) -> None:
    eng = Reservation("eng", "", kind="DYNAMIC")
    disk = Resources.parse("disk:16").reserve(eng)
    volume = disk.with_volume(Volume("img-1", "data"))
    scheduler = TaskQueueScheduler(hold_offers=True)
    with FrameworkHarness(image_cluster.master_address, scheduler, roles=["eng"]) as fw:
        fw.wait(lambda: bool(scheduler.offers_seen), 30, "an offer")
        offer = scheduler.offers_seen[-1]
        writer = task(
            "in-volume",
            "echo kept > /mnt/mesos/sandbox/data/out",
            Resources.parse("cpus:0.1;mem:32") + volume,
            image=images.name(),
            agent_id=offer.agent_id,
        )
        operations = [calls.reserve(disk), calls.create_volumes(volume)]
        fw.call(calls.accept([offer.id], [*operations, calls.launch_operation([writer])]))
        _finished(image_cluster, fw, "in-volume")
    assert image_cluster.work_dir is not None
    (kept,) = image_cluster.work_dir.glob("agent-*/volumes/roles/eng/img-1/out")
    assert kept.read_text() == "kept\n"


def test_the_agent_refuses_bad_image_flags(tmp_path: Path) -> None:
    for flag, value, words in (
        ("--allowed-host-paths", "/srv,relative", "'relative' is not an absolute path"),
        ("--image-registry-mirror", "registry:5000", "not an http:// or https:// URL"),
        ("--image-rootfs-backend", "zfs", "'zfs' is not one of"),
    ):
        result = _mesospy("agent", "--work-dir", str(tmp_path), flag, value)
        assert result.returncode == 2, result.stderr
        assert flag in result.stderr and words in result.stderr
        assert "Traceback" not in result.stderr


def test_an_image_task_is_held_to_its_memory_limit(
    images: RegistryImages, fw: FrameworkHarness
) -> None:
    # busybox tail keeps the whole last "line" of /dev/zero: it grows until stopped.
    hog = task("hog", "head -c 200000000 /dev/zero | tail -n 1 > /dev/null", "cpus:0.1;mem:32",
               image=images.name())  # fmt: skip
    fw.submit([hog])
    status = _final(fw, "hog")
    assert status.state == pb.TASK_FAILED
    assert status.reason == R.REASON_CONTAINER_LIMITATION_MEMORY, status.message


def test_a_task_runs_from_a_docker_save_archive_on_the_agent(
    image_cluster: LocalCluster, fw: FrameworkHarness, tmp_path: Path
) -> None:
    archive = write_docker_archive(busybox_image(os_id="air-gapped"), tmp_path / "image.tar")
    name = f"file://{archive}"
    fw.submit([task("saved", "head -1 /etc/os-release", "cpus:0.1;mem:32", image=name)])
    assert _finished(image_cluster, fw, "saved") == "ID=air-gapped\n"
    fw.submit([task("no-file", "true", "cpus:0.1;mem:32", image=f"file://{tmp_path}/none.tar")])
    status = _final(fw, "no-file")
    assert status.state == pb.TASK_FAILED and "none.tar" in status.message, status.message


def test_a_command_health_check_runs_inside_the_tasks_image(
    images: RegistryImages, fw: FrameworkHarness
) -> None:
    def check(shell: str) -> pb.HealthCheck:
        return pb.HealthCheck(
            type=pb.HealthCheck.COMMAND,
            command=pb.CommandInfo(shell=shell),
            delay_seconds=0,
            interval_seconds=0.3,
            grace_period_seconds=0,
        )

    inside = 'test -f /srv/app/hello.txt && test "$IMAGE_VAR" = from-image && test $$ != 1'
    fw.submit(
        [
            task("checked", "sleep 60", "cpus:0.1;mem:32", image=images.name(),
                 health_check=check(inside), kill_grace_period=0),
            task("host-check", "sleep 60", "cpus:0.1;mem:32", image=images.name(),
                 health_check=check("test -e /usr/bin/python3"), kill_grace_period=0),
        ]
    )  # fmt: skip

    def healthy(task_id: str) -> bool | None:
        for status in reversed(fw.tasks.statuses):
            if status.task_id == task_id and status.HasField("healthy"):
                return status.healthy
        return None

    # (A check made before the task's namespaces exist fails; the next ones pass.)
    fw.wait(lambda: healthy("checked") is True, 30, "the check to pass")
    fw.wait(lambda: healthy("host-check") is not None, 30, "a health verdict")
    assert healthy("host-check") is False  # not the host's files
    for task_id in ("checked", "host-check"):
        fw.driver.kill(task_id)
        assert _final(fw, task_id).state == pb.TASK_KILLED


def test_without_a_workingdir_an_image_task_starts_in_its_sandbox(
    images: RegistryImages, image_cluster: LocalCluster
) -> None:
    images.registry.push("test/nowd", "1", busybox_image(os_id="nowd", working_dir=""))
    master = image_cluster.master_address
    ran = _mesospy("run", "--master", master, "--image", images.name("test/nowd"), "--", "pwd")
    assert (ran.returncode, ran.stdout) == (0, "/mnt/mesos/sandbox\n"), ran.stderr


def test_a_custom_executor_runs_in_its_image(
    images: RegistryImages, image_cluster: LocalCluster, fw: FrameworkHarness
) -> None:
    # busybox has no Python to speak the executor API: the executor shows where it runs,
    # then exits, which fails its task (as any executor that exits does).
    seen = "/mnt/mesos/sandbox/seen"
    script = (
        f"cat /etc/os-release > {seen}; echo pid=$$ >> {seen}; "
        f"echo sandbox=$MESOS_SANDBOX >> {seen}; echo agent=$MESOS_AGENT_ENDPOINT >> {seen}; "
        "exit 3"
    )
    info = executor("in-image", script, "cpus:0.1;mem:32", image=images.name())
    fw.submit([executor_task("via-image", info, "cpus:0.1;mem:32")])
    status = _final(fw, "via-image")
    assert status.state == pb.TASK_FAILED, status.message
    assert status.reason == R.REASON_EXECUTOR_TERMINATED
    assert "exited with status 3" in status.message
    fw.wait(lambda: any(f[1] == "in-image" for f in fw.tasks.failures), 10, "the FAILURE")
    assert [f[2] for f in fw.tasks.failures if f[1] == "in-image"] == [3]
    assert image_cluster.work_dir is not None
    (written,) = image_cluster.work_dir.glob("agent-*/frameworks/*/executors/in-image/seen")
    text = written.read_text()
    assert "ID=mesospy-test" in text and "pid=1\n" in text
    assert "sandbox=/mnt/mesos/sandbox\n" in text and "agent=127.0.0.1:" in text
    fw.wait(
        lambda: not any(image_cluster.work_dir.glob("agent-0/containers/[0-9a-f]*/root")),  # type: ignore[union-attr]
        10,
        "the executor's root to be removed",
    )


def test_image_tasks_start_from_the_agents_fork_server_and_report_how_they_end(
    images: RegistryImages, image_cluster: LocalCluster, fw: FrameworkHarness
) -> None:
    """No util-linux between the agent and the task: the task's pid 1 is a child of the
    agent's fork server. Its exit code and a kill reach the framework as for any task."""
    fw.submit(
        [
            task("marker", "sleep 31415", "cpus:0.1;mem:32", image=images.name()),
            task("three", "exit 3", "cpus:0.1;mem:32", image=images.name()),
        ]
    )
    failed = _final(fw, "three")
    assert failed.state == pb.TASK_FAILED and failed.message == "exited with status 3"
    fw.wait(lambda: fw.latest_states().get("marker") == pb.TASK_RUNNING, 30, "marker to run")

    def marker() -> psutil.Process | None:
        for proc in psutil.process_iter(["cmdline"]):
            if proc.info["cmdline"] == ["sleep", "31415"]:
                return proc
        return None

    fw.wait(lambda: marker() is not None, 10, "the task's sleep to start")
    sleep = marker()
    assert sleep is not None
    ancestry = [" ".join(p.cmdline()) for p in sleep.parents()]
    # The shell (pid 1 of its namespace) exec'd the sleep; above it the server, then
    # the agent.
    assert "forkserver_main.py" in ancestry[0], ancestry
    assert "agent" in ancestry[1] and "forkserver" not in ancestry[1], ancestry
    assert not any("unshare" in cmd for cmd in ancestry), ancestry
    fw.driver.kill("marker")
    assert _final(fw, "marker").state == pb.TASK_KILLED


def test_exit_codes_of_image_tasks_survive_an_agent_restart(
    images: RegistryImages, tmp_path: Path
) -> None:
    """The fork server outlives a killed agent and records how its tasks end: one that
    ends while the agent is down, and one that ends after the restarted agent took it back
    (its status written just after it ends), both report their own exit codes."""
    wait_then = "mkfifo $MESOS_SANDBOX/go && read x < $MESOS_SANDBOX/go; exit {}"
    check = pb.HealthCheck(
        type=pb.HealthCheck.COMMAND,
        command=pb.CommandInfo(shell="true"),
        delay_seconds=0,
        interval_seconds=0.3,
        grace_period_seconds=1,
        consecutive_failures=1000,
    )
    with _own_cluster(tmp_path, "codes") as (cluster, harness):
        harness.submit(
            [
                task("down", wait_then.format(6), "cpus:0.1;mem:32", image=images.name()),
                task(
                    "back",
                    wait_then.format(7),
                    "cpus:0.1;mem:32",
                    image=images.name(),
                    health_check=check,
                ),
            ]
        )

        def fifo(task_id: str) -> Path:
            found = list(cluster.work_dir.glob(f"agent-0/frameworks/*/tasks/{task_id}/go"))  # type: ignore[union-attr]
            return found[0] if found else Path("/nonexistent")

        harness.wait(lambda: fifo("down").exists() and fifo("back").exists(), 30, "fifos")

        def checks() -> int:
            with harness.tasks.changed:
                return sum(
                    1
                    for s in harness.tasks.statuses
                    if s.task_id == "back" and s.HasField("healthy")
                )

        harness.wait(lambda: checks() >= 1, 30, "a health check verdict")
        agent = cluster.agent_daemons[0]
        agent.signal(signal.SIGKILL)
        assert agent.process is not None
        agent.process.wait(10)
        with open(fifo("down"), "w") as f:  # ends while the agent is down
            f.write("\n")
        down_pid = [
            p
            for p in psutil.process_iter(["cmdline"])
            if "exit 6" in " ".join(p.info["cmdline"] or [])
        ]
        for proc in down_pid:
            proc.wait(10)
        seen = checks()
        agent.start()
        harness.wait(lambda: checks() > seen, 30, "a verdict from the restarted agent")
        with open(fifo("back"), "w") as f:  # ends after the agent took it back
            f.write("\n")
        for task_id, code in (("down", 6), ("back", 7)):
            status = _final(harness, task_id)
            assert status.state == pb.TASK_FAILED, (task_id, status.message)
            assert status.message == f"exited with status {code}", (task_id, status.message)
