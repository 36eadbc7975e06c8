"""Agent configuration: what an operator sets with ``mesospy agent --...`` flags."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from mesospy.detector import DEFAULT_MASTER
from mesospy.security.channels import ClientSecurity
from mesospy.security.credentials import Credential
from mesospy.security.tls import TLSConfig

ISOLATION_MODES = ("auto", "cgroups", "posix")

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B?)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """Bytes from ``"2GB"``, ``"512MB"``, ``"100KiB"`` or ``"1048576"`` (units of 1024, as
    Mesos's Bytes)."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"bad size {text!r}: expected a number and a unit, e.g. '2GB' or '512MB'")
    unit = (match.group(2) or "").upper().rstrip("B").rstrip("I")
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


# Attribute names follow Mesos: letters, digits and "_-./"; values may not hold ";".
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_./-]+$")


def parse_attributes(text: str) -> dict[str, str]:
    """Parse Mesos-style attributes, ``"rack:r1;zone:a"``, into a dict.

    Raises ``ValueError`` naming the offending part when the text is malformed.
    """
    attributes: dict[str, str] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise ValueError(
                f"bad attribute {part!r}: expected name:value pairs separated by ';', "
                "e.g. 'rack:r1;zone:a'"
            )
        if not _ATTRIBUTE_NAME.match(name):
            raise ValueError(
                f"bad attribute name {name!r}: use letters, digits and '_', '-', '.', '/'"
            )
        if name in attributes:
            raise ValueError(f"attribute {name!r} is given twice")
        attributes[name] = value
    return attributes


