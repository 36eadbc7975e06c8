"""The service framework's records in the SDK's state store (a directory or ZooKeeper).

Layout: ``framework_id``, ``apps/<app id>`` (an ``AppRecord`` as JSON),
``instances/<task id>`` (an ``Instance`` as JSON, so a restarted framework knows where its
running tasks are and which ports they got), and ``residents/<slot id>`` (a resident
instance's reservation: a ``resident.Slot``). Ids are percent-escaped into one key segment.
Durability (atomic, fsynced files; ZooKeeper writes) is ``mesospy.scheduler.StateStore``'s.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

from frameworks.service.model import AppRecord, Instance
from frameworks.service.resident import Slot
from mesospy.scheduler import StateStore, open_store


def _segment(name: str) -> str:
    return quote(name, safe="")


class Store:
    """The framework's apps and instances on top of a ``StateStore``."""

    def __init__(self, state: StateStore) -> None:
        self.state = state

    @classmethod
    def open(cls, location: str, master: str | None = None) -> Store:
        """``zk://hosts/path`` or a directory (never under ``master``'s election path)."""
        return cls(open_store(location, master))

    def framework_id(self) -> str:
        return self.state.framework_id()

    def save_framework_id(self, framework_id: str) -> None:
        self.state.save_framework_id(framework_id)

    def apps(self) -> dict[str, AppRecord]:
        out = {}
        for name in self.state.children("apps"):
            data = self.state.get(f"apps/{name}")
            if data is not None:
                app = AppRecord.from_dict(data)
                out[app.id] = app
        return out

    def save_app(self, app: AppRecord) -> None:
        self.state.put(f"apps/{_segment(app.id)}", app.to_dict())

    def delete_app(self, app_id: str) -> None:
        self.state.delete(f"apps/{_segment(app_id)}")

    def instances(self) -> dict[str, Instance]:
        out = {}
        for name in self.state.children("instances"):
            data = self.state.get(f"instances/{name}")
            if data is not None:
                out[unquote(name)] = Instance.from_dict(data)
        return out

    def save_instance(self, instance: Instance) -> None:
        self.state.put(f"instances/{_segment(instance.task_id)}", instance.to_dict())

    def delete_instance(self, task_id: str) -> None:
        self.state.delete(f"instances/{_segment(task_id)}")

    def slots(self) -> dict[str, Slot]:
        out = {}
        for name in self.state.children("residents"):
            data = self.state.get(f"residents/{name}")
            if data is not None:
                slot = Slot.from_dict(data)
                out[slot.id] = slot
        return out

    def save_slot(self, slot: Slot) -> None:
        self.state.put(f"residents/{_segment(slot.id)}", slot.to_dict())

    def delete_slot(self, slot_id: str) -> None:
        self.state.delete(f"residents/{_segment(slot_id)}")

    def close(self) -> None:
        self.state.close()
