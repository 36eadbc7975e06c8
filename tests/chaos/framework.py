"""The framework the chaos script runs (and kills -9, and starts again).

    python tests/chaos/framework.py --master zk://127.0.0.1:2181/path --state state.json

Everything it must not forget lives in the JSON state file, written atomically (temp file,
rename) *before* the master can act on it: the framework id, and for each task whether it
is queued or launched, on which agent, every update seen, and its terminal state. A
restarted instance re-subscribes with the framework id, reconciles the tasks it launched
that have not ended, and carries on. Status updates are acknowledged only after they are
on file, so an update that a kill -9 interrupted is delivered again.

The state file is made by the chaos script: ``{"framework_id": "", "tasks": {id: {...}}}``
where each task has ``command``, ``kind`` (``ok``: exits 0, ``fail``: exits non-zero,
``kill``: runs until the framework kills it) and ``release_at`` (wall-clock time before
which it is not launched, so that work runs throughout the chaos).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from mesospy.resources import Resources
from mesospy.scheduler import (
    Scheduler,
    SchedulerDriver,
    calls,
    is_terminal,
    offer_resources,
    state_name,
    task,
)
from mesospy.v1 import common_pb2 as pb

PER_TASK = "cpus:0.5;mem:32"
# Answers from the master meaning "that launch never reached an agent": launch again.
NEVER_RAN = {"TASK_LOST", "TASK_UNKNOWN", "TASK_DROPPED"}
# TASK_DROPPED means the task never started, whoever says it (an agent killed between
# checkpointing a launch and starting it says so itself when it comes back).
KILL_RETRY_SECONDS = 3.0

log = logging.getLogger("chaos-framework")


class Store:
    """The state file: loaded on start, saved atomically after every change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = json.loads(path.read_text())

    @property
    def tasks(self) -> dict[str, dict[str, Any]]:
        tasks: dict[str, dict[str, Any]] = self.data["tasks"]
        return tasks

    def save(self) -> None:
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True))
        os.replace(tmp, self.path)