@dataclass
class AgentConfig:
    """Settings of one agent process (Mesos's agent flags, under their Mesos names)."""

    # Where the leading master is: "host:port" (see mesospy.detector).
    master: str = DEFAULT_MASTER
    # The address the Agent API binds to; also advertised unless `hostname` is set.
    ip: str = "127.0.0.1"
    # The name the master uses to reach this agent; defaults to `ip`.
    hostname: str | None = None
    # 0 picks a free port; the real one is advertised.
    port: int = 5051
    # Sandboxes, the checkpoint and the agent id live here.
    work_dir: str = "/tmp/mesospy/agent"
    # "cpus:4;mem:2048;ports:[31000-32000]"; resources not named here are measured.
    resources: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    # "auto": cgroups when writable, else posix (RSS sampling); "cgroups" insists on them.
    isolation: str = "auto"
    # Registration retries wait a random time in [0, factor * 2**attempt], capped.
    registration_backoff_factor: float = 1.0
    # Well under the master's --agent-reregister-timeout (30 s): after a failover, or a
    # master restarted at the same address, the agent must be back within that window.
    registration_backoff_max: float = 5.0
    # Unacknowledged status updates are resent after min, doubling up to max seconds.
    # Mesos's 10 s: an update is unacknowledged that long only when the master or the
    # framework is slow (a lost one is resent at once when the agent re-registers, and the
    # master sends unacknowledged ones again to a re-subscribing framework), and resending
    # sooner to a slow master doubles its load (at 2 s, a 10k-agent master that fell
    # behind received every update four times and never caught up).
    status_update_retry_min: float = 10.0
    status_update_retry_max: float = 60.0
    # Default SIGTERM -> SIGKILL grace when neither the task nor the kill request sets one.
    kill_grace_period: float = 3.0
    # How often the posix isolator samples a task's memory.
    posix_sample_interval: float = 0.5
    # Kill the running tasks when the agent stops. Off by default, as in Mesos: tasks
    # outlive an agent restart and are re-adopted ("recovery").
    kill_tasks_on_exit: bool = False
    # Serve Prometheus metrics over HTTP on this port (0: not at all).
    metrics_port: int = 0
    # TLS for the Agent API and the calls to the master; None: plain text.
    tls: TLSConfig | None = None
    # An agent running as root refuses to run tasks as root (a task with no user, or
    # user root) unless this is set; `mesospy local` sets it, `mesospy agent` does not.
    allow_root_tasks: bool = False
    # Agent environment variables tasks also get (names or patterns), and variables every
    # task starts with (Mesos's --executor_environment_variables); see agent/task_env.py.
    task_env_passthrough: tuple[str, ...] = ()
    executor_environment_variables: dict[str, str] = field(default_factory=dict)
    # The principal and secret the agent authenticates to the master with.
    credential: Credential | None = None
    # Sandboxes of ended tasks are removed this long after their task ended (Mesos's
    # --gc_delay, a week), sooner as the disk fills: the delay is scaled by
    # max(0, 1 - gc_disk_headroom - disk usage). Checked every disk_watch_interval.
    gc_delay: float = 7 * 24 * 3600.0
    gc_disk_headroom: float = 0.1
    disk_watch_interval: float = 60.0
    # The fetcher (artifacts in CommandInfo.uris): its cache (default WORK_DIR/fetch-cache),
    # the cache's size (Mesos's default, 2 GB), and the most one URI may bring, downloaded
    # or unpacked.
    fetcher_cache_dir: str | None = None
    fetcher_cache_size: int = 2 << 30
    fetcher_max_size: int = 4 << 30
    # After a restart, executors still running have this long to subscribe again (their
    # SDK retries every few seconds at most); those that do not are killed and their
    # tasks failed (Mesos's --executor_reregistration_timeout).
    executor_reregistration_timeout: float = 10.0
    # A new executor that has not subscribed this long after its start is killed and its
    # tasks failed (Mesos's --executor_registration_timeout).
    executor_registration_timeout: float = 60.0
    # Container images (mesospy.agent.containers): off only when asked; the registry that
    # stands for the default one (Docker Hub) for names that name no registry.
    container_images: bool = True
    image_registry_mirror: str | None = None
    # How each image task gets its root: "overlay", "copy", or "auto" (overlay if it can).
    image_rootfs_backend: str = "auto"
    # Paths outside their sandboxes that image tasks may mount as volumes (and below).
    allowed_host_paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.isolation not in ISOLATION_MODES:
            raise ValueError(
                f"isolation {self.isolation!r} is not one of {', '.join(ISOLATION_MODES)}"
            )
        if not 0 <= self.port < 65536:
            raise ValueError(f"port {self.port} is out of range 0-65535")
        if not 0 <= self.metrics_port < 65536:
            raise ValueError(f"metrics port {self.metrics_port} is out of range 0-65535")
        if not self.work_dir:
            raise ValueError("work_dir must not be empty")
        if self.registration_backoff_factor < 0 or self.registration_backoff_max <= 0:
            raise ValueError("registration backoff factor must be >= 0 and max > 0")
        if not 0 < self.status_update_retry_min <= self.status_update_retry_max:
            raise ValueError("status update retry needs 0 < min <= max")
        if self.kill_grace_period < 0:
            raise ValueError("kill_grace_period must be >= 0")
        if self.gc_delay < 0 or self.disk_watch_interval <= 0:
            raise ValueError("gc_delay must be >= 0 and disk_watch_interval > 0")
        if self.fetcher_cache_size < 0 or self.fetcher_max_size <= 0:
            raise ValueError("fetcher cache size must be >= 0 and fetcher max size > 0")
        if self.executor_reregistration_timeout <= 0 or self.executor_registration_timeout <= 0:
            raise ValueError("executor (re)registration timeouts must be > 0")
        if self.image_registry_mirror and not self.image_registry_mirror.startswith(
            ("http://", "https://")
        ):
            raise ValueError(
                f"image registry mirror {self.image_registry_mirror!r} must be an http:// or "
                "https:// URL, e.g. http://registry.local:5000"
            )
        if self.image_rootfs_backend not in ("auto", "overlay", "copy"):
            raise ValueError(
                f"image rootfs backend {self.image_rootfs_backend!r} is not one of "
                "auto, overlay, copy"
            )
        for path in self.allowed_host_paths:
            if not path.startswith("/"):
                raise ValueError(f"allowed host path {path!r} must be an absolute path")
        if not 0 <= self.gc_disk_headroom <= 1:
            raise ValueError("gc_disk_headroom must be between 0 and 1")

    @property
    def advertised_host(self) -> str:
        return self.hostname or self.ip

    @property
    def secured(self) -> bool:
        """With TLS or credentials the agent takes calls only from its master."""
        return self.tls is not None or self.credential is not None

    @property
    def master_security(self) -> ClientSecurity:
        """How to call the master: the agent's own certificate and credential."""
        return ClientSecurity(self.tls, self.credential)

    @property
    def work_path(self) -> Path:
        return Path(self.work_dir)

    @property
    def fetcher_cache_path(self) -> Path:
        return Path(self.fetcher_cache_dir or Path(self.work_dir) / "fetch-cache")
