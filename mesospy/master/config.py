"""The master's settings (its command-line flags)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mesospy.security.tls import TLSConfig
from mesospy.security.zk_acl import ZooKeeperAuth


@dataclass
class MasterConfig:
    """Flags of ``mesospy master``; names and defaults follow Mesos where it has them."""

    ip: str = "127.0.0.1"
    port: int = 5050  # 0: pick a free port
    hostname: str = ""
    work_dir: Path = Path("/tmp/mesospy/master")
    # Allocation runs this often, and soon after any change that frees resources.
    allocation_interval: float = 1.0
    # Offers not answered in this long are rescinded; 0 disables the timeout.
    offer_timeout: float = 0.0
    # Agents heartbeat this often; one that misses `max_agent_ping_timeouts` in a row
    # is marked unreachable (Mesos: 15 s x 5).
    agent_ping_timeout: float = 5.0
    max_agent_ping_timeouts: int = 5
    # The master sends frameworks a HEARTBEAT event this often.
    framework_heartbeat_interval: float = 15.0
    # Terminal tasks kept for operators, per master.
    max_completed_tasks: int = 10_000
    # Refuse seconds used when a call gives none (Mesos's Filters default).
    default_refuse_seconds: float = 5.0
    # Serve Prometheus metrics over HTTP on this port (0: not at all).
    metrics_port: int = 0
    # Serve Mesos's v1 HTTP APIs (/api/v1, /api/v1/scheduler...) on this port (0: off).
    http_port: int = 0
    # Serve the web dashboard over HTTP on this port (0: not at all).
    webui_port: int = 0
    # After a master (re)starts, agents in the registry have this long to re-register
    # before they are marked unreachable (Mesos: agent_reregister_timeout).
    agent_reregister_timeout: float = 30.0
    # An unreachable agent that stays away this long is marked gone: its tasks become
    # TASK_GONE and it may never re-register (0 disables).
    agent_removal_timeout: float = 86_400.0
    # zk://host:port,.../path for leader election and the registry; None: run alone with
    # the registry in work_dir (the embedded default).
    zk: str | None = None
    # How long a ZooKeeper session survives a lost connection.
    zk_session_timeout: float = 10.0
    # Digest credentials for ZooKeeper; mesospy's znodes are then writable only with them.
    zk_auth: ZooKeeperAuth | None = None
    # TLS for the master's port and its calls to agents; None: plain text.
    tls: TLSConfig | None = None
    # Authentication: principals and secrets (Mesos's --credentials), and which callers
    # must authenticate (by secret or, with required client certificates, by certificate).
    credentials: Path | None = None
    authenticate_frameworks: bool = False
    authenticate_agents: bool = False
    authenticate_operators: bool = False
    # Authorization: an ACL file (YAML/JSON); None: every authenticated caller may do all.
    acls: Path | None = None
    # Calls per second (and burst) of each framework or operator principal: "10:50".
    rate_limit: str | None = None
    # The largest request the master accepts, in bytes.
    max_message_size: int = 64 * 1024 * 1024
