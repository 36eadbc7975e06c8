"""VIPs: a stable address:port per app where a TCP proxy balances connections across the
app's serving instances (healthy, ready, not being stopped).

Each connection picks a backend (round robin, or the one with the fewest active
connections), trying the next one if a connect fails or the backend closes before it
answers (the client's bytes so far are replayed), so a backend that just died costs no
failed request. The proxy counts active connections per backend; the scheduler waits
for that count to reach zero before it kills an instance it has taken out of rotation
(draining).

The proxies run inside ``mesospy service serve``. To have them on every agent host
instead, run ``mesospy service serve --vip-tasks``: the framework then runs
``python -m frameworks.service.vip --master ...`` as a task on each agent host (the system
app ``mesospy-system/vip-proxy``, one instance per hostname, replaced when it dies like
any app instance). Or run ``--no-vips`` and start that command on each host yourself. The
proxy serves every app's VIP with the endpoints from the framework's API, and keeps the
last ones known while the framework restarts. The framework then drains for a fixed
``--drain-seconds`` before a kill, as it cannot see those proxies' connections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
from collections import Counter
from collections.abc import Callable

from frameworks.service.spec import VipSpec

log = logging.getLogger("frameworks.service.vip")

Backend = tuple[str, int]
CONNECT_TIMEOUT = 2.0
BUFFER = 64 * 1024
# A connection whose backend closes before answering is retried on another backend with
# the client's bytes so far, up to this many (a request, not an upload).
REPLAY_LIMIT = 256 * 1024


class VipProxy:
    """One app's VIP: listens on ``spec.host:spec.port``, forwards to ``backends()``."""

    def __init__(self, app_id: str, spec: VipSpec, backends: Callable[[], list[Backend]]) -> None:
        self.app_id = app_id
        self.spec = spec
        self.backends = backends
        self.active: Counter[Backend] = Counter()
        self.served = 0
        self.failed = 0  # connections no backend would take
        self.backend_errors = 0  # backends that refused or closed before answering
        self._turn = itertools.count()
        self._server: asyncio.Server | None = None
        self._streams: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, self.spec.host, self.spec.port, reuse_address=True
        )
        log.info("vip %s:%d for %s", self.spec.host, self.spec.port, self.app_id)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    def order(self, backends: list[Backend]) -> list[Backend]:
        """Backends in the order to try them for a new connection."""
        if not backends:
            return []
        if self.spec.balance == "least-connections":
            turn = next(self._turn)
            # Ties broken by rotation so idle backends share the load.
            return sorted(
                backends, key=lambda b: (self.active[b], (backends.index(b) - turn) % len(backends))
            )
        start = next(self._turn) % len(backends)
        return backends[start:] + backends[:start]

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        relay = _Relay(client_r, client_w)
        reader = asyncio.ensure_future(relay.read_client())
        try:
            for backend in self.order(self.backends()):
                if await self._try(relay, backend):
                    self.served += 1
                    return
                if len(relay.sent) > REPLAY_LIMIT:
                    break  # too much to replay elsewhere
            self.failed += 1
        finally:
            reader.cancel()
            client_w.close()

    async def _try(self, relay: _Relay, backend: Backend) -> bool:
        """Forward the connection to ``backend``; False if it closed before answering
        (the client's bytes so far can then be replayed to another one)."""
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                server_r, server_w = await asyncio.open_connection(*backend)
        except (OSError, TimeoutError) as exc:
            log.debug("vip %s: %s:%d refused: %s", self.app_id, *backend, exc)
            self.backend_errors += 1
            return False
        self.active[backend] += 1
        try:
            relay.attach(server_w)
            try:
                first = await server_r.read(BUFFER)
            except OSError:
                first = b""
            if not first:
                self.backend_errors += 1
                return False
            relay.committed = True
            relay.client_w.write(first)
            await _pipe(server_r, relay.client_w)
            return True
        finally:
            self.active[backend] -= 1
            if self.active[backend] <= 0:
                del self.active[backend]
            server_w.close()


