"""Task health checks (COMMAND, HTTP, TCP), with Mesos's timing semantics.

``HealthTracker`` is the pure decision part: given each check's result it says when the
task's health changes and when it must be killed. ``HealthChecker`` runs the checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from mesospy.agent.launcher import TaskLauncher
from mesospy.v1 import common_pb2

log = logging.getLogger(__name__)

HealthCheck = common_pb2.HealthCheck


@dataclass(frozen=True)
class HealthPolicy:
    """Timing of a health check; unset fields take Mesos's defaults."""

    delay: float = 15.0
    interval: float = 10.0
    timeout: float = 20.0
    consecutive_failures: int = 3
    grace_period: float = 10.0

    @classmethod
    def from_proto(cls, check: common_pb2.HealthCheck) -> HealthPolicy:
        d = cls()
        return cls(
            delay=check.delay_seconds if check.HasField("delay_seconds") else d.delay,
            interval=check.interval_seconds if check.HasField("interval_seconds") else d.interval,
            timeout=check.timeout_seconds if check.HasField("timeout_seconds") else d.timeout,
            consecutive_failures=(
                check.consecutive_failures
                if check.HasField("consecutive_failures")
                else d.consecutive_failures
            ),
            grace_period=(
                check.grace_period_seconds
                if check.HasField("grace_period_seconds")
                else d.grace_period
            ),
        )


def validate_health_check(check: common_pb2.HealthCheck) -> str | None:
    """Why a health check cannot run, or None if it is fine."""
    if check.type == HealthCheck.COMMAND:
        if bool(check.command.shell) == bool(check.command.argv):
            return "COMMAND health check needs exactly one of command.shell and command.argv"
    elif check.type == HealthCheck.HTTP:
        if not 0 < check.http.port < 65536:
            return "HTTP health check needs http.port in 1-65535"
        if check.http.scheme not in ("", "http", "https"):
            return f"HTTP health check scheme {check.http.scheme!r} is not http or https"
    elif check.type == HealthCheck.TCP:
        if not 0 < check.tcp.port < 65536:
            return "TCP health check needs tcp.port in 1-65535"
    else:
        return "health check type must be COMMAND, HTTP or TCP"
    for name in ("delay_seconds", "interval_seconds", "timeout_seconds", "grace_period_seconds"):
        if check.HasField(name) and getattr(check, name) < 0:
            return f"health check {name} must not be negative"
    return None


class HealthTracker:
    """Counts results: failures in the grace period are ignored until the first success."""

    def __init__(self, policy: HealthPolicy, started_at: float) -> None:
        self.policy = policy
        self.started_at = started_at
        self.healthy: bool | None = None
        self.consecutive_failures = 0
        self._succeeded_once = False

    def record(self, ok: bool, now: float) -> tuple[bool, bool]:
        """(health changed, kill the task now)."""
        if ok:
            self._succeeded_once = True
            self.consecutive_failures = 0
            changed = self.healthy is not True
            self.healthy = True
            return changed, False
        in_grace = now - self.started_at < self.policy.grace_period
        if in_grace and not self._succeeded_once:
            return False, False
        self.consecutive_failures += 1
        changed = self.healthy is not False
        self.healthy = False
        kill = self.consecutive_failures >= max(1, self.policy.consecutive_failures)
        return changed, kill


class HealthChecker:
    """Runs one task's health check until cancelled; reports changes and asks for a kill."""

    def __init__(
        self,
        check: common_pb2.HealthCheck,
        launcher: TaskLauncher,
        env: dict[str, str],
        sandbox: Path,
        on_change: Callable[[bool], None],
        on_kill: Callable[[], None],
        enter: Callable[[list[str]], list[str]] | None = None,
    ) -> None:
        """``enter`` turns a COMMAND check's argv into one that runs inside the task's
        container (an image task's check runs in its image, as Mesos runs it)."""
        self._enter = enter
        self._check = check
        self._launcher = launcher
        self._env = env
        self._sandbox = sandbox
        self._on_change = on_change
        self._on_kill = on_kill
        self.tracker = HealthTracker(HealthPolicy.from_proto(check), time.monotonic())

    async def run(self) -> None:
        policy = self.tracker.policy
        await asyncio.sleep(policy.delay)
        while True:
            ok = await self._probe(policy.timeout)
            changed, kill = self.tracker.record(ok, time.monotonic())
            if changed:
                self._on_change(ok)
            if kill:
                self._on_kill()
                return
            await asyncio.sleep(policy.interval)

    async def _probe(self, timeout: float) -> bool:
        check = self._check
        try:
            if check.type == HealthCheck.COMMAND:
                return await self._command(timeout)
            probe: Awaitable[bool]
            if check.type == HealthCheck.HTTP:
                probe = _http_ok(check.http, timeout)
            else:
                probe = _tcp_ok(check.tcp.port)
            return await asyncio.wait_for(probe, timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            log.debug("health check failed: %s", exc)
            return False

    async def _command(self, timeout: float) -> bool:
        command = self._check.command
        argv = ["/bin/sh", "-c", command.shell] if command.shell else list(command.argv)
        env = {**self._env, **command.environment}
        if self._enter is not None:
            try:
                argv = self._enter(argv)
            except OSError as exc:
                log.debug("health check cannot enter the container: %s", exc)
                return False
        return await self._launcher.run_command(argv, env, self._sandbox, timeout) == 0


async def _tcp_ok(port: int) -> bool:
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def _http_ok(http: common_pb2.HealthCheck.HTTPCheck, timeout: float) -> bool:
    context = None
    if http.scheme == "https":
        # A health check asks "does it answer", not "is its certificate trusted".
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection("127.0.0.1", http.port, ssl=context)
    try:
        path = http.path or "/"
        if not path.startswith("/"):
            path = "/" + path
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{http.port}\r\n"
            "User-Agent: mesospy-health-check\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        status_line = await reader.readline()
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
    parts = status_line.decode("latin-1").split()
    if len(parts) < 2 or not parts[1].isdigit():
        return False
    status = int(parts[1])
    if http.statuses:
        return status in http.statuses
    return 200 <= status < 400
