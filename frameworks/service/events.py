"""The framework's in-process event hub: what changed, for whoever listens.

The scheduler publishes from the code paths that change state (a deployment starting or
ending, a task's status update, a health change, an app removed); the Marathon API streams
them on ``/v2/events`` in Marathon's shape. A listener that falls behind loses its oldest
events: it never holds the scheduler up.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from frameworks.service.model import AppRecord, Deployment, Instance

QUEUE_LIMIT = 1000  # events a listener may lag behind before it loses the oldest

# Event types.
DEPLOYMENT_STARTED = "deployment_started"
DEPLOYMENT_ENDED = "deployment_ended"  # its status says how
STATUS_UPDATE = "status_update"
HEALTH_CHANGED = "health_changed"
APP_REMOVED = "app_removed"
API_REQUEST = "api_request"  # an app created or changed through an API


@dataclass(frozen=True)
class Event:
    """One change; which fields are set depends on ``type``."""

    type: str
    app_id: str
    at: float
    app: AppRecord | None = None
    deployment: Deployment | None = None
    instance: Instance | None = None
    state: str = ""  # a status update's TASK_* state
    message: str = ""
    healthy: bool | None = None
    client: str = ""  # API_REQUEST: the caller's address
    uri: str = ""  # API_REQUEST: the path called


@dataclass
class EventHub:
    """Fan-out of events to any number of listeners (each an ``asyncio.Queue``)."""

    _listeners: set[asyncio.Queue[Event]] = field(default_factory=set)

    def publish(self, event: Event) -> None:
        for queue in self._listeners:
            if queue.full():
                queue.get_nowait()  # a slow listener loses its oldest event
            queue.put_nowait(event)

    def listen(self) -> asyncio.Queue[Event]:
        """A new listener's queue (``forget`` it when done)."""
        queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_LIMIT)
        self._listeners.add(queue)
        return queue

    def forget(self, queue: asyncio.Queue[Event]) -> None:
        self._listeners.discard(queue)

    @property
    def listening(self) -> int:
        """How many listeners there are."""
        return len(self._listeners)