class _Relay:
    """The client side of a proxied connection: its bytes go to the current backend, and
    are kept until the backend answers so that they can be replayed to another one."""

    def __init__(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.client_r = client_r
        self.client_w = client_w
        self.sent = bytearray()
        self.committed = False
        self.eof = False
        self.server_w: asyncio.StreamWriter | None = None

    def attach(self, server_w: asyncio.StreamWriter) -> None:
        self.server_w = server_w
        server_w.write(bytes(self.sent))
        if self.eof:
            _write_eof(server_w)

    async def read_client(self) -> None:
        try:
            while data := await self.client_r.read(BUFFER):
                if not self.committed:
                    self.sent += data
                if self.server_w is not None:
                    self.server_w.write(data)
                    with contextlib.suppress(OSError):
                        await self.server_w.drain()
        except OSError:
            pass
        self.eof = True
        if self.server_w is not None:
            _write_eof(self.server_w)


def _write_eof(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, RuntimeError):
        if writer.can_write_eof():
            writer.write_eof()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(BUFFER):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        _write_eof(writer)


class VipManager:
    """Keeps one proxy per app with a VIP, following the apps' specs."""

    def __init__(self, backends: Callable[[str], list[Backend]]) -> None:
        self._backends = backends
        self.proxies: dict[str, VipProxy] = {}
        self.errors: dict[str, str] = {}
        # Counts of proxies since stopped (moved or removed), so the metrics keep growing.
        self.retired: Counter[tuple[str, str]] = Counter()

    async def sync(self, vips: dict[str, VipSpec]) -> None:
        """Start, move or stop proxies so that exactly ``vips`` (app id -> spec) run."""
        for app_id in list(self.proxies):
            if vips.get(app_id) != self.proxies[app_id].spec:
                proxy = self.proxies.pop(app_id)
                await proxy.stop()
                for outcome, count in proxy_counts(proxy).items():
                    self.retired[app_id, outcome] += count
        for app_id, spec in vips.items():
            if app_id in self.proxies:
                continue
            proxy = VipProxy(app_id, spec, lambda a=app_id: self._backends(a))  # type: ignore[misc]
            try:
                await proxy.start()
            except OSError as exc:
                message = f"cannot listen on {spec.host}:{spec.port}: {exc.strerror or exc}"
                if self.errors.get(app_id) != message:
                    log.error("vip of %s: %s", app_id, message)
                self.errors[app_id] = message
                continue
            self.errors.pop(app_id, None)
            self.proxies[app_id] = proxy

    def counts(self) -> dict[tuple[str, str], int]:
        """(app id, "served" | "failed" | "backend_errors") -> count, over the proxies
        running and those stopped."""
        totals: Counter[tuple[str, str]] = Counter(self.retired)
        for app_id, proxy in list(self.proxies.items()):
            for outcome, count in proxy_counts(proxy).items():
                totals[app_id, outcome] += count
        return dict(totals)

    def connections(self, host: str, port: int) -> int:
        """Active connections to a backend, over every VIP."""
        return sum(p.active.get((host, port), 0) for p in self.proxies.values())

    async def close(self) -> None:
        await self.sync({})


def proxy_counts(proxy: VipProxy) -> dict[str, int]:
    """What one proxy counted: connections served and failed, backend errors."""
    return {
        "served": proxy.served,
        "failed": proxy.failed,
        "backend_errors": proxy.backend_errors,
    }


# ---------------------------------------------------------------- a proxy on its own


async def run_standalone(service: str, master: str, bind_host: str, interval: float) -> None:
    """Serve every app's VIP on this host, with endpoints from the framework's API.

    Polls ``ListApps``/``GetEndpoints`` every ``interval`` seconds; while the framework is
    unreachable (restarting, failing over) the last endpoints known keep being used.
    """
    from frameworks.service.client import ServiceClient, ServiceError, find_service
    from frameworks.service.v1 import service_pb2 as spb
    from mesospy.client import OperatorError

    known: dict[str, list[Backend]] = {}
    manager = VipManager(lambda app_id: known.get(app_id, []))

    def poll() -> tuple[dict[str, VipSpec], dict[str, list[Backend]]]:
        with ServiceClient(service or find_service(master), timeout=5.0) as client:
            vips: dict[str, VipSpec] = {}
            backends: dict[str, list[Backend]] = {}
            for app in client.apps():
                if not app.vip or app.deleting:
                    continue
                host, _, port = app.vip.rpartition(":")
                answer = client.call("GetEndpoints", spb.AppRequest(app_id=app.id))
                spec = json.loads(app.spec_json).get("vip", {})
                vips[app.id] = VipSpec(
                    bind_host or host, int(port), spec.get("balance", "round-robin")
                )
                backends[app.id] = [(e.host, e.port) for e in answer.endpoints]
            return vips, backends

    try:
        while True:
            try:
                vips, backends = await asyncio.to_thread(poll)
            except (ServiceError, OperatorError) as exc:
                log.warning("keeping the last endpoints known: %s", exc)
            else:
                known.clear()
                known.update(backends)
                await manager.sync(vips)
            await asyncio.sleep(interval)
    finally:
        await manager.close()


def main(argv: list[str] | None = None) -> None:
    """``python -m frameworks.service.vip --master HOST:PORT``: every VIP on this host."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--master", default=os.environ.get("MESOSPY_MASTER", "127.0.0.1:5050"))
    parser.add_argument(
        "--service",
        default=os.environ.get("MESOSPY_SERVICE", ""),
        help="the framework's API (default: found through the master)",
    )
    parser.add_argument("--bind-host", default="", help="listen here instead of each VIP's host")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between polls")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_standalone(args.service, args.master, args.bind_host, args.interval))


if __name__ == "__main__":
    main()
