"""The batch framework's scheduler: jobs and runs in, tasks on offers out.

Built only on the public SDK. The rules that make runs exactly-once:

- every change is written to the store before anything acts on it: a tick's run (or a
  DAG child's run) before its tasks launch, an instance's attempt before its task is
  launched, a run's end before its tasks are killed;
- ids are derived, never drawn: run ids from the cron tick (or the parents' runs), task
  ids from (job, run, instance, attempt), so redoing a step after a crash finds what the
  first try did instead of doing it again;
- after a restart the framework re-subscribes with its stored framework id, reconciles
  its active attempts, and adopts the tasks the master still has. A task the master has
  never heard of is launched again under the next attempt number, never the same id;
- while connected it reconciles its active attempts every ``reconcile_interval`` seconds
  (explicit), and every task the master knows after each subscription (implicit), so a
  launch or a status update lost on the way is noticed within that interval.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any

from frameworks.batch import dag, placement
from frameworks.batch.containers import Container
from frameworks.batch.formats import load_job
from frameworks.batch.jobs import JobRecord, child_run_id, manual_run_id, scheduled_run_id
from frameworks.batch.metrics import BatchCounts
from frameworks.batch.quota_waits import WAITING_PREFIX, RoleQuota, limit_reason
from frameworks.batch.runs import Instance, Kill, Run, container_of, parse_task_id
from frameworks.batch.schedule import plan_ticks
from frameworks.batch.spec import JobSpec, SpecError
from mesospy.resources import ResourceError, Resources
from mesospy.scheduler import (
    Scheduler,
    SchedulerDriver,
    StateStore,
    calls,
    default_executor,
    is_terminal,
    offer_resources,
    state_name,
    task,
)
from mesospy.scheduler.state import FRAMEWORK_ID_KEY
from mesospy.v1 import common_pb2, scheduler_pb2

__all__ = ["BatchScheduler", "Conflict", "JobNotFound"]

log = logging.getLogger("mesospy.batch")

SHORT_REFUSE = 1.0  # seconds: unused resources while work is waiting
LONG_REFUSE = 600.0  # nothing to launch: do not offer these again for a while
MAX_HISTORY = 100  # finished runs kept per job
RECONCILE_SECONDS = 60.0  # explicit reconciliation of the active attempts this often
# An attempt launched this recently is left out of periodic reconciliation: its launch may
# still be on its way to the master, which would answer TASK_UNKNOWN (launch it again).
LAUNCH_GRACE = 10.0


class JobNotFound(LookupError):
    """No such job or run."""


class Conflict(ValueError):
    """The request clashes with the current state (e.g. deleting a job others depend on)."""


class BatchScheduler(Scheduler):
    """Keeps jobs and runs (mirrored in ``store``) and turns them into tasks."""

    def __init__(
        self,
        store: StateStore,
        clock: Callable[[], float] = time.time,
        reconcile_interval: float = RECONCILE_SECONDS,
        roles: Sequence[str] = ("*",),
    ) -> None:
        self.store = store
        self.roles = tuple(roles) or ("*",)  # the framework's roles: a job names one
        self.clock = clock
        self.reconcile_interval = reconcile_interval  # 0: only after subscribing
        self._next_reconcile = 0.0
        self.driver: SchedulerDriver | None = None
        self.framework_id: str = store.framework_id()
        self.jobs: dict[str, JobRecord] = {}
        self.runs: dict[str, dict[str, Run]] = {}
        self.agents: dict[str, dict[str, str]] = {}  # agent id -> attributes (for constraints)
        # Whether offers are suppressed: None when unknown (the master may keep a
        # suppression or decline filters of ours across a re-subscription).
        self.suppressed: bool | None = None
        # What changed since the last commit(): writes for the store (by key; None
        # deletes; the value is made at commit time) and the driver calls that must wait
        # until those writes are durable.
        self._writes: dict[str, Callable[[], Any] | None] = {}
        self._actions: list[Callable[[], None]] = []
        self._commit_lock = asyncio.Lock()
        self._commit_task: asyncio.Task[None] | None = None
        self._commit_wanted = False
        self.counts = BatchCounts()  # for the metrics
        self._load()

    # ------------------------------------------------------------------ storage

    def _load(self) -> None:
        for name in self.store.children("jobs"):
            data = self.store.get(f"jobs/{name}")
            if data is not None:
                self.jobs[name] = JobRecord.from_dict(data)
                self.runs[name] = {}
        for name in self.store.children("runs"):
            if name not in self.jobs:
                self.store.delete(f"runs/{name}")  # a job deleted half-way
                continue
            for run_id in self.store.children(f"runs/{name}"):
                data = self.store.get(f"runs/{name}/{run_id}")
                if data is not None:
                    self.runs[name][run_id] = Run.from_dict(data)
        log.info("loaded %d jobs, %d runs", len(self.jobs), sum(map(len, self.runs.values())))

    def _put(self, key: str, value: Callable[[], Any]) -> None:
        self._writes.pop(key, None)  # re-inserted last: writes apply in order
        self._writes[key] = value

    def _delete(self, key: str) -> None:
        self._writes.pop(key, None)
        self._writes[key] = None

    def _save_job(self, record: JobRecord) -> None:
        self._put(f"jobs/{record.name}", record.to_dict)

    def _save_run(self, run: Run) -> None:
        self._put(f"runs/{run.job}/{run.id}", run.to_dict)

    def _after_commit(self, action: Callable[[], None]) -> None:
        self._actions.append(action)

    async def commit(self) -> None:
        """Write what changed to the store (off the event loop), then make the driver
        calls that depended on it: launches, kills, acknowledgements.

        Commits run one at a time, in order. If the store fails, the writes and calls wait
        for the next commit (updates stay unacknowledged; the agents resend them).
        """
        async with self._commit_lock:
            writes = [(key, None if make is None else make()) for key, make in self._writes.items()]
            actions, self._writes, self._actions = self._actions, {}, []
            try:
                if writes:
                    await asyncio.to_thread(self._apply, writes)
            except BaseException:
                for key, value in reversed(writes):
                    if key not in self._writes:
                        self._writes = {key: _constant(value), **self._writes}
                self._actions[:0] = actions
                raise
            for action in actions:
                action()

    def _apply(self, writes: list[tuple[str, Any]]) -> None:
        for key, value in writes:
            if value is None:
                self.store.delete(key)
            else:
                self.store.put(key, value)

    def commit_soon(self) -> None:
        """Commit once the events being delivered now are handled: one write per run,
        however many of its tasks changed."""
        self._commit_wanted = True
        if self._commit_task is None or self._commit_task.done():
            self._commit_task = asyncio.get_running_loop().create_task(self._commit_while_wanted())

    async def _commit_while_wanted(self) -> None:
        while self._commit_wanted:
            self._commit_wanted = False
            await asyncio.sleep(0)  # after the rest of the batch of events
            try:
                await self.commit()
            except Exception:
                log.exception("cannot write the state; trying again at the next tick")
                return

    def _add_run(self, run: Run) -> Run:
        self._save_run(run)
        self.runs[run.job][run.id] = run
        self._prune(run.job)
        return run

    def _prune(self, job: str, now: float | None = None) -> None:
        """Forget the finished runs the job's history settings do not keep."""
        history = self.jobs[job].spec.history
        finished = sorted((r for r in self.runs[job].values() if r.final), key=lambda r: r.created)
        if history.succeeded is None and history.failed is None:
            drop = finished[: max(0, len(finished) - MAX_HISTORY)]
        else:
            drop = []
            for state_ok, keep in ((True, history.succeeded), (False, history.failed)):
                runs = [r for r in finished if (r.state == "SUCCEEDED") == state_ok]
                limit = MAX_HISTORY if keep is None else keep
                drop += runs[: max(0, len(runs) - limit)]
        if history.ttl is not None and now is not None:
            drop += [r for r in finished if r not in drop and now - r.finished >= history.ttl]
        for run in drop:
            self._delete(f"runs/{job}/{run.id}")
            del self.runs[job][run.id]

    # ------------------------------------------------------------------ queries

    def job(self, name: str) -> JobRecord:
        if name not in self.jobs:
            raise JobNotFound(f"no job named {name!r}")
        return self.jobs[name]

    def run_history(self, name: str) -> list[Run]:
        self.job(name)
        return sorted(self.runs[name].values(), key=lambda r: (r.created, r.id))

    def get_run(self, name: str, run_id: str = "") -> Run:
        history = self.run_history(name)
        if not run_id:
            if not history:
                raise JobNotFound(f"job {name!r} has no runs yet")
            return history[-1]
        if run_id not in self.runs[name]:
            raise JobNotFound(f"job {name!r} has no run {run_id!r}")
        return self.runs[name][run_id]

    def active_runs(self, name: str) -> list[Run]:
        return [r for r in self.run_history(name) if not r.final]

    def suspended(self, record: JobRecord) -> bool:
        return record.suspended

    # ------------------------------------------------------------------ API actions

    def submit(self, text: str) -> JobRecord:
        """Create or replace a job from its spec (native, or a format of
        ``frameworks.batch.formats``); raises ``SpecError`` with every problem."""
        spec = load_job(text).spec
        problems = [
            (f"parents[{i}]", f"no job named {parent!r} (submit it first)")
            for i, parent in enumerate(spec.parents)
            if parent not in self.jobs
        ]
        graph = {name: list(r.spec.parents) for name, r in self.jobs.items()}
        graph[spec.name] = list(spec.parents)
        if not problems and (cycle := dag.find_cycle(graph)):
            problems.append(("parents", f"would make a cycle: {' -> '.join(cycle)}"))
        if spec.role not in self.roles:
            problems.append(
                (
                    "role",
                    f"{spec.role!r} is not one of the framework's roles "
                    f"({', '.join(self.roles)}); start it with --role {spec.role}",
                )
            )
        if problems:
            raise SpecError(problems)
        now = self.clock()
        old = self.jobs.get(spec.name)
        suspended = spec.schedule.suspend if spec.schedule else False
        if old is None:
            record = JobRecord(spec, now, now, suspended, last_tick=now)
        else:
            # A new or changed schedule starts from now, not from the job's creation.
            last_tick = old.last_tick if _same_times(old.spec, spec) else now
            record = JobRecord(spec, old.created, now, suspended, last_tick)
            record.waiting = {p: r for p, r in old.waiting.items() if p in spec.parents}
        self._save_job(record)
        self.jobs[spec.name] = record
        self.runs.setdefault(spec.name, {})
        log.info("job %s %s", spec.name, "updated" if old else "created")
        self.tick()
        return record

    def delete(self, name: str) -> None:
        self.job(name)
        children = [c for c, r in self.jobs.items() if name in r.spec.parents]
        if children:
            raise Conflict(
                f"jobs {', '.join(sorted(children))} depend on {name!r}: change or delete "
                "them first"
            )
        kills = [
            k for run in self.active_runs(name) for k in run.cancel(self.clock(), "job deleted")
        ]
        self._delete(f"jobs/{name}")
        self._delete(f"runs/{name}")
        del self.jobs[name]
        del self.runs[name]
        self._kill(kills)
        log.info("job %s deleted", name)

    def set_suspended(self, name: str, suspended: bool) -> JobRecord:
        record = self.job(name)
        if record.suspended != suspended:
            record.suspended = suspended
            record.last_tick = max(record.last_tick, self.clock())
            self._save_job(record)
        return record

    def run_now(self, name: str, params: dict[str, str] | None = None) -> Run:
        record = self.job(name)
        now = self.clock()
        run_id = manual_run_id(now, self.runs[name])
        run = self._add_run(Run.new(record.spec, run_id, "manual", now, params=params))
        self._want_offers()
        return run

    def cancel(self, name: str, run_id: str = "") -> list[Run]:
        runs = [self.get_run(name, run_id)] if run_id else self.active_runs(name)
        for run in runs:
            kills = run.cancel(self.clock(), "cancelled by a user")
            self._save_run(run)
            self._kill(kills)
        return runs

    # ------------------------------------------------------------------ time passes

    def tick(self) -> None:
        """Start due cron ticks, end runs past their timeout, ask for offers if needed.

        Called every fraction of a second by the server.
        """
        now = self.clock()
        for record in list(self.jobs.values()):
            self._schedule(record, now)
            ended = False
            for run in self.active_runs(record.name):
                kills = run.check_timeout(record.spec.timeout, now)
                if kills or run.final:
                    self._save_run(run)
                    self._kill(kills)
                    ended = True
            if ended or record.spec.history.ttl is not None:
                self._prune(record.name, now)
            for run in self.run_history(record.name):
                if run.state == "SUCCEEDED" and not run.children_triggered:
                    self._trigger_children(run)
        driver = self.driver
        if driver is not None and driver.connected:
            due = self.reconciliation_due(now)
            if due:
                log.debug("reconciling %d active tasks", len(due))
                # After the commit: in order with the launches made before it.
                self._after_commit(partial(driver.reconcile, due))
        self._want_offers()

    def reconciliation_due(self, now: float) -> list[tuple[str, str]] | None:
        """The active attempts to reconcile explicitly now (``(task id, agent id)``), or
        None if the next periodic reconciliation is not due yet.

        Attempts launched within ``LAUNCH_GRACE`` are left for the next round.
        """
        if self.reconcile_interval <= 0 or now < self._next_reconcile:
            return None
        self._next_reconcile = now + self.reconcile_interval
        return self._active_tasks(launched_before=now - LAUNCH_GRACE)

    def _active_tasks(self, launched_before: float | None = None) -> list[tuple[str, str]]:
        return [
            (task_id, i.agent_id)
            for runs in self.runs.values()
            for run in runs.values()
            for i in run.instances
            if i.active and (launched_before is None or i.started <= launched_before)
            for task_id in run.task_ids(i)
        ]

    def _schedule(self, record: JobRecord, now: float) -> None:
        schedule = record.spec.schedule
        if schedule is None:
            return
        plan = plan_ticks(schedule, record.last_tick, now)
        if not record.suspended:
            # Both in order, so the history lists every due tick once: run or missed.
            missed = set(plan.missed)
            for tick in sorted([*plan.missed, *plan.run]):
                if tick in missed:
                    self._record_missed(record, tick, now)
                else:
                    self._start_tick(record, tick, now)
        if plan.last_tick != record.last_tick:
            # After the runs: a crash in between finds the same ticks due, and their runs.
            record.last_tick = plan.last_tick
            self._save_job(record)

    def _record_missed(self, record: JobRecord, tick: float, now: float) -> None:
        run_id = scheduled_run_id(tick)
        schedule = record.spec.schedule
        if run_id in self.runs[record.name] or schedule is None:
            return
        deadline = schedule.starting_deadline
        if deadline is not None and now - tick > deadline:
            why = f"missed: {now - tick:.0f}s late, past its starting deadline ({deadline:g}s)"
        else:
            why = f"missed while the framework was not running (catch_up: {schedule.catch_up})"
        run = Run.new(record.spec, run_id, "schedule", now, scheduled_time=tick)
        run.skip(now, why)
        self.counts.ticks["missed"] += 1
        self._add_run(run)
        log.warning("job %s: tick %s %s", record.name, _iso(tick), why)

    def _start_tick(self, record: JobRecord, tick: float, now: float) -> None:
        run_id = scheduled_run_id(tick)
        if run_id in self.runs[record.name]:
            return  # recorded before a restart
        assert record.spec.schedule is not None
        policy = record.spec.schedule.concurrency
        active = self.active_runs(record.name)
        run = Run.new(record.spec, run_id, "schedule", now, scheduled_time=tick)
        if active and policy == "Forbid":
            run.skip(now, f"not started: run {active[0].id} is still active (Forbid)")
            self.counts.ticks["skipped"] += 1
        else:
            self.counts.ticks["fired"] += 1
        if active and policy == "Replace":
            for old in active:
                kills = old.cancel(now, f"replaced by run {run_id} (Replace)")
                self._save_run(old)
                self._kill(kills)
        self._add_run(run)
        log.info("job %s: run %s for tick %s %s", record.name, run_id, _iso(tick), run.state)

    # ------------------------------------------------------------------ DAG

    def _trigger_children(self, run: Run) -> None:
        """The parent ``run`` succeeded: start the children whose parents all have."""
        for child in dag.children_of({n: r.spec.parents for n, r in self.jobs.items()}, run.job):
            record = self.jobs[child]
            record.waiting[run.job] = run.id
            if set(record.spec.parents) <= set(record.waiting):
                run_id = child_run_id(record.waiting)
                if run_id not in self.runs[child]:
                    now = self.clock()
                    params = dict(run.params)
                    self._add_run(Run.new(record.spec, run_id, "parents", now, params=params))
                    log.info("job %s: run %s after %s", child, run_id, record.waiting)
            self._save_job(record)
        run.children_triggered = True
        self._save_run(run)
        for child in dag.children_of({n: r.spec.parents for n, r in self.jobs.items()}, run.job):
            record = self.jobs[child]
            if set(record.spec.parents) <= set(record.waiting):
                record.waiting = {}
                self._save_job(record)

    # ------------------------------------------------------------------ SDK callbacks

    async def subscribed(
        self, driver: SchedulerDriver, framework_id: str, master_info: common_pb2.MasterInfo
    ) -> None:
        self.driver = driver
        if framework_id != self.framework_id:
            self._put(FRAMEWORK_ID_KEY, lambda: framework_id)
            self.framework_id = framework_id
        active = self._active_tasks()
        self._next_reconcile = self.clock() + self.reconcile_interval
        log.info("subscribed as %s; reconciling %d active tasks", framework_id, len(active))
        if active:
            self._after_commit(lambda: driver.reconcile(active))
        self._after_commit(driver.reconcile)  # every task the master knows: orphans
        self.suppressed = None
        self._want_offers()
        await self.commit()

    async def offers(self, driver: SchedulerDriver, offers: list[common_pb2.Offer]) -> None:
        self._place(driver, offers)
        await self.commit()  # the attempts are stored before their tasks are launched

    def _place(self, driver: SchedulerDriver, offers: list[common_pb2.Offer]) -> None:
        now = self.clock()
        waiting = list(self._launchable(now))
        misses = placement.Misses()
        for offer in offers:
            agent = placement.agent_attributes(offer.agent_id, offer.hostname, offer.attributes)
            self.agents[offer.agent_id] = agent
            available = offer_resources(offer)
            tasks: list[common_pb2.TaskInfo] = []
            groups: list[scheduler_pb2.Call.Operation] = []
            touched: dict[str, Run] = {}
            for item in list(waiting):
                run, instance = item
                spec = self.jobs[run.job].spec
                if spec.role != (offer.role or "*"):
                    continue  # offered for another of the framework's roles
                taken = [self.agents.get(i.agent_id, {}) for i in run.active_instances()]
                if not placement.satisfies(spec.constraints, agent, taken):
                    misses.note(_key(item), "constraints")
                    continue
                need = Resources({"cpus": spec.cpus, "mem": spec.mem, "disk": spec.disk})
                if not available.contains(need):
                    misses.note(_key(item), "resources", available)
                    continue
                ports: list[int] = []
                port_resources = Resources()
                if spec.ports:
                    try:
                        ports, port_resources = (available - need).allocate_ports(spec.ports)
                    except ResourceError:
                        misses.note(_key(item), "ports")
                        continue
                    need = need + port_resources
                available = available - need
                waiting.remove(item)
                names = tuple(c.name for c in spec.containers) if spec.group else ()
                task_id = run.launching(instance, offer.agent_id, now, names)
                self.counts.launched += 1
                touched[run.id + run.job] = run
                if spec.group:
                    group = self._group(spec, run, instance, task_id, ports, port_resources)
                    groups.append(group)
                else:
                    tasks.append(self._task_info(spec, run, instance, task_id, need, ports))
            for run in touched.values():
                self._save_run(run)  # before the launch: a restart knows these attempts
            refuse = SHORT_REFUSE if waiting else LONG_REFUSE
            if groups:  # with the lone tasks, in one ACCEPT
                if tasks:
                    groups.insert(0, _operation(tasks))
                filters = calls.refuse(refuse)
                self._after_commit(partial(driver.accept, offer.id, groups, filters))
                log.info("launching %d operations on %s", len(groups), offer.agent_id)
            elif tasks:
                filters = calls.refuse(refuse)
                self._after_commit(partial(driver.launch, offer.id, tasks, filters))
                log.info("launching %d tasks on %s", len(tasks), offer.agent_id)
            else:
                driver.decline(offer.id, refuse_seconds=refuse)
        for run, instance in waiting:  # unplaced: say why, for `job ... --wait` and `show`
            if instance.unplaced.startswith(WAITING_PREFIX):
                continue  # held back by its role's quota (note_quota): the deeper reason
            spec = self.jobs[run.job].spec
            instance.unplaced = misses.reason(
                _key((run, instance)), len(offers), spec.cpus, spec.mem, spec.disk, spec.ports
            )
        self._want_offers()

    def status_update(self, driver: SchedulerDriver, status: common_pb2.TaskStatus) -> None:
        # Acknowledged once what the update changed is stored (explicit acknowledgements).
        self._after_commit(partial(driver.acknowledge, status))
        self.commit_soon()
        state = state_name(status.state)
        parsed = parse_task_id(status.task_id)
        run = None
        if parsed is not None:
            job, run_id, index, attempt = parsed
            run = self.runs.get(job, {}).get(run_id)
        if run is None or parsed is None:
            if not is_terminal(status.state) and state != "TASK_UNKNOWN":
                log.warning("killing task %s: no run of ours wants it", status.task_id)
                self._kill([Kill(status.task_id, status.agent_id)])
            return
        was_final = run.final
        exit_code = status.exit_code if status.HasField("exit_code") else None
        before = _instance_outcome(run, index)
        kills = run.task_update(
            self.jobs[run.job].spec, index, attempt, state, self.clock(), exit_code,
            status.message, status.agent_id, container_of(status.task_id),
        )  # fmt: skip
        self._count(before, _instance_outcome(run, index))
        if is_terminal(status.state) or kills or run.final != was_final:
            # Only what a restart needs: a started task is reconciled anyway.
            self._save_run(run)
        self._kill(kills)
        if run.final and not was_final:
            log.info("job %s: run %s %s %s", run.job, run.id, run.state, run.message)
            if run.state == "SUCCEEDED":
                self._trigger_children(run)
            self._prune(run.job)
        self._want_offers()

    def _count(self, before: tuple[str, int], after: tuple[str, int]) -> None:
        """Count what one update did to an instance: an attempt failed, it ended."""
        self.counts.attempt_failures += after[1] - before[1]
        if after[0] != before[0] and after[0] in ("SUCCEEDED", "FAILED"):
            self.counts.finished[after[0].lower()] += 1

    def error(self, driver: SchedulerDriver, message: str) -> None:
        log.warning("master: %s", message)

    # ------------------------------------------------------------------ offers and tasks

    def _launchable(self, now: float) -> Iterator[tuple[Run, Instance]]:
        runs = [r for runs in self.runs.values() for r in runs.values() if not r.final]
        for run in sorted(runs, key=lambda r: (r.created, r.id)):
            for instance in run.launchable(now):
                yield run, instance

    def note_quota(self, quotas: Mapping[str, RoleQuota]) -> None:
        """Show on each waiting instance (and its run) whether its role's quota limit
        holds it back; the reason goes once it no longer does."""
        held: dict[int, str] = {}
        for run, instance in self._launchable(self.clock()):
            spec = self.jobs[run.job].spec
            need = {"cpus": spec.cpus, "mem": spec.mem, "disk": spec.disk}
            reason = limit_reason(spec.role, need, quotas)
            if reason:  # why it waits (``unplaced``): a failed attempt's message stays
                instance.unplaced = held[id(run)] = reason
            elif instance.unplaced.startswith(WAITING_PREFIX):
                instance.unplaced = ""
        for runs in self.runs.values():
            for run in runs.values():
                if run.final:
                    continue
                if id(run) in held:
                    run.message = held[id(run)]
                elif run.message.startswith(WAITING_PREFIX):
                    run.message = ""

    def _want_offers(self) -> None:
        """Revive when there is work to launch, suppress when there is none."""
        driver = self.driver
        if driver is None or not driver.connected:
            return
        wanted = next(self._launchable(self.clock()), None) is not None
        if wanted and self.suppressed is not False:
            self._after_commit(driver.revive)
            self.suppressed = False
        elif not wanted and self.suppressed is not True:
            self._after_commit(driver.suppress)
            self.suppressed = True

    def _kill(self, kills: list[Kill]) -> None:
        """Kill tasks once the state that ends them is stored."""
        driver = self.driver
        if driver is None:
            return
        for kill in kills:
            self._after_commit(partial(driver.kill, kill.task_id, kill.agent_id))

    def _task_info(
        self,
        spec: JobSpec,
        run: Run,
        instance: Instance,
        task_id: str,
        resources: Resources,
        ports: list[int],
        container: Container | None = None,
    ) -> common_pb2.TaskInfo:
        """The task of an instance's attempt: the job's one container, or ``container``
        of a job of several (one task of its group)."""
        one = container or spec.containers[0]
        env = {
            **spec.env,
            **run.params,
            "MESOSPY_JOB": run.job,
            "MESOSPY_RUN": run.id,
            "MESOSPY_INSTANCE": str(instance.index),
            "MESOSPY_INSTANCES": str(len(run.instances)),
            "MESOSPY_ATTEMPT": str(instance.attempt),
        }
        for name in spec.index_env:
            env[name] = str(instance.index)
        if run.scheduled_time:
            env["MESOSPY_SCHEDULED_TIME"] = _iso(run.scheduled_time)
        for n, port in enumerate(ports):
            env[f"PORT{n}"] = str(port)
        env.update(one.env)
        labels = {**spec.labels, "batch.job": run.job, "batch.run": run.id}
        command = one.command if isinstance(one.command, str) else list(one.command)
        name = f"{run.job} {run.id} #{instance.index}"
        if container is not None:
            labels["batch.container"] = container.name
            name += f" {container.name}"
        uris = [artifact.to_proto() for artifact in spec.fetch]
        image = one.image
        return task(
            task_id,
            command,
            resources,
            name=name,
            env=env,
            labels=labels,
            uris=uris,
            image=image.image if image else None,
            force_pull=bool(image and image.force_pull),
            entrypoint=image.entrypoint if image else None,
            lifecycle=None if container is None or container.main else container.hook,
            sidecar=bool(container and container.sidecar),
        )

    def _group(
        self,
        spec: JobSpec,
        run: Run,
        instance: Instance,
        base_id: str,
        ports: list[int],
        port_resources: Resources,
    ) -> scheduler_pb2.Call.Operation:
        """The LAUNCH_GROUP of an instance's attempt: one task per container, on mesospy's
        DEFAULT executor (an executor per attempt, named like its tasks' common start).
        The instance's ports go with its first container (they share the host's network)."""
        operation = scheduler_pb2.Call.Operation(type=scheduler_pb2.Call.Operation.LAUNCH_GROUP)
        operation.launch_group.executor.CopyFrom(default_executor(base_id))
        for n, container in enumerate(spec.containers):
            need = Resources({"cpus": container.cpus, "mem": container.mem, "disk": container.disk})
            if n == 0:
                need = need + port_resources
            task_id = f"{base_id}.{container.name}"
            info = self._task_info(spec, run, instance, task_id, need, ports, container)
            operation.launch_group.task_group.tasks.append(info)
        return operation


def _operation(tasks: list[common_pb2.TaskInfo]) -> scheduler_pb2.Call.Operation:
    operation = scheduler_pb2.Call.Operation(type=scheduler_pb2.Call.Operation.LAUNCH)
    operation.launch.task_infos.extend(tasks)
    return operation


def _instance_outcome(run: Run, index: int) -> tuple[str, int]:
    """An instance's state and failed attempts, to compare across an update."""
    if index >= len(run.instances):
        return "", 0
    instance = run.instances[index]
    return instance.state, instance.failures


def _constant(value: Any) -> Callable[[], Any] | None:
    return None if value is None else (lambda: value)


def _key(item: tuple[Run, Instance]) -> str:
    run, instance = item
    return f"{run.job}/{run.id}/{instance.index}"


def _same_times(old: JobSpec, new: JobSpec) -> bool:
    """Whether both specs have a schedule firing at the same times."""
    if old.schedule is None or new.schedule is None:
        return False
    keys = ("cron", "seconds", "interval", "timezone")
    return all(getattr(old.schedule, k) == getattr(new.schedule, k) for k in keys)


def _iso(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
