"""LocalCluster picks free ports before its daemons bind them; one taken meanwhile (by any
process on a busy machine) must not fail the cluster: the daemon goes again on new ports."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import mesospy.cluster
from mesospy.testing import LocalCluster, free_port


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another process holds (listening, as a daemon would)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_daemons_whose_port_was_taken_start_again_on_new_ports(
    tmp_path: Path, taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The master is given the taken port twice in a row, then the agent's metrics port is.
    picks = iter([taken_port, taken_port])
    monkeypatch.setattr(mesospy.cluster, "free_port", lambda: next(picks, None) or free_port())
    with LocalCluster(agents=1, work_dir=tmp_path, agent_resources="cpus:1;mem:256") as cluster:
        assert cluster.master is not None
        assert cluster.master.port == cluster.master_port != taken_port
        assert cluster.master.port_changes == 2
        picks = iter([free_port(), taken_port])  # the agent's port, its metrics port
        cluster.metrics = True
        agent = cluster.add_agent()
        assert agent.metrics_port != taken_port and agent.port_changes == 1
        assert cluster.agent_daemon(cluster.state().agents[-1].agent_info.id) in (
            cluster.agent_daemons
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        assert agent.metrics_url is not None
        with opener.open(agent.metrics_url, timeout=30) as response:
            assert b"mesospy_agent_registered" in response.read()
        assert "Address already in use" in cluster.master.log.read_text()


def test_a_port_given_by_the_caller_is_not_changed(tmp_path: Path, taken_port: int) -> None:
    cluster = LocalCluster(agents=1, work_dir=tmp_path, master_port=taken_port)
    try:
        with pytest.raises(mesospy.cluster.ClusterError, match="master exited"):
            cluster.start(timeout=60)
        assert cluster.master_port == taken_port
    finally:
        cluster.stop()


@pytest.mark.parametrize("framework", ["batch", "service"])
def test_a_framework_server_does_not_share_a_taken_port(tmp_path: Path, framework: str) -> None:
    # gRPC servers bind with SO_REUSEPORT unless told not to: a second server on the port
    # of another (e.g. a port picked free by two tests at once) would silently get half of
    # its connections.
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "mesospy", framework, "serve", "--master", "127.0.0.1:1",
             "--state", str(tmp_path / framework), "--port", str(port)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert result.returncode != 0
    assert "Address already in use" in result.stderr


def test_a_master_whose_port_another_master_took_is_not_mistaken_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The other master answers on the port too: the cluster must wait for its own.
    with LocalCluster(agents=1, work_dir=tmp_path / "other") as other:
        picks = iter([other.master_port])
        monkeypatch.setattr(mesospy.cluster, "free_port", lambda: next(picks, None) or free_port())
        with LocalCluster(agents=2, work_dir=tmp_path / "ours") as ours:
            assert ours.master is not None and ours.master.port_changes == 1
            assert ours.master_port != other.master_port
            assert len(ours.state().agents) == 2
            assert len(other.state().agents) == 1
