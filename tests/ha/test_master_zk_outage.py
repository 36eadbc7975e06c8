"""Masters whose ZooKeeper goes away (issue 14.5): the leader exits, and SIGTERM stops any
master promptly whatever ZooKeeper's state. Real ZooKeeper (our own, to be killed) and
real master processes."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesospy.cluster import Daemon
from mesospy.testing import LocalCluster
from mesospy.testing.zookeeper import ZooKeeperServer

SESSION = 4.0
FLAGS = ["--zk-session-timeout", str(SESSION), "--allocation-interval", "0.2"]


@pytest.fixture
def own_zookeeper() -> Iterator[ZooKeeperServer]:
    with ZooKeeperServer() as server:
        yield server


def _exit_code(daemon: Daemon, within: float) -> int:
    assert daemon.process is not None
    try:
        return daemon.process.wait(within)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{daemon.name} still running {within}s later") from None


def _log(daemon: Daemon) -> str:
    return daemon.log.read_text(errors="replace")


def test_a_leader_without_zookeeper_exits_and_a_standby_stops_on_sigterm(
    own_zookeeper: ZooKeeperServer, tmp_path: Path
) -> None:
    with LocalCluster(
        agents=1,
        masters=2,
        zk=f"zk://{own_zookeeper.hosts}/mesospy",
        work_dir=tmp_path,
        master_flags=FLAGS,
    ) as cluster:
        leader_name = cluster.leader().name
        leader = next(d for d in cluster.master_daemons if d.name == leader_name)
        standby = next(d for d in cluster.master_daemons if d is not leader)
        own_zookeeper.kill()
        # The leader stops leading at once and exits (a supervisor restarts it as a fresh
        # contender), well within its session timeout plus its stop grace.
        start = time.monotonic()
        code = _exit_code(leader, SESSION + 15)
        assert code != 0
        assert "lost its ZooKeeper session" in _log(leader)
        took = time.monotonic() - start
        # A standby keeps contending (and says so) until it is told to stop: SIGTERM ends it
        # promptly even though ZooKeeper is still gone.
        assert standby.alive()
        standby.signal(signal.SIGTERM)
        start = time.monotonic()
        _exit_code(standby, 15)
        assert time.monotonic() - start < 15, took
