"""Masters whose ZooKeeper goes away: real master processes, a real ZooKeeper of their own
that the test kills or freezes (SIGSTOP). A leader exits at once with a clear line, a
standby once ZooKeeper has been unreachable past its session timeout, and SIGTERM ends a
master promptly whatever ZooKeeper does."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesospy.cluster import Daemon
from mesospy.testing import LocalCluster
from mesospy.testing.zookeeper import ZooKeeperServer

MASTER_FLAGS = ["--allocation-interval", "0.2"]


@pytest.fixture
def own_zookeeper() -> Iterator[ZooKeeperServer]:
    """A ZooKeeper for this test alone: it is killed or frozen."""
    with ZooKeeperServer(tick_time_ms=500) as server:
        yield server


def _exit_code(daemon: Daemon, within: float) -> int | None:
    assert daemon.process is not None
    try:
        return daemon.process.wait(within)
    except subprocess.TimeoutExpired:
        return None


def test_masters_exit_when_zookeeper_is_gone(
    own_zookeeper: ZooKeeperServer, tmp_path: Path
) -> None:
    session = 2.0
    with LocalCluster(
        agents=0,
        masters=2,
        zk=f"zk://{own_zookeeper.hosts}/mesospy",
        work_dir=tmp_path,
        master_flags=[*MASTER_FLAGS, "--zk-session-timeout", str(session)],
    ) as cluster:
        leader = cluster.leader()
        standby = next(d for d in cluster.master_daemons if d is not leader)
        own_zookeeper.kill()
        # The leader stops leading when its connection drops, and exits.
        assert _exit_code(leader, 30) == 1, leader.tail()
        assert "lost its connection to ZooKeeper" in leader.tail()
        assert "exiting so that it restarts as a fresh contender" in leader.tail()
        # The standby keeps trying for the session timeout, then exits too.
        assert _exit_code(standby, 30) == 1, standby.tail()
        line = next(x for x in standby.tail(40).splitlines() if "unreachable for" in x)
        assert f"longer than the session timeout ({session:g} s)" in line
        assert "exiting so that a supervisor restarts this master" in line


def test_sigterm_stops_a_leader_promptly_while_zookeeper_is_frozen(
    own_zookeeper: ZooKeeperServer, tmp_path: Path
) -> None:
    # A long session: the master cannot have noticed anything by itself when it is told
    # to stop, so every ZooKeeper call on its way out meets a server that never answers.
    session = 60.0
    with LocalCluster(
        agents=0,
        zk=f"zk://{own_zookeeper.hosts}/mesospy",
        work_dir=tmp_path,
        master_flags=[*MASTER_FLAGS, "--zk-session-timeout", str(session)],
    ) as cluster:
        leader = cluster.leader()
        with own_zookeeper.paused():
            started = time.monotonic()
            leader.signal(signal.SIGTERM)
            code = _exit_code(leader, 20)
            took = time.monotonic() - started
        assert code == 0, leader.tail()
        # Well within a supervisor's grace and the session timeout, and not by the
        # last-resort deadline (15 s), which would exit with 1.
        assert took < 15, took
        assert "going on without it" in leader.tail(40)


STUCK = textwrap.dedent(
    """
    import asyncio, threading
    from mesospy.cli.common import run_until_signalled

    async def main():
        print("ready", flush=True)
        # A thread that never returns, as a kazoo call to a ZooKeeper that is gone.
        await asyncio.to_thread(threading.Event().wait)

    run_until_signalled(main(), stop_grace=1.0)
    """
)


def test_a_daemon_stuck_in_a_thread_still_exits_after_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", STUCK],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(30)
    finally:
        process.kill()
    assert code == 1
    assert process.stderr is not None
    assert "did not stop within 1 s of SIGTERM; exiting now" in process.stderr.read()
