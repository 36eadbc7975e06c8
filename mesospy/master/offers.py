"""Outstanding offers: resources the allocator gave a framework that it has not answered."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

from mesospy.resources import Resources
from mesospy.v1 import common_pb2 as pb


@dataclass(eq=False)
class OfferRecord:
    """One outstanding offer."""

    offer: pb.Offer
    resources: Resources
    timer: asyncio.TimerHandle | None = None

    @property
    def id(self) -> str:
        return self.offer.id

    @property
    def framework_id(self) -> str:
        return self.offer.framework_id

    @property
    def agent_id(self) -> str:
        return self.offer.agent_id

    @property
    def role(self) -> str:
        return self.offer.role


class OfferBook:
    """Offers by id, with indexes by framework and agent for rescinding in bulk."""

    def __init__(self, id_prefix: str) -> None:
        self._prefix = id_prefix
        self._next = 0
        self._offers: dict[str, OfferRecord] = {}
        self._by_framework: dict[str, set[str]] = {}
        self._by_agent: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self._offers)

    def __iter__(self) -> Iterator[OfferRecord]:
        return iter(list(self._offers.values()))

    def new_id(self) -> str:
        self._next += 1
        return f"{self._prefix}-O{self._next}"

    def add(self, record: OfferRecord) -> None:
        self._offers[record.id] = record
        self._by_framework.setdefault(record.framework_id, set()).add(record.id)
        self._by_agent.setdefault(record.agent_id, set()).add(record.id)

    def get(self, offer_id: str) -> OfferRecord | None:
        return self._offers.get(offer_id)

    def remove(self, offer_id: str) -> OfferRecord | None:
        record = self._offers.pop(offer_id, None)
        if record is None:
            return None
        self._by_framework[record.framework_id].discard(offer_id)
        self._by_agent[record.agent_id].discard(offer_id)
        if record.timer is not None:
            record.timer.cancel()
        return record

    def of_framework(self, framework_id: str) -> list[OfferRecord]:
        return [self._offers[i] for i in self._by_framework.get(framework_id, ())]

    def of_agent(self, agent_id: str) -> list[OfferRecord]:
        return [self._offers[i] for i in self._by_agent.get(agent_id, ())]
