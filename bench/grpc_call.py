"""The floor under scale.py and failover.py: server CPU per unary gRPC call, nothing else.

A gRPC server answering an empty-handed Heartbeat (no interceptor, no work), called by two
client processes with 100 calls in flight each over loopback; the server's own CPU time
(psutil) per call, for the asyncio server the master uses and for the thread-pool server.
Every agent's heartbeat and every re-registration after a failover is one such call to the
master at least: 10,000 agents re-registering cost the master N x this before it does any
work, on the same cores the agents' side needs.

    python bench/grpc_call.py             # 20,000 calls each
    python bench/grpc_call.py --calls 50000
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import time
from concurrent import futures
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import grpc
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fleet import load
from machine import describe, report

from mesospy.v1 import agent_pb2 as apb
from mesospy.v1 import agent_pb2_grpc as apb_grpc

CLIENTS = 2
IN_FLIGHT = 100


class _AsyncRegistry(apb_grpc.AgentRegistryServicer):
    async def Heartbeat(self, request: Any, context: Any) -> apb.HeartbeatResponse:
        return apb.HeartbeatResponse()


class _SyncRegistry(apb_grpc.AgentRegistryServicer):
    def Heartbeat(self, request: Any, context: Any) -> apb.HeartbeatResponse:
        return apb.HeartbeatResponse()


async def _serve_async(ports: mp.Queue[int], stop: Event) -> None:
    server = grpc.aio.server()
    apb_grpc.add_AgentRegistryServicer_to_server(_AsyncRegistry(), server)  # type: ignore[no-untyped-call]
    ports.put(server.add_insecure_port("127.0.0.1:0"))
    await server.start()
    while not stop.is_set():
        await asyncio.sleep(0.05)
    await server.stop(0)


def _server(kind: str, ports: mp.Queue[int], stop: Event) -> None:
    if kind == "asyncio":
        asyncio.run(_serve_async(ports, stop))
        return
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    apb_grpc.add_AgentRegistryServicer_to_server(_SyncRegistry(), server)  # type: ignore[no-untyped-call]
    ports.put(server.add_insecure_port("127.0.0.1:0"))
    server.start()
    stop.wait()
    server.stop(0)


async def _call(port: int, calls: int) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = apb_grpc.AgentRegistryStub(channel)  # type: ignore[no-untyped-call]
        slots = asyncio.Semaphore(IN_FLIGHT)

        async def one() -> None:
            async with slots:
                await stub.Heartbeat(apb.HeartbeatRequest(agent_id="agent-0123456789"))

        await asyncio.gather(*(one() for _ in range(calls)))


def _client(port: int, calls: int) -> None:
    asyncio.run(_call(port, calls))


def measure(kind: str, calls: int) -> tuple[float, float]:
    """(server CPU microseconds per call, calls per second) for one server kind."""
    ports: mp.Queue[int] = mp.Queue()
    stop = mp.Event()
    server = mp.Process(target=_server, args=(kind, ports, stop))
    server.start()
    try:
        port = ports.get(timeout=30)
        warm = mp.Process(target=_client, args=(port, 1_000))
        warm.start()
        warm.join()
        proc = psutil.Process(server.pid)
        before = proc.cpu_times()
        start = time.perf_counter()
        clients = [
            mp.Process(target=_client, args=(port, calls // CLIENTS)) for _ in range(CLIENTS)
        ]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        elapsed = time.perf_counter() - start
        after = proc.cpu_times()
        cpu = (after.user + after.system) - (before.user + before.system)
        if any(c.exitcode for c in clients):
            raise RuntimeError(f"a client of the {kind} server failed")
        return 1e6 * cpu / calls, calls / elapsed
    finally:
        stop.set()
        server.join(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    print(f"machine: {describe()}")
    before = load()
    aio_us, aio_rate = measure("asyncio", args.calls)
    sync_us, sync_rate = measure("threads", args.calls)
    rows = [
        ("calls per server", f"{args.calls:,}", ""),
        ("asyncio server: CPU per call", f"{aio_us:.0f} us", f"({aio_rate:,.0f} calls/s)"),
        ("thread-pool server: CPU per call", f"{sync_us:.0f} us", f"({sync_rate:,.0f} calls/s)"),
        ("10,000 calls to the master (asyncio)", f"{aio_us * 1e-2:.2f} s", "of one core"),
    ]
    figures: dict[str, object] = {
        "calls": args.calls,
        "asyncio_us_per_call": aio_us,
        "threads_us_per_call": sync_us,
        "load_before": before,
        "load_after": load(),
        "wrong": [],
    }
    summary = (
        f"gRPC floor: {aio_us:.0f} us of server CPU per unary call (asyncio server, as the "
        f"master) | anchor: failover's target, 3 s for 10,000 agents = 300 us per agent "
        f"for everything"
    )
    return report("grpc_call", rows, figures, summary)


if __name__ == "__main__":
    sys.exit(main())
