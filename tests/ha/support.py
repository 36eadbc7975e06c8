"""Helpers shared by the HA tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from mesospy.v1 import common_pb2 as pb

SESSION = 2.0  # seconds: the contenders' ZooKeeper session timeout


def run(main: Callable[[], Awaitable[None]], timeout: float = 60) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(main(), timeout)

    asyncio.run(bounded())


def info(n: int) -> pb.MasterInfo:
    port = 5050 + n
    return pb.MasterInfo(
        id=f"master-{n}", ip="127.0.0.1", port=port, hostname=f"m{n}", version="test",
        address=pb.Address(hostname=f"m{n}", ip="127.0.0.1", port=port),
        pid=f"master@127.0.0.1:{port}",
    )  # fmt: skip
