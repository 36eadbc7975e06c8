"""The ``mesospy`` command as a user runs it: real processes, real cluster."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil

from mesospy.testing import LocalCluster, free_port
from mesospy.testing.cli import run_mesospy

ROOT = Path(__file__).resolve().parents[2]


def mesospy(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return run_mesospy(*args, timeout=timeout)


def test_run_streams_output_and_exits_zero(cluster: LocalCluster) -> None:
    result = mesospy("run", "--master", cluster.master_address, "--", "echo", "hello")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello\n"


def test_run_exits_with_the_tasks_exit_code(cluster: LocalCluster) -> None:
    result = mesospy(
        "run", "--master", cluster.master_address, "--", "sh", "-c", "echo oops >&2; exit 3"
    )
    assert result.returncode == 3
    assert "oops" in result.stderr


def test_run_with_env_and_shell(cluster: LocalCluster) -> None:
    result = mesospy(
        "run",
        "--master",
        cluster.master_address,
        "-e",
        "WHO=world",
        "--shell",
        "--",
        "echo",
        "hello",
        "$WHO",
        "from",
        "$MESOS_TASK_ID",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("hello world from run-")


def test_run_without_a_master_says_so_in_one_line() -> None:
    address = f"127.0.0.1:{free_port()}"
    result = mesospy("run", "--master", address, "--", "true", timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith(f"mesospy: error: cannot reach the master at {address}")
    assert len(result.stderr.splitlines()) == 1


def test_bad_master_address_is_one_line() -> None:
    result = mesospy("run", "--master", "nohost:99999", "--", "true")
    assert result.returncode == 2
    assert "bad port" in result.stderr
    assert "Traceback" not in result.stderr


def test_agent_with_bad_resources_exits_2_with_one_line(tmp_path: Path) -> None:
    result = mesospy("agent", "--work-dir", str(tmp_path), "--resources", "cpus:-1;mem:64")
    assert result.returncode == 2
    assert "cpus" in result.stderr
    assert "Traceback" not in result.stderr


def test_agent_with_bad_attributes_exits_2(tmp_path: Path) -> None:
    result = mesospy("agent", "--work-dir", str(tmp_path), "--attributes", "rack")
    assert result.returncode == 2
    assert "attribute" in result.stderr


def test_master_on_a_taken_port_fails_in_one_line(cluster: LocalCluster, tmp_path: Path) -> None:
    result = mesospy("master", "--port", str(cluster.master_port), "--work-dir", str(tmp_path))
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert lines and "cannot listen" in lines[-1]
    assert "Traceback" not in result.stderr


def test_hello_example_runs_100_tasks(cluster: LocalCluster) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "hello.py"),
            "--tasks",
            "100",
            "--master",
            cluster.master_address,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_local_runs_a_command_against_its_cluster(tmp_path: Path) -> None:
    # --port 0: a port picked free here could be taken by another process before the master
    # binds it; LocalCluster picks one itself (and again if it was taken).
    result = mesospy(
        "local",
        "--port",
        "0",
        "--work-dir",
        str(tmp_path),
        "--once",
        "--",
        sys.executable,
        "-m",
        "mesospy",
        "run",
        "--",
        "sh",
        "-c",
        "exit 4",
        timeout=120,
    )
    assert result.returncode == 4, result.stdout + result.stderr
    printed = re.search(r"master at 127\.0\.0\.1:(\d+)\n", result.stdout)
    assert printed is not None and int(printed[1]) > 0, result.stdout


def test_local_refuses_a_taken_port(cluster: LocalCluster) -> None:
    result = mesospy("local", "--port", str(cluster.master_port))
    assert result.returncode == 1
    assert "in use" in result.stderr


def test_local_stops_everything_on_sigterm(tmp_path: Path) -> None:
    local = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mesospy",
            "local",
            "--port",
            "0",
            "--work-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert local.stdout is not None
    for line in local.stdout:
        if "running;" in line:
            break
    children = psutil.Process(local.pid).children(recursive=True)
    assert len(children) >= 3  # master and two agents
    local.send_signal(signal.SIGTERM)
    assert local.wait(timeout=30) == 0
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive


def test_local_prints_metrics_urls_that_serve(tmp_path: Path) -> None:
    local = subprocess.Popen(
        [sys.executable, "-m", "mesospy", "local", "--port", "0",
         "--work-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert local.stdout is not None
    urls: list[str] = []
    try:
        for line in local.stdout:
            urls += re.findall(r"metrics at (http://\S+/metrics)", line)
            if "running;" in line:
                break
        # The master's, each of the two agents', the batch and the service framework's.
        assert len(urls) == 5, urls
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        texts = []
        for url in urls:
            with opener.open(url, timeout=10) as response:
                texts.append(response.read().decode())
        assert "mesospy_master_elected 1.0" in texts[0]
        for text in texts[1:3]:
            assert "mesospy_agent_registered 1.0" in text
            assert "mesospy_agent_tasks_launched_total" in text
        assert "mesospy_batch_jobs 0.0" in texts[3]
        assert "mesospy_service_apps 0.0" in texts[4]
    finally:
        local.send_signal(signal.SIGTERM)
        local.wait(timeout=30)


def test_local_brings_back_a_framework_that_died(tmp_path: Path) -> None:
    local = subprocess.Popen(
        [sys.executable, "-m", "mesospy", "local", "--port", "0", "--work-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )

    def batch_processes() -> list[psutil.Process]:
        children = psutil.Process(local.pid).children(recursive=True)
        return [p for p in children if "batch" in p.cmdline() and "serve" in p.cmdline()]

    try:
        assert local.stdout is not None
        for line in local.stdout:
            if "running;" in line:
                break
        batch = batch_processes()
        assert len(batch) == 1
        batch[0].kill()
        said = []
        for line in local.stdout:
            said.append(line.strip())
            if "batch framework restarted" in line:
                break
        assert any(re.search(r"batch framework exited \(-9\); restarting in \d", s) for s in said)
        again = batch_processes()
        assert len(again) == 1 and again[0].pid != batch[0].pid
    finally:
        local.send_signal(signal.SIGTERM)
        local.wait(timeout=30)