class ChaosScheduler(Scheduler):
    def __init__(self, store: Store) -> None:
        self.store = store
        self.kill_sent: dict[str, float] = {}  # task id -> when KILL was last sent

    def _unfinished(self) -> list[tuple[str, str]]:
        return [
            (tid, t["agent_id"])
            for tid, t in self.store.tasks.items()
            if t["status"] == "launched" and not t.get("terminal")
        ]

    def subscribed(self, driver: SchedulerDriver, framework_id: str, master: pb.MasterInfo) -> None:
        data = self.store.data
        data["framework_id"] = framework_id
        data["subscriptions"] = data.get("subscriptions", 0) + 1
        self.store.save()
        log.info("subscribed as %s to %s:%d", framework_id, master.ip, master.port)
        # A launch may have died with the old master, or with the previous instance of
        # this framework: ask about every task launched and not ended.
        unfinished = self._unfinished()
        if unfinished:
            driver.reconcile(unfinished)
        driver.revive()

    def offers(self, driver: SchedulerDriver, offers: list[pb.Offer]) -> None:
        now = time.time()
        per_task = Resources.parse(PER_TASK)
        for offer in offers:
            ready = sorted(
                (t["release_at"], tid)
                for tid, t in self.store.tasks.items()
                if t["status"] == "queued" and not t.get("terminal") and t["release_at"] <= now
            )
            available = offer_resources(offer)
            batch = []
            for _, tid in ready:
                if not available.contains(per_task):
                    break
                available = available - per_task
                batch.append(tid)
            if not batch:
                driver.decline(offer.id, refuse_seconds=0.5)
                continue
            for tid in batch:
                record = self.store.tasks[tid]
                record["status"] = "launched"
                record["agent_id"] = offer.agent_id
                record["launches"] = record.get("launches", 0) + 1
            # On file before the master hears of it: a restarted framework reconciles it.
            self.store.save()
            infos = [task(tid, self.store.tasks[tid]["command"], PER_TASK) for tid in batch]
            log.info("launching %s on %s", " ".join(batch), offer.agent_id)
            driver.launch(offer.id, infos, calls.refuse(0.5))

    def status_update(self, driver: SchedulerDriver, status: pb.TaskStatus) -> None:
        record = self.store.tasks.get(status.task_id)
        if record is None:
            log.warning("update for a task not ours: %s", status.task_id)
            return
        state = state_name(status.state)
        source = pb.TaskStatus.Source.Name(status.source)
        reason = pb.TaskStatus.Reason.Name(status.reason)
        record.setdefault("updates", []).append([round(time.time(), 3), state, source, reason])
        log.info("update %s %s (%s, %s) %s", status.task_id, state, source, reason, status.message)
        # Agents resend an update until it is acknowledged: the same uuid may come again
        # (e.g. a TASK_DROPPED after the task was launched anew). Only the first counts.
        seen = record.setdefault("uuids", [])
        duplicate = bool(status.uuid) and status.uuid.hex() in seen
        if status.uuid and not duplicate:
            seen.append(status.uuid.hex())
        if duplicate or record.get("terminal"):
            pass  # a duplicate (updates arrive at least once) or a late one: keep the first
        elif (
            state in NEVER_RAN
            and (status.source == pb.TaskStatus.SOURCE_MASTER or state == "TASK_DROPPED")
            and record["status"] == "launched"
        ):
            record["status"] = "queued"
            record["relaunched"] = record.get("relaunched", 0) + 1
            driver.revive()
        elif is_terminal(status.state):
            record["terminal"] = state
            record["terminal_at"] = time.time()
        elif record["status"] == "queued":
            # Alive after all (e.g. UNKNOWN while its agent was away): do not launch it again.
            record["status"] = "launched"
            record["agent_id"] = status.agent_id or record["agent_id"]
        elif status.state == pb.TASK_RUNNING and record["kind"] == "kill":
            self._kill(driver, status.task_id, record)
        self.store.save()  # before the driver acknowledges the update

    def _kill(self, driver: SchedulerDriver, task_id: str, record: dict[str, Any]) -> None:
        self.kill_sent[task_id] = time.monotonic()
        record["kills"] = record.get("kills", 0) + 1
        driver.kill(task_id, record["agent_id"])

    def heartbeat(self, driver: SchedulerDriver) -> None:
        # A KILL can die with a master: send it again until the task ends.
        now = time.monotonic()
        for tid, record in self.store.tasks.items():
            updates = record.get("updates") or []
            if (
                record["kind"] == "kill"
                and record["status"] == "launched"
                and not record.get("terminal")
                and updates
                and updates[-1][1] == "TASK_RUNNING"
                and now - self.kill_sent.get(tid, 0.0) > KILL_RETRY_SECONDS
            ):
                self._kill(driver, tid, record)

    def error(self, driver: SchedulerDriver, message: str) -> None:
        log.warning("error: %s", message)
        self.store.data.setdefault("errors", []).append(message)
        self.store.save()


async def run(driver: SchedulerDriver) -> int:
    loop = asyncio.get_running_loop()
    # SIGTERM: the chaos script is done with us; tear the framework down.
    loop.add_signal_handler(signal.SIGTERM, driver.stop)
    return await driver.run_async()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--master", required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--failover-timeout", type=float, default=600.0)
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s.%(msecs)03d %(name)s %(message)s", datefmt="%X"
    )
    store = Store(args.state)
    info = pb.FrameworkInfo(
        id=store.data.get("framework_id", ""),
        name="chaos",
        user=getpass.getuser(),
        failover_timeout=args.failover_timeout,
        # Tasks on an agent that is partitioned away come back: they must not be relaunched.
        capabilities=[pb.FrameworkInfo.PARTITION_AWARE],
    )
    driver = SchedulerDriver(ChaosScheduler(store), info, args.master)
    return asyncio.run(run(driver))


if __name__ == "__main__":
    sys.exit(main())
