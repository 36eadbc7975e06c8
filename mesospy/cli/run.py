"""``mesospy run -- CMD ARGS...``: one task, its output streamed, its exit code returned.

Like ``mesos-execute``: a tiny framework that waits for an offer that fits, launches the
command, streams the sandbox's stdout and stderr through the master, and exits with the
task's exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import uuid
from typing import BinaryIO

import click

from mesospy.cli.common import client_security_options, fail, master_option
from mesospy.client import AsyncOperatorClient, OperatorError
from mesospy.image_reference import image_name_problem
from mesospy.resources import ResourceError, Resources
from mesospy.scheduler import (
    MesospyError,
    Scheduler,
    SchedulerDriver,
    is_terminal,
    offer_resources,
    state_name,
    task,
    uri,
)
from mesospy.uris import uri_problem
from mesospy.v1 import common_pb2 as pb

POLL_SECONDS = 0.1


class OneTask(Scheduler):
    """Launches one task on the first offer that fits and waits for its end."""

    def __init__(self, info: pb.TaskInfo, needs: Resources) -> None:
        self.info = info
        self.needs = needs
        self.launched = False
        self.agent_id = ""
        self.started = asyncio.Event()
        self.finished: asyncio.Future[pb.TaskStatus] = asyncio.get_running_loop().create_future()

    def offers(self, driver: SchedulerDriver, offers: list[pb.Offer]) -> None:
        for offer in offers:
            if not self.launched and offer_resources(offer).contains(self.needs):
                self.launched = True
                driver.launch(offer.id, [self.info])
            else:
                driver.decline(offer.id, refuse_seconds=60.0 if self.launched else 1.0)
        if self.launched:
            driver.suppress()

    def status_update(self, driver: SchedulerDriver, status: pb.TaskStatus) -> None:
        if status.task_id != self.info.task_id:
            return
        if status.agent_id:
            self.agent_id = status.agent_id
        if status.state in (pb.TASK_RUNNING, pb.TASK_STARTING) or is_terminal(status.state):
            self.started.set()
        if is_terminal(status.state) and not self.finished.done():
            self.finished.set_result(status)

    def error(self, driver: SchedulerDriver, message: str) -> None:
        if not self.finished.done():
            self.finished.set_exception(MesospyError(message))


async def _stream(
    client: AsyncOperatorClient,
    framework_id: str,
    task_id: str,
    name: str,
    out: BinaryIO,
    done: asyncio.Future[pb.TaskStatus],
) -> None:
    """Copy a sandbox file to ``out`` until the task has ended and the file is drained."""
    offset = 0
    while True:
        try:
            chunk = await client.read_file(framework_id, task_id, name, offset)
        except OperatorError:
            if done.done():
                return
            await asyncio.sleep(POLL_SECONDS)
            continue
        if chunk.data:
            out.write(chunk.data)
            out.flush()
            offset += len(chunk.data)
            continue
        if chunk.task_terminal or (done.done() and offset >= chunk.size):
            return
        await asyncio.sleep(POLL_SECONDS)


def _exit_code(status: pb.TaskStatus) -> int:
    if status.state == pb.TASK_FINISHED:
        return 0
    if status.HasField("exit_code"):
        code = status.exit_code
        return 128 - code if code < 0 else code  # killed by signal N -> 128+N, as shells do
    return 1


async def _run(master: str, info: pb.TaskInfo, needs: Resources) -> int:
    probe = AsyncOperatorClient(master, timeout=5.0)
    try:
        await probe.get_state()  # a clear error now beats a driver retrying forever
    finally:
        await probe.close()
    scheduler = OneTask(info, needs)
    framework = pb.FrameworkInfo(name="mesospy-run", failover_timeout=0)
    driver = SchedulerDriver(scheduler, framework, master)
    runner = asyncio.ensure_future(driver.run_async())
    client = AsyncOperatorClient(master)
    try:
        waiting: asyncio.Future[object] = asyncio.ensure_future(scheduler.started.wait())
        pending: set[asyncio.Future[object]] = {waiting, runner, scheduler.finished}  # type: ignore[arg-type]
        await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        if runner.done():
            runner.result()  # raises the driver's error
            raise MesospyError("the scheduler driver stopped before the task started")
        fid = driver.framework_id
        streams = [
            asyncio.ensure_future(
                _stream(client, fid, info.task_id, "stdout", sys.stdout.buffer, scheduler.finished)
            ),
            asyncio.ensure_future(
                _stream(client, fid, info.task_id, "stderr", sys.stderr.buffer, scheduler.finished)
            ),
        ]
        status = await scheduler.finished
        await asyncio.gather(*streams)
    finally:
        driver.stop()
        await client.close()
        with contextlib.suppress(MesospyError, TimeoutError):
            await asyncio.wait_for(runner, 10)
    if status.state != pb.TASK_FINISHED and not status.HasField("exit_code"):
        click.echo(f"mesospy: task {state_name(status.state)}: {status.message}", err=True)
    return _exit_code(status)


@click.command(context_settings={"ignore_unknown_options": True})
@master_option
@client_security_options
@click.option("--cpus", default=0.1, show_default=True, type=click.FloatRange(0.001))
@click.option("--mem", default=32.0, show_default=True, type=click.FloatRange(1))
@click.option("--name", default="", help="Task name (default: the command).")
@click.option("--env", "-e", multiple=True, metavar="KEY=VALUE", help="Environment variable.")
@click.option("--shell", is_flag=True, help="Run the words as one /bin/sh -c command.")
@click.option(
    "--fetch",
    multiple=True,
    metavar="URI",
    help="Fetch this artifact into the sandbox first (http://, https://, file:// or a path "
    "on the agent); archives are unpacked. Repeatable. The --fetch-* flags apply to every "
    "--fetch; for per-artifact checksums or names use a job spec or the SDK.",
)
@click.option(
    "--fetch-extract/--no-fetch-extract",
    default=True,
    show_default=True,
    help="Unpack fetched archives (.tar, .tar.gz/.tgz, .tar.bz2, .tar.xz, .zip).",
)
@click.option("--fetch-executable", is_flag=True, help="Make fetched files executable.")
@click.option(
    "--fetch-cache", is_flag=True, help="Keep fetched artifacts in the agent's fetcher cache."
)
@click.option(
    "--image",
    default=None,
    metavar="NAME",
    help="Run the task in this container image (e.g. registry.local:5000/team/app:1.2): its "
    "root is the image's, in its own mount and PID namespaces. Without a COMMAND the image's "
    "Entrypoint and Cmd run; a COMMAND replaces the Cmd (with --shell: runs in /bin/sh -c).",
)
@click.option(
    "--force-pull", is_flag=True, help="Ask the registry for the image again even if cached."
)
@click.argument("command", nargs=-1, required=False, type=click.UNPROCESSED)
def run(
    master: str,
    cpus: float,
    mem: float,
    name: str,
    env: tuple[str, ...],
    shell: bool,
    fetch: tuple[str, ...],
    fetch_extract: bool,
    fetch_executable: bool,
    fetch_cache: bool,
    image: str | None,
    force_pull: bool,
    command: tuple[str, ...],
) -> None:
    """Run one command as a task and exit with its exit code.

    Example: mesospy run --cpus 0.5 --mem 64 -- sh -c 'echo hello; exit 3'

    With an artifact: mesospy run --fetch https://example.com/tool.tgz -- ./tool/run

    In an image: mesospy run --image registry.local:5000/tools:1 -- cat /etc/os-release
    """
    if not command and image is None:
        raise click.UsageError("give a COMMAND to run (or --image to run an image's own)")
    if force_pull and image is None:
        raise click.BadParameter("--force-pull needs --image", param_hint="--force-pull")
    if image is not None and (problem := image_name_problem(image)):
        raise click.BadParameter(problem, param_hint="--image")
    environment = {}
    for item in env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--env")
        environment[key] = value
    try:
        needs = Resources.parse(f"cpus:{cpus};mem:{mem}")
    except ResourceError as exc:
        raise click.BadParameter(str(exc)) from exc
    uris = [
        uri(value, executable=fetch_executable, extract=fetch_extract, cache=fetch_cache)
        for value in fetch
    ]
    for artifact in uris:
        if problem := uri_problem(artifact):
            raise click.BadParameter(problem, param_hint="--fetch")
    task_id = f"run-{uuid.uuid4().hex[:12]}"
    cmd: str | list[str] = " ".join(command) if shell else list(command)
    info = task(
        task_id,
        cmd,
        needs,
        name=name or " ".join(command)[:100] or str(image),
        env=environment,
        uris=uris,
        image=image,
        force_pull=force_pull,
    )

    async def main() -> int:
        loop = asyncio.get_running_loop()
        current = asyncio.current_task()
        assert current is not None
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, current.cancel)
        return await _run(master, info, needs)

    try:
        code = asyncio.run(main())
    except asyncio.CancelledError:
        fail("interrupted; the task was killed", 130)
    except (MesospyError, OperatorError) as exc:
        fail(str(exc))
    sys.exit(code)
