"""The I/O shell: a ``Scheduler`` that keeps observed instances and carries out plans.

It owns the apps (desired state, persisted in the ``Store``) and the instances it has
seen through status updates. ``tick()`` runs the pure controller for each app and acts on
the plan: it queues launches (placed on the next offers that fit the resources, ports
and constraints), drains instances it is stopping out of the VIPs and then kills them,
and stores whatever changed. A restarted framework loads its apps and instances back,
reconciles them with the master and adopts tasks that are still running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from frameworks.service import dependencies, deployment, placement, pods, resident
from frameworks.service.constraints import Place
from frameworks.service.controller import Plan, plan
from frameworks.service.events import (
    APP_REMOVED,
    DEPLOYMENT_ENDED,
    DEPLOYMENT_STARTED,
    HEALTH_CHANGED,
    STATUS_UPDATE,
    Event,
    EventHub,
)
from frameworks.service.metrics import ServiceCounts
from frameworks.service.model import (
    AppRecord,
    Instance,
    container_task_id,
    parse_task_id,
    split_container_task_id,
    task_id_for,
)
from frameworks.service.placement import Ask, Candidate
from frameworks.service.readiness import http_ready
from frameworks.service.spec import AppSpec, HealthCheckSpec, parse_spec
from frameworks.service.store import Store
from frameworks.service.task_env import pod_env, task_env
from mesospy.client import AsyncOperatorClient, OperatorError
from mesospy.resources import Resources
from mesospy.scheduler import (
    Scheduler,
    SchedulerDriver,
    calls,
    default_executor,
    is_terminal,
    offer_resources,
    state_name,
    task,
)
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import scheduler_pb2 as spb
from mesospy.wakeup import wait_event

log = logging.getLogger("frameworks.service")

# The agent would kill a task after this many failed checks; the framework decides
# instead (replace before kill, circuit breaker), so the agent never gets there.
AGENT_NEVER_KILLS = 1_000_000
# States that say the app itself failed (backoff, restart limit, rollback); a lost agent
# or an unknown task is not the app's fault.
APP_FAILURES = {pb.TASK_FAILED, pb.TASK_FINISHED, pb.TASK_ERROR, pb.TASK_KILLED}
MAX_DRAIN_SECONDS = 10.0
KILL_RETRY_SECONDS = 15.0
STALE_LAUNCH_SECONDS = 30.0
# The system app that runs one VIP proxy per agent host (``vip_proxy_command``).
VIP_PROXY_APP = "mesospy-system/vip-proxy"
AGENT_HOSTS_SECONDS = 5.0  # how often the agent hosts are listed for the VIP proxies
# What the DEFAULT executor of a pod's instance takes beside its containers (Marathon's
# default executor resources).
POD_EXECUTOR = Resources({"cpus": 0.1, "mem": 32.0})
HOOKS = {"prestart": pb.TaskLifecycle.PRESTART, "poststart": pb.TaskLifecycle.POSTSTART}


def vip_proxy_spec(command: str, hosts: int) -> AppSpec:
    """The system app: ``hosts`` instances of ``command``, at most one per hostname."""
    return parse_spec(
        {
            "id": VIP_PROXY_APP,
            "cmd": command,
            "instances": hosts,
            "cpus": 0.1,
            "mem": 64,
            "constraints": [["hostname", "UNIQUE"]],
            "labels": {"mesospy.system": "vip-proxy"},
        }
    )


@dataclass
class Stopping:
    """An instance being stopped: drained from the VIPs, then killed."""

    task_id: str
    drain_until: float  # killed then, even with connections left
    drained_at: float  # not killed before (time for VIPs elsewhere to hear of it)
    killed_at: float = 0.0


class ServiceScheduler(Scheduler):
    """The service framework's scheduler (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        master: str,
        clock: Callable[[], float] = time.time,
        tick_seconds: float = 0.25,
    ) -> None:
        self.store = store
        self.master = master
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.apps: dict[str, AppRecord] = store.apps()
        self.instances: dict[str, Instance] = store.instances()
        # Resident instances' reservations by slot id, and the role they are made for.
        self.slots: dict[str, resident.Slot] = store.slots()
        self.role = "*"
        self.pending: dict[str, int] = {}  # app id -> launches wanted now
        # App id -> agent id -> why that agent's last offer could not take an instance.
        self.misfits: dict[str, dict[str, placement.Misfit]] = {}
        # app id -> how its last instance failed (TASK_FAILED/ERROR... and the message),
        # shown in the app's notes while a deployment of it is in progress.
        self.last_failure: dict[str, str] = {}
        self.notes: dict[str, tuple[str, ...]] = {}
        self.stopping: dict[str, Stopping] = {}
        self.places: dict[str, Place] = {}  # agent id -> where it is
        self.driver: SchedulerDriver | None = None
        self.suppressed: bool | None = None  # None: unknown, say it again
        # Active VIP connections to host:port (set by the server when it runs VIPs).
        self.connections: Callable[[str, int], int] = lambda host, port: 0
        # Seconds an instance stays out of rotation before it is killed (for VIP proxies
        # this process cannot see; its own wait for their connections to end).
        self.min_drain = 0.0
        # With a command: keep one VIP proxy task (the system app VIP_PROXY_APP) running
        # on every agent host, listed through the operator API every AGENT_HOSTS_SECONDS.
        self.vip_proxy_command: str | None = None
        self.agent_hosts: set[str] = set()
        self._reconciled_at = 0.0
        self._probing: set[str] = set()
        self._probes: dict[str, asyncio.Future[None]] = {}
        self._lookups: dict[str, asyncio.Future[None]] = {}
        self._wake = asyncio.Event()
        self.counts = ServiceCounts()  # for the metrics
        self.events = EventHub()  # what changed, for the Marathon API's event stream
        # Writes go to the store in order on a thread of their own: ZooKeeper round trips
        # and fsyncs stay off the event loop.
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="service-store")

    def _persist(self, write: Callable[..., None], *args: Any) -> None:
        self._writer.submit(write, *args).add_done_callback(_log_write_error)

    def close(self) -> None:
        """Wait for the writes queued so far."""
        self._writer.shutdown(wait=True)

    # ------------------------------------------------------------------ user requests

    def deploy(self, spec: AppSpec) -> AppRecord:
        """Create or update an app (unchanged if the spec is the one it runs)."""
        now = self.clock()
        app = self.apps.get(spec.id)
        self._check_vip(spec)
        why = dependencies.problem(spec.id, spec.dependencies, self.apps)
        if why is not None:
            raise deployment.DeploymentError(why)
        if app is None:
            return self._save(deployment.new_app(spec, now))
        if app.spec.persistent_volumes != spec.persistent_volumes and not app.deleting:
            raise deployment.DeploymentError(
                f"app {spec.id!r}: its persistent volumes cannot change (they are "
                "reserved on its instances' agents); delete the app and deploy it again"
            )
        if app.spec.to_dict() == spec.to_dict() and not app.deleting:
            return app  # nothing to change: deploying the same file again is fine
        return self._save(deployment.update(app, spec, now))

    def change(self, app_id: str, action: Callable[[AppRecord, float], AppRecord]) -> AppRecord:
        """Apply a pure transition (scale, restart, rollback, pause, ...) and store it."""
        return self._save(action(self.app(app_id), self.clock()))

    def kill_instance(self, task_id: str, scale: bool = False) -> Instance:
        """Stop one instance (drained, then killed); without ``scale`` the app gets a new
        one, with it the app's instance count goes down by one (a scale deployment)."""
        i = self.instances.get(task_id)
        if i is None or i.killing:
            raise KeyError(f"no running instance {task_id!r}")
        app = self.app(i.app_id)
        now = self.clock()
        if scale:
            self._save(deployment.scale(app, max(0, app.spec.instances - 1), now))
        self._update(i.with_(killing=True, kill_reason="killed by a user"))
        self._stop(i, app.spec, now)
        self._wake.set()
        return i

    def _stop(self, i: Instance, spec: AppSpec, now: float) -> None:
        drain = max(self.min_drain, min(MAX_DRAIN_SECONDS, spec.kill_grace_period + 5))
        self.stopping[i.task_id] = Stopping(i.task_id, now + drain, now + self.min_drain)

    def app(self, app_id: str) -> AppRecord:
        app = self.apps.get(app_id.strip("/"))
        if app is None:
            known = ", ".join(sorted(self.apps)) or "none"
            raise KeyError(f"no app {app_id!r} (apps: {known})")
        return app

    def instances_of(self, app_id: str) -> list[Instance]:
        return sorted(
            (i for i in self.instances.values() if i.app_id == app_id),
            key=lambda i: i.launched_at,
        )

    def endpoints(self, app_id: str) -> list[Instance]:
        """Instances that take traffic: running, healthy if checked, ready, not stopping."""
        app = self.apps.get(app_id)
        if app is None:
            return []
        return [i for i in self.instances_of(app_id) if self._serving(app, i)]

    def _serving(self, app: AppRecord, i: Instance) -> bool:
        if i.killing or i.inactive or i.state != "running" or not i.ready or not i.ports:
            return False
        spec = app.versions.get(i.version, app.spec)
        return i.healthy is True or not spec.checked

    def _check_vip(self, spec: AppSpec) -> None:
        if spec.vip is None:
            return
        for other in self.apps.values():
            v = other.spec.vip
            if (
                other.id != spec.id
                and v is not None
                and (v.host, v.port)
                == (
                    spec.vip.host,
                    spec.vip.port,
                )
            ):
                raise deployment.DeploymentError(
                    f"vip {v.host}:{v.port} is already used by app {other.id!r}"
                )

    def _save(self, app: AppRecord) -> AppRecord:
        self._publish_deployments(self.apps.get(app.id), app)
        self.counts.saved(self.apps.get(app.id), app)
        self.apps[app.id] = app
        self._persist(self.store.save_app, app)
        self._wake.set()
        return app

    def _publish_deployments(self, before: AppRecord | None, after: AppRecord) -> None:
        now = self.clock()
        earlier = before.history if before is not None else ()
        for d in after.history:
            if d not in earlier:
                self.events.publish(Event(DEPLOYMENT_ENDED, after.id, now, after, d))
        new = after.deployment
        was = before.deployment if before is not None else None
        if new is not None and (was is None or was.id != new.id):
            self.events.publish(Event(DEPLOYMENT_STARTED, after.id, now, after, new))

    # ------------------------------------------------------------------ the loop

    async def run(self) -> None:
        """Tick until cancelled: on every change, and every ``tick_seconds``."""
        hosts = None
        if self.vip_proxy_command is not None:
            hosts = asyncio.ensure_future(self._watch_agent_hosts())
        try:
            await self._tick_forever()
        finally:
            if hosts is not None:
                hosts.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await hosts

    async def _watch_agent_hosts(self) -> None:
        while True:
            try:
                async with AsyncOperatorClient(self.master) as client:
                    agents = await client.get_agents()
            except OperatorError as exc:
                log.warning("cannot list the agents for the VIP proxies: %s", exc)
            else:
                hosts = {a.agent_info.hostname for a in agents.agents}
                if hosts != self.agent_hosts:
                    self.agent_hosts = hosts
                    self._wake.set()
            await asyncio.sleep(AGENT_HOSTS_SECONDS)

    async def _tick_forever(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:  # a bug in one tick must not stop the framework
                log.exception("tick failed")
            self._wake.clear()
            await wait_event(self._wake, self.tick_seconds)  # never swallows a cancel

    def tick(self) -> None:
        """Run the controller for every app and carry out its plans."""
        now = self.clock()
        self._keep_vip_proxies(now)
        for app_id in list(self.apps):
            p = plan(self.apps[app_id], self.instances.values(), now)
            waiting = dependencies.waiting_for(p.app, self.apps, self.instances.values())
            if waiting is not None:
                p = replace(p, launch=0, notes=(*p.notes, waiting))
            self._apply(p, now)
        self._stop_drained(now)
        self._reconcile_stale(now)
        self._probe_readiness()
        self._release_unwanted()
        self._want_offers(self._offers_wanted())

    def _keep_vip_proxies(self, now: float) -> None:
        """The system app wants one VIP proxy on each agent host (or none when off)."""
        app = self.apps.get(VIP_PROXY_APP)
        if self.vip_proxy_command is None:
            if app is not None and not app.deleting:
                self._save(deployment.delete(app, now))
            return
        if not self.agent_hosts:
            return  # not listed yet
        spec = vip_proxy_spec(self.vip_proxy_command, len(self.agent_hosts))
        if app is None:
            log.info("VIP proxies on %d agent hosts", len(self.agent_hosts))
            self._save(deployment.new_app(spec, now))
        elif app.deleting or app.spec.to_dict() != spec.to_dict():
            log.info("VIP proxies on %d agent hosts", len(self.agent_hosts))
            self._save(deployment.update(app, spec, now))

    def _apply(self, p: Plan, now: float) -> None:
        app = p.app
        if p.forget:
            del self.apps[app.id]
            self._persist(self.store.delete_app, app.id)
            self.pending.pop(app.id, None)
            self.misfits.pop(app.id, None)
            self.notes.pop(app.id, None)
            self.last_failure.pop(app.id, None)
            log.info("app %s deleted", app.id)
            self.events.publish(Event(APP_REMOVED, app.id, now, app))
            return
        if app != self.apps[app.id]:
            self._log_deployment(self.apps[app.id], app)
            self._save(app)
        if not p.launch:
            self.misfits.pop(app.id, None)
        if app.deployment is None:
            self.last_failure.pop(app.id, None)  # nothing in progress to explain
        notes = p.notes
        waiting = self.unplaced_reason(app.id) if p.launch else None
        if waiting is not None:
            notes = (*notes, f"{p.launch} instance(s) waiting for an offer: {waiting}")
        if failed := self.last_failure.get(app.id):
            notes = (*notes, f"last failure: {failed}")
        if app.spec.resident:
            notes = (*notes, *self._resident_notes(app.id, p.launch))
        self.notes[app.id] = notes
        for task_id in p.inactive:
            self._update(self.instances[task_id].with_(inactive=True))
            log.info("%s unreachable too long: replacing it", task_id)
        for task_id in p.expunge:
            self._forget(task_id)
        for kill in p.kills:
            i = self.instances.get(kill.task_id)
            if i is None or i.killing:
                continue
            log.info("stopping %s: %s", i.task_id, kill.reason)
            self._update(i.with_(killing=True, kill_reason=kill.reason))
            if kill.failure:
                self._save(deployment.instance_failed(self.apps[app.id], i.version, now))
            self._stop(i, app.spec, now)
        self.pending[app.id] = p.launch

    def _log_deployment(self, before: AppRecord, after: AppRecord) -> None:
        for d in after.history:
            if d not in before.history:
                log.info(
                    "deployment %s of %s to %s: %s %s",
                    d.id,
                    d.app_id,
                    d.to_version,
                    d.status,
                    d.message,
                )

    def _stop_drained(self, now: float) -> None:
        """Kill stopping instances once no VIP connection uses them (or time is up)."""
        for s in list(self.stopping.values()):
            i = self.instances.get(s.task_id)
            if i is None:
                del self.stopping[s.task_id]
                continue
            if s.killed_at and now - s.killed_at < KILL_RETRY_SECONDS:
                continue
            busy = i.ports and self.connections(i.hostname, i.ports[0]) > 0
            if not s.killed_at and (now < s.drained_at or (busy and now < s.drain_until)):
                continue
            s.killed_at = now
            if self.driver is not None:
                spec = self._spec_of(i)
                # A pod's group ends with any of its tasks; all are asked, in case one is gone.
                for task_id in i.task_ids:
                    self.driver.kill(task_id, i.agent_id, spec.kill_grace_period)

    def _reconcile_stale(self, now: float) -> None:
        """Ask about instances that never started: a lost launch must not count forever."""
        if self.driver is None or now - self._reconciled_at < STALE_LAUNCH_SECONDS:
            return
        self._reconciled_at = now
        stale = [
            (task_id, i.agent_id)
            for i in self.instances.values()
            if i.state == "staging" and now - i.launched_at > STALE_LAUNCH_SECONDS
            for task_id in i.task_ids
        ]
        if stale:
            self.driver.reconcile(stale)

    def _spec_of(self, i: Instance) -> AppSpec:
        app = self.apps.get(i.app_id)
        if app is None:
            raise KeyError(i.app_id)
        return app.versions.get(i.version, app.spec)

    def _want_offers(self, want: bool) -> None:
        if self.driver is None or not self.driver.connected:
            return
        if want and self.suppressed is not False:
            self.driver.revive()
            self.suppressed = False
        elif not want and self.suppressed is not True:
            self.driver.suppress()
            self.suppressed = True

    def _probe_readiness(self) -> None:
        for i in list(self.instances.values()):
            if i.ready or i.state != "running" or i.task_id in self._probing or i.killing:
                continue
            app = self.apps.get(i.app_id)
            check = app.versions.get(i.version, app.spec).readiness_check if app else None
            if check is None or len(i.ports) <= check.port_index:
                self._update(i.with_(ready=True))
                continue
            self._probing.add(i.task_id)
            url_port = i.ports[check.port_index]
            self._probes[i.task_id] = asyncio.ensure_future(
                self._await_ready(
                    i.task_id, i.hostname, url_port, check.path, check.interval, check.timeout
                )
            )

    async def _await_ready(
        self, task_id: str, host: str, port: int, path: str, interval: float, timeout: float
    ) -> None:
        try:
            while task_id in self.instances:
                if await http_ready(host, port, path, timeout):
                    i = self.instances.get(task_id)
                    if i is not None:
                        self._update(i.with_(ready=True))
                        self._wake.set()
                    return
                await asyncio.sleep(interval)
        finally:
            self._probing.discard(task_id)
            self._probes.pop(task_id, None)

    # ------------------------------------------------------------------ instances

    def _update(self, instance: Instance) -> None:
        self.instances[instance.task_id] = instance
        self._persist(self.store.save_instance, instance)

    def _forget(self, task_id: str) -> None:
        self.instances.pop(task_id, None)
        self.stopping.pop(task_id, None)
        self._persist(self.store.delete_instance, task_id)

    # ------------------------------------------------------------------ callbacks

    def subscribed(
        self, driver: SchedulerDriver, framework_id: str, master_info: pb.MasterInfo
    ) -> None:
        self.driver = driver
        self._persist(self.store.save_framework_id, framework_id)
        # The master may keep an old suppression or filters across a failover: say again.
        self.suppressed = None
        log.info("subscribed as %s; reconciling %d instances", framework_id, len(self.instances))
        # Known instances by id (unknown ones come back TASK_UNKNOWN), then everything the
        # master has (tasks launched just before a crash, before they were stored).
        driver.reconcile([(t, i.agent_id) for i in self.instances.values() for t in i.task_ids])
        driver.reconcile()
        for s in self.stopping.values():
            s.killed_at = 0.0  # kills sent before a reconnection may be lost
        self._wake.set()

    def offers(self, driver: SchedulerDriver, offers: list[pb.Offer]) -> None:
        for offer in offers:
            self.places[offer.agent_id] = Place(offer.hostname, dict(offer.attributes))
        offers = self._resident_offers(driver, offers)
        candidates = [
            Candidate(o.agent_id, self.places[o.agent_id], offer_resources(o)) for o in offers
        ]
        launches: dict[int, list[pb.TaskInfo]] = {}
        groups: dict[int, list[spb.Call.Operation]] = {}  # pods' LAUNCH_GROUPs
        for app_id in [a for a, wanted in self.pending.items() if wanted > 0]:
            app = self.apps.get(app_id)
            if app is not None and not app.spec.resident:
                candidates = self._place(app, offers, candidates, launches, groups)
        for index, offer in enumerate(offers):
            if index in groups:
                operations = list(groups[index])
                if index in launches:
                    operation = spb.Call.Operation(type=spb.Call.Operation.LAUNCH)
                    operation.launch.task_infos.extend(launches[index])
                    operations.insert(0, operation)
                driver.accept(offer.id, operations, calls.refuse(1.0))
            elif index in launches:
                driver.launch(offer.id, launches[index], calls.refuse(1.0))
            else:
                driver.decline(offer.id, refuse_seconds=1.0 if self._offers_wanted() else 30)

    def _place(
        self,
        app: AppRecord,
        offers: list[pb.Offer],
        candidates: list[Candidate],
        launches: dict[int, list[pb.TaskInfo]],
        groups: dict[int, list[spb.Call.Operation]],
    ) -> list[Candidate]:
        """Place the app's pending instances on the offers; return what is left of them."""
        spec = app.spec
        mine = [i for i in self.instances_of(app.id) if not i.killing and not i.inactive]
        result = placement.place(
            _ask(spec),
            self.pending.get(app.id, 0),
            candidates,
            [(i.agent_id, self._place_of(i)) for i in mine],
            self.places.values(),
        )
        seen = self.misfits.setdefault(app.id, {})
        seen.update(result.misfits)
        now = self.clock()
        for launch in result.launches:
            offer = offers[launch.index]
            seen.pop(offer.agent_id, None)
            instance = Instance(
                task_id=task_id_for(app.id, app.current),
                app_id=app.id,
                version=app.current,
                agent_id=offer.agent_id,
                hostname=offer.hostname,
                attributes=dict(offer.attributes),
                ports=launch.ports,
                ready=spec.readiness_check is None,
                launched_at=now,
                containers=pods.new_containers(spec),
            )
            if spec.is_pod:
                groups.setdefault(launch.index, []).append(self._group(spec, instance, launch.uses))
            else:
                launches.setdefault(launch.index, []).append(
                    self._task_info(spec, instance, launch.uses)
                )
            self._update(instance)
            log.info("launching %s on %s", instance.task_id, offer.hostname)
        self.pending[app.id] -= len(result.launches)
        return result.candidates

    # ------------------------------------------------------------------ resident apps

    def _offers_wanted(self) -> bool:
        """Launches to place, or an idle resident slot (its relaunch or release is next)."""
        live = self.instances.keys()
        return any(self.pending.values()) or any(
            resident.idle(s, live) for s in self.slots.values()
        )

    def _resident_offers(self, driver: SchedulerDriver, offers: list[pb.Offer]) -> list[pb.Offer]:
        """Accept the offers resident apps use (see ``resident``); return the others."""
        if not self.slots and not any(
            a.spec.resident and self.pending.get(a.id, 0) > 0 for a in self.apps.values()
        ):
            return offers
        if self.role == "*" or not driver.framework_id:
            return offers
        owner = resident.Owner(driver.framework_id, self.role, driver.principal)
        pending = {a: n for a, n in self.pending.items() if n > 0}
        now = self.clock()
        planned = resident.plan_offers(
            self.apps,
            pending,
            self.slots,
            self.instances.keys(),
            [Candidate(o.agent_id, self.places[o.agent_id], offer_resources(o)) for o in offers],
            owner,
            lambda: uuid.uuid4().hex[:8],
            now,
            self.places.values(),
        )
        for slot in [*planned.confirmed, *planned.new]:
            self._update_slot(slot)
        for slot_id in planned.released:
            log.info("released the reservation and volumes of %s", slot_id)
            self.slots.pop(slot_id, None)
            self._persist(self.store.delete_slot, slot_id)
        for app_id, misfits in planned.misfits.items():
            self.misfits.setdefault(app_id, {}).update(misfits)
        for index, ops in planned.operations.items():
            operations = [
                *([calls.destroy_volumes(ops.destroy)] if ops.destroy else []),
                *([calls.unreserve(ops.unreserve)] if ops.unreserve else []),
                *([calls.reserve(ops.reserve)] if ops.reserve else []),
                *([calls.create_volumes(ops.create)] if ops.create else []),
            ]
            tasks = [self._resident_task(t, offers[index], now) for t in ops.launches]
            if tasks:
                operations.append(calls.launch_operation(tasks))
            driver.accept(offers[index].id, operations, calls.refuse(1.0))
        return [o for index, o in enumerate(offers) if index not in planned.operations]

    def _resident_task(
        self, launch: resident.TaskLaunch, offer: pb.Offer, now: float
    ) -> pb.TaskInfo:
        app = self.apps[launch.slot.app_id]
        instance = Instance(
            task_id=task_id_for(app.id, app.current),
            app_id=app.id,
            version=app.current,
            agent_id=offer.agent_id,
            hostname=offer.hostname,
            attributes=dict(offer.attributes),
            ports=launch.ports,
            ready=app.spec.readiness_check is None,
            launched_at=now,
        )
        self._update(instance)
        self._update_slot(
            self.slots.get(launch.slot.id, launch.slot).with_(task_id=instance.task_id)
        )
        self.pending[app.id] -= 1
        self.misfits.pop(app.id, None)
        log.info(
            "launching %s on %s (resident %s)", instance.task_id, offer.hostname, launch.slot.id
        )
        info = self._task_info(app.spec, instance, launch.uses)
        info.agent_id = offer.agent_id
        return info

    def _update_slot(self, slot: resident.Slot) -> None:
        self.slots[slot.id] = slot
        self._persist(self.store.save_slot, slot)

    def _release_unwanted(self) -> None:
        for slot_id in resident.unwanted(self.slots.values(), self.apps, self.instances.keys()):
            log.info("releasing %s: its app no longer wants it", slot_id)
            self._update_slot(self.slots[slot_id].with_(state=resident.RELEASING))

    def _resident_status(self, status: pb.TaskStatus) -> None:
        """A resident task's update says whether its slot's reservation holds."""
        slot = next((s for s in self.slots.values() if s.task_id == status.task_id), None)
        if slot is None or slot.state != resident.RESERVING:
            return
        if status.state in (pb.TASK_ERROR, pb.TASK_DROPPED, pb.TASK_UNKNOWN, pb.TASK_GONE):
            # The ACCEPT never took (or the agent is gone): a later offer still holding a
            # reservation of it releases that, as any reservation no slot claims.
            log.info("%s: its reservation was not made (%s)", slot.id, state_name(status.state))
            self.slots.pop(slot.id, None)
            self._persist(self.store.delete_slot, slot.id)
        else:
            self._update_slot(slot.with_(state=resident.RESERVED))

    def _resident_notes(self, app_id: str, launch: int) -> tuple[str, ...]:
        if self.role == "*":
            return (
                "resident apps reserve resources for the framework's role: start "
                "`mesospy service serve` with --role",
            )
        return resident.waiting_notes(self.slots.values(), app_id, self.instances.keys(), launch)

    def unplaced_reason(self, app_id: str) -> str | None:
        """Why the app's pending instances found no place, over the agents seen (None:
        nothing was refused)."""
        seen = {a: m for a, m in self.misfits.get(app_id, {}).items() if a in self.places}
        app = self.apps.get(app_id)
        if not seen or app is None:
            return None
        return placement.explain(seen, app.spec.constraints)

    def _place_of(self, i: Instance) -> Place:
        return self.places.get(i.agent_id) or Place(i.hostname, i.attributes)

    def _group(self, spec: AppSpec, i: Instance, uses: Resources) -> spb.Call.Operation:
        """A pod's instance as one LAUNCH_GROUP: a task per container, in a DEFAULT
        executor of its own (its id the instance's); the ports go with the first main
        container (they are the instance's: every container sees PORT0..n)."""
        env = {
            **pod_env(i.ports, i.hostname),
            **task_env(spec, i.version, i.ports),
            "APP_ID": spec.id,
            "APP_VERSION": i.version,
        }
        labels = {"app": spec.id, "version": i.version, **spec.labels}
        holder = next(c.name for c in spec.containers if c.main)
        port_ranges = uses.ranges("ports")
        port_resources = (
            Resources(ranges={"ports": port_ranges}) if port_ranges else Resources.EMPTY
        )
        operation = spb.Call.Operation(type=spb.Call.Operation.LAUNCH_GROUP)
        operation.launch_group.executor.CopyFrom(default_executor(i.task_id, POD_EXECUTOR))
        for c in spec.containers:
            needs = Resources(
                {"cpus": c.cpus, "mem": c.mem, **({"disk": c.disk} if c.disk else {})}
            )
            info = task(
                container_task_id(i.task_id, c.name),
                list(c.args) if c.args else c.cmd,
                needs + port_resources if c.name == holder else needs,
                agent_id=i.agent_id,
                name=f"{spec.id}.{c.name}",
                env={**env, **c.env, "CONTAINER_NAME": c.name},
                labels={**labels, "container": c.name},
                health_check=_health_check(c.health_check, i.ports),
                kill_grace_period=spec.kill_grace_period,
                image=c.image.image if c.image else None,
                force_pull=bool(c.image and c.image.force_pull),
                entrypoint=c.image.entrypoint if c.image else None,
            )
            if c.hook != "main":  # the DEFAULT executor orders the group by it
                info.lifecycle.hook = HOOKS[c.hook]
                info.lifecycle.sidecar = c.sidecar
            operation.launch_group.task_group.tasks.append(info)
        return operation

    def _task_info(self, spec: AppSpec, i: Instance, uses: Resources) -> pb.TaskInfo:
        env = {**task_env(spec, i.version, i.ports), "APP_ID": spec.id, "APP_VERSION": i.version}
        labels = {"app": spec.id, "version": i.version, **spec.labels}
        info = task(
            i.task_id,
            list(spec.args) if spec.args else spec.cmd,
            uses,
            name=spec.id,
            env=env,
            labels=labels,
            health_check=_health_check(spec.health_check, i.ports),
            kill_grace_period=spec.kill_grace_period,
            uris=[artifact.to_proto() for artifact in spec.fetch],
            image=spec.container.image if spec.container else None,
            force_pull=bool(spec.container and spec.container.force_pull),
            entrypoint=spec.container.entrypoint if spec.container else None,
        )
        if spec.user:
            info.command.user = spec.user
        return info

    def status_update(self, driver: SchedulerDriver, status: pb.TaskStatus) -> None:
        now = self.clock()
        self._resident_status(status)
        pod = split_container_task_id(status.task_id)
        key = pod[0] if pod is not None else status.task_id
        i = self.instances.get(key) or self._adopt(driver, status, now)
        if i is None:
            return
        self.events.publish(
            Event(
                STATUS_UPDATE,
                i.app_id,
                now,
                instance=i,
                state=state_name(status.state),
                message=status.message,
            )
        )
        if pod is not None and i.containers:
            self._container_update(i, pod[1], status, now)
        elif is_terminal(status.state) or status.state == pb.TASK_UNKNOWN:
            self._ended(i, status, now)
        else:
            self._update(_observe(i, status, now))
            if status.HasField("healthy") and status.healthy != i.healthy:
                self.events.publish(
                    Event(HEALTH_CHANGED, i.app_id, now, instance=i, healthy=status.healthy)
                )
            if status.HasField("healthy") and status.healthy and i.app_id in self.apps:
                self._save(deployment.instance_healthy(self.apps[i.app_id]))
        self._wake.set()

    def _container_update(self, i: Instance, name: str, status: pb.TaskStatus, now: float) -> None:
        """A status update of one container of a pod's instance (see ``pods``)."""
        ended = is_terminal(status.state) or status.state == pb.TASK_UNKNOWN
        healthy = status.healthy if status.HasField("healthy") else None
        state = state_name(status.state).removeprefix("TASK_").lower()
        after, ends = pods.observe(i, name, state, ended, healthy, status.message, now)
        after = after.with_(agent_id=status.agent_id or i.agent_id)
        if ends and not i.killing:
            detail = f": {status.message}" if status.message else ""
            why = f"container {name} {state}{detail}"
            log.info("%s ends: %s", i.task_id, why)
            after = after.with_(killing=True, kill_reason=why)
            app = self.apps.get(i.app_id)
            if app is not None and status.state in APP_FAILURES:
                self.last_failure[app.id] = f"{status.task_id} {state_name(status.state)}{detail}"
                self._save(deployment.instance_failed(app, i.version, now))
            # The executor ends a group itself when one of its tasks fails or is killed,
            # but not when a main container finishes (or its agent is lost): stop it.
            if status.state not in (pb.TASK_FAILED, pb.TASK_KILLED):
                self.stopping[i.task_id] = Stopping(i.task_id, now, now)
        if pods.all_ended(after):
            self._forget(i.task_id)
            return
        self._update(after)
        if after.healthy is not None and after.healthy != i.healthy:
            self.events.publish(
                Event(HEALTH_CHANGED, i.app_id, now, instance=after, healthy=after.healthy)
            )
            if after.healthy and i.app_id in self.apps:
                self._save(deployment.instance_healthy(self.apps[i.app_id]))

    def _adopt(self, driver: SchedulerDriver, status: pb.TaskStatus, now: float) -> Instance | None:
        """A task we have no record of: adopt it if its app still wants it, else kill it."""
        if is_terminal(status.state) or status.state == pb.TASK_UNKNOWN:
            return None
        parsed = parse_task_id(status.task_id)
        app = self.apps.get(parsed[0]) if parsed else None
        spec = app.versions.get(parsed[1]) if parsed and app else None
        pod = split_container_task_id(status.task_id)
        if spec is not None and pod is not None:
            known = spec.pod_container(pod[1]) is not None
        else:
            known = spec is not None and not spec.is_pod
        if parsed is None or app is None or spec is None or not known:
            log.info("killing %s: it belongs to no app", status.task_id)
            driver.kill(status.task_id, status.agent_id)
            return None
        place = self.places.get(status.agent_id, Place("", {}))
        log.info("adopting running task %s", status.task_id)
        instance_id, holder = status.task_id, status.task_id
        if pod is not None:  # a pod's instance: its ports are with its first main container
            instance_id = pod[0]
            main = next(c.name for c in spec.containers if c.main)
            holder = container_task_id(instance_id, main)
        # Until the master says which ports it has, it counts but takes no VIP traffic.
        self._lookups[instance_id] = asyncio.ensure_future(
            self._learn_placement(instance_id, holder, driver.framework_id)
        )
        return Instance(
            instance_id,
            app.id,
            parsed[1],
            status.agent_id,
            place.hostname,
            dict(place.attributes),
            launched_at=now,
            containers=pods.new_containers(spec),
        )

    async def _learn_placement(self, instance_id: str, task_id: str, framework_id: str) -> None:
        """An adopted task's ports and agent, from the master (it has no record of ours)."""
        try:
            async with AsyncOperatorClient(self.master) as client:
                found = await client.find_task(task_id, framework_id)
                agents = await client.get_agents()
        except OperatorError as exc:
            log.warning("cannot look up adopted task %s: %s", task_id, exc)
            return
        finally:
            self._lookups.pop(instance_id, None)
        ranges = Resources.from_proto(list(found.resources)).ranges("ports")
        ports = tuple(p for begin, end in ranges for p in range(begin, end + 1))
        agent = next(
            (a.agent_info for a in agents.agents if a.agent_info.id == found.agent_id), None
        )
        i = self.instances.get(instance_id)
        if i is None:
            return
        if agent is not None:
            i = i.with_(hostname=agent.hostname, attributes=dict(agent.attributes))
        self._update(i.with_(ports=ports))
        self._wake.set()

    def _ended(self, i: Instance, status: pb.TaskStatus, now: float) -> None:
        self._forget(i.task_id)
        app = self.apps.get(i.app_id)
        detail = f": {status.message}" if status.message else ""
        log.info("%s %s%s", i.task_id, state_name(status.state), detail)
        if app is not None and not i.killing and status.state in APP_FAILURES:
            self.last_failure[app.id] = f"{i.task_id} {state_name(status.state)}{detail}"
            self._save(deployment.instance_failed(app, i.version, now))

    def failure(
        self, driver: SchedulerDriver, agent_id: str, executor_id: str, status: int | None
    ) -> None:
        self.places.pop(agent_id, None)

    def error(self, driver: SchedulerDriver, message: str) -> None:
        log.error("master: %s", message)

    def disconnected(self, driver: SchedulerDriver) -> None:
        log.warning("disconnected from the master; reconnecting")


def _log_write_error(future: Future[None]) -> None:
    if future.exception() is not None:
        log.error("cannot write to the state store: %s", future.exception())


def _observe(i: Instance, status: pb.TaskStatus, now: float) -> Instance:
    """The instance after a (non-terminal) status update."""
    state = i.state
    if status.state == pb.TASK_RUNNING:
        state = "running"
    elif status.state == pb.TASK_UNREACHABLE:
        state = "unreachable"
    i = i.with_(state=state, agent_id=status.agent_id or i.agent_id)
    if state == "unreachable":
        if i.unreachable_since is None:
            i = i.with_(unreachable_since=now)
    elif i.unreachable_since is not None and not i.inactive:
        i = i.with_(unreachable_since=None)
    if status.HasField("healthy"):
        if status.healthy:
            i = i.with_(healthy=True, unhealthy_since=None)
        elif i.healthy is not False:
            i = i.with_(healthy=False, unhealthy_since=now)
    return i


def _ask(spec: AppSpec) -> Ask:
    """What one instance of ``spec`` needs from an offer (a pod: its containers' sum, and
    its executor's share)."""
    needs = Resources(
        {"cpus": spec.cpus, "mem": spec.mem, **({"disk": spec.disk} if spec.disk else {})}
    )
    if spec.is_pod:
        needs = needs + POD_EXECUTOR
    return Ask(needs, spec.host_ports or tuple(0 for _ in spec.ports), spec.constraints)


def _health_check(h: HealthCheckSpec | None, ports: tuple[int, ...]) -> pb.HealthCheck | None:
    if h is None:
        return None
    check = pb.HealthCheck(
        delay_seconds=h.delay,
        interval_seconds=h.interval,
        timeout_seconds=h.timeout,
        grace_period_seconds=h.grace_period,
        consecutive_failures=AGENT_NEVER_KILLS,
    )
    if h.protocol == "COMMAND":
        check.type = pb.HealthCheck.COMMAND
        check.command.shell = h.command
    elif h.protocol == "TCP":
        check.type = pb.HealthCheck.TCP
        check.tcp.port = ports[h.port_index]
    else:
        check.type = pb.HealthCheck.HTTP
        check.http.port = ports[h.port_index]
        check.http.path = h.path
        check.http.scheme = h.protocol.lower()
    return check
