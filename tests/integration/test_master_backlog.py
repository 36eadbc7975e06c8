"""A burst of calls larger than gRPC's default backlog of pending calls (1,000) is served,
not cancelled at random: in a large cluster, heartbeats and frameworks' calls come in
bursts like this, and a cancelled ACCEPT leaves its offer held by nobody."""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path

import grpc

from mesospy.testing import LocalCluster
from mesospy.v1 import operator_pb2 as opb
from mesospy.v1 import operator_pb2_grpc as opb_grpc

BURST = 4_000


def test_a_burst_beyond_grpcs_default_backlog_is_served(tmp_path: Path) -> None:
    async def burst(address: str) -> collections.Counter[str]:
        outcomes: collections.Counter[str] = collections.Counter()
        # Several connections, as many agents and frameworks open (without a local
        # subchannel pool, gRPC would carry all the channels over one connection).
        own_connection = [("grpc.use_local_subchannel_pool", 1)]
        channels = [grpc.aio.insecure_channel(address, options=own_connection) for _ in range(8)]
        try:
            stubs = [opb_grpc.OperatorStub(c) for c in channels]  # type: ignore[no-untyped-call]

            async def one(i: int) -> None:
                try:
                    await stubs[i % len(stubs)].GetHealth(opb.GetHealthRequest(), timeout=120)
                    outcomes["OK"] += 1
                except grpc.aio.AioRpcError as exc:
                    outcomes[exc.code().name] += 1

            await asyncio.gather(*(one(i) for i in range(BURST)))
        finally:
            for channel in channels:
                await channel.close()
        return outcomes

    with LocalCluster(agents=0, work_dir=tmp_path) as cluster:
        outcomes = asyncio.run(burst(cluster.master_address))
    assert outcomes == {"OK": BURST}
