"""``mesospy job ...`` and ``mesospy batch serve``.

The job commands talk to the batch framework's gRPC API, found through the master
(the active framework named ``mesospy-batch`` publishes it in its FrameworkInfo), or
given with ``--batch`` / ``$MESOSPY_BATCH``. Logs are read through the master.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
import grpc
import yaml

from frameworks.batch.formats import Conversion, convert, load_job, read_document
from frameworks.batch.spec import JobSpec, SpecError
from frameworks.batch.v1 import batch_pb2 as bpb
from frameworks.batch.v1 import batch_pb2_grpc
from mesospy.cli.common import (
    api_security_options,
    fail,
    log_level_option,
    metrics_port_option,
    setup_logging,
)
from mesospy.cli.common import master_option as daemon_master_option
from mesospy.cli.output import (
    connect,
    json_option,
    master_option,
    print_fields,
    print_json,
    print_table,
    to_dict,
    when,
)
from mesospy.client import CHANNEL_OPTIONS, OperatorError
from mesospy.metrics_http import MetricsPortError
from mesospy.scheduler.state import StateLocationError
from mesospy.security.channels import sync_channel
from mesospy.security.serving import ApiSecurity, ApiSecurityError
from mesospy.security.tls import TLSError, tls_failure_hint

F = TypeVar("F", bound=Callable[..., Any])
BATCH_ENV = "MESOSPY_BATCH"
FRAMEWORK_NAME = "mesospy-batch"
FINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED", "SKIPPED")


# ---------------------------------------------------------------- plumbing


def batch_option(func: F) -> F:
    return click.option(
        "--batch",
        envvar=BATCH_ENV,
        default=None,
        show_envvar=True,
        help="The batch framework's API as host:port (default: found through the master).",
    )(func)


def batch_command(func: F) -> F:
    """Errors become one line on stderr (a refused spec: one line per problem), exit 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except grpc.RpcError as exc:
            code: grpc.StatusCode = exc.code()
            details: str = exc.details() or code.name
            if code == grpc.StatusCode.UNAVAILABLE:
                fail(
                    f"cannot reach the batch framework: {' '.join(details.split())}"
                    f"{tls_failure_hint(details, 'it')}"
                )
            if "\n" in details:  # a refused spec: every problem on its own line
                click.echo(f"mesospy: error: {details}", err=True)
                sys.exit(1)
            fail(details)
        except OperatorError as exc:
            fail(" ".join(str(exc).split()))
        except KeyboardInterrupt:
            fail("interrupted", 130)

    return wrapper  # type: ignore[return-value]


class Connection:
    """The batch API (a stub) and what is needed to read logs through the master."""

    def __init__(self, master: str, batch: str | None) -> None:
        self.master = master
        self.address = batch or find_batch(master)
        try:
            self.channel = sync_channel(self.address, CHANNEL_OPTIONS)
        except TLSError as exc:
            fail(str(exc))
        self.stub = batch_pb2_grpc.BatchStub(self.channel)  # type: ignore[no-untyped-call]

    def call(self, rpc: str, request: Any, timeout: float = 15.0) -> Any:
        return getattr(self.stub, rpc)(request, timeout=timeout)

    def close(self) -> None:
        self.channel.close()


def find_batch(master: str) -> str:
    """The batch API's address, from the master's list of frameworks."""
    with connect(master) as client:
        endpoint = client.framework_endpoint(FRAMEWORK_NAME)
    if endpoint:
        return endpoint
    fail(
        f"no batch framework is running at the master {master}: start one with "
        f"`mesospy batch serve --master {master} --state DIR`, or give --batch HOST:PORT"
    )


def open_batch(master: str, batch: str | None) -> Connection:
    return Connection(master, batch)


def _duration(run: bpb.Run) -> str:
    if not run.started:
        return "-"
    end = run.finished or time.time()
    return f"{end - run.started:.1f}s"


def _instances(run: bpb.Run) -> str:
    counts: dict[str, int] = {}
    for instance in run.instances:
        counts[instance.state] = counts.get(instance.state, 0) + 1
    done = counts.get("SUCCEEDED", 0)
    parts = [f"{done}/{len(run.instances)} done"]
    for state in ("RUNNING", "LAUNCHING", "WAITING", "FAILED", "CANCELLED"):
        if counts.get(state):
            parts.append(f"{counts[state]} {state.lower()}")
    return ", ".join(parts)


def _exit(run: bpb.Run) -> str:
    return str(run.exit_code) if run.HasField("exit_code") else "-"


def _why(instance: bpb.Instance) -> str:
    """What to say about an instance while waiting for its run (empty: nothing new)."""
    if instance.state == "WAITING" and instance.unplaced:
        return instance.unplaced
    if instance.message and instance.state == "WAITING":
        return f"retrying; the last attempt: {instance.message}"
    if instance.message and instance.state in ("FAILED", "CANCELLED", "SUCCEEDED"):
        return instance.message
    return ""


def _instance_lines(run: bpb.Run, seen: dict[int, str]) -> list[str]:
    """A line per instance whose state or reason changed since ``seen`` (updated)."""
    lines = []
    for instance in run.instances:
        why = _why(instance)
        key = f"{instance.state} {instance.attempt} {why}"
        if why and seen.get(instance.index) != key:
            lines.append(
                f"  instance {instance.index} (attempt {instance.attempt + 1}) "
                f"{instance.state}: {why}"
            )
        seen[instance.index] = key
    return lines


def wait_for_run(conn: Connection, job: str, run_id: str, timeout: float) -> bpb.Run:
    """Print progress until the run ends, with why instances wait or failed; the last
    answer."""
    deadline = time.monotonic() + timeout if timeout else None
    last = ""
    seen: dict[int, str] = {}
    while True:
        run: bpb.Run = conn.call("GetRun", bpb.GetRunRequest(name=job, run_id=run_id))
        line = f"{job} {run.id}: {run.state} ({_instances(run)})"
        if run.message and run.state not in FINAL:
            line += f"; {run.message}"  # e.g. why it waits (its role's quota)
        if line != last:
            click.echo(line)
            last = line
        for detail in _instance_lines(run, seen):
            click.echo(detail)
        if run.state in FINAL:
            return run
        if deadline is not None and time.monotonic() > deadline:
            open_ = [i for i in run.instances if i.state != "SUCCEEDED"]
            reasons = sorted({why for i in open_ if (why := _why(i))})
            said = f": {'; '.join(reasons)}" if reasons else ""
            fail(f"run {run.id} of {job} did not end within {timeout:g}s (it goes on){said}")
        time.sleep(0.5)


def _finish_wait(run: bpb.Run) -> None:
    if run.state != "SUCCEEDED":
        detail = f": {run.message}" if run.message else ""
        fail(f"run {run.id} of {run.job} {run.state}{detail}")


# ---------------------------------------------------------------- mesospy batch


@click.group()
def batch() -> None:
    """Run the batch framework (`mesospy batch serve`)."""


@batch.command()
@daemon_master_option
@click.option(
    "--state",
    required=True,
    help="Where jobs and runs are kept: zk://host:port,.../path or a directory.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address of the API.")
@click.option(
    "--port",
    default=0,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port of the API (0: any free port; it is published through the master).",
)
@click.option(
    "--reconcile-seconds",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Reconcile the running tasks with the master this often (0: only on subscribing).",
)
@click.option(
    "--role",
    "roles",
    multiple=True,
    envvar="MESOSPY_BATCH_ROLES",
    help="A role to subscribe with (repeat for several; default '*'); a job's `role` "
    "must be one of them. Env: MESOSPY_BATCH_ROLES (space-separated).",
)
@metrics_port_option
@api_security_options
@log_level_option
def serve(
    master: str,
    state: str,
    host: str,
    port: int,
    reconcile_seconds: float,
    roles: tuple[str, ...],
    metrics_port: int,
    security: ApiSecurity,
    log_level: str,
) -> None:
    """Run the batch framework: jobs, cron schedules and DAGs.

    State (job definitions, runs, schedule progress) survives restarts: start it again
    with the same --state and it takes over its running tasks.

    Example: mesospy batch serve --master 127.0.0.1:5050 --state /var/lib/mesospy/batch

    Secured (TLS to clients and master; callers need a principal and secret):
    mesospy batch serve --master 10.0.0.1:5050 --state zk://10.0.0.1:2181/batch
    --tls-cert tls/server.pem --tls-key tls/server.key --tls-ca tls/ca.pem
    --credentials creds.txt --authenticate
    """
    from frameworks.batch.server import serve as run_server

    setup_logging(log_level)
    try:
        code = asyncio.run(
            run_server(
                master,
                state,
                host,
                port,
                security,
                reconcile_seconds=reconcile_seconds,
                metrics_port=metrics_port,
                roles=roles or ("*",),
            )
        )
    except (OSError, ApiSecurityError, MetricsPortError, StateLocationError) as exc:
        fail(f"cannot start the batch framework: {exc}")
    sys.exit(code)


# ---------------------------------------------------------------- mesospy job


@click.group()
def job() -> None:
    """Batch jobs: submit, run, schedule and watch them (the batch framework).

    \b
    mesospy job submit job.yaml --wait     define a job (and run it, if unscheduled)
    mesospy job convert cronjob.yaml       a Kubernetes/Metronome/Chronos job, as native
    mesospy job list | show NAME | runs NAME
    mesospy job run NAME -p DAY=2026-03-01 | cancel NAME [RUN]
    mesospy job logs NAME [RUN] --follow
    mesospy job suspend|resume|delete NAME
    """


def _read_file(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")


def _spec_failure(exc: SpecError) -> NoReturn:
    """A refused spec: every problem on its own line, exit 1."""
    click.echo(f"mesospy: error: {exc}", err=True)
    sys.exit(1)


def _converted(text: str) -> tuple[Conversion, JobSpec] | None:
    """A foreign job file converted here (None: a native spec, left to the framework);
    a refused one ends the command before anything is submitted."""
    try:
        conversion = convert(read_document(text))
        if conversion is None:
            return None
        return conversion, load_job(text).spec
    except SpecError as exc:
        _spec_failure(exc)


def _native_text(text: str) -> str:
    """What to submit: a native spec as it is, a foreign one as its native spec (the
    fields changed and those without effect reported on stderr)."""
    converted = _converted(text)
    if converted is None:
        return text
    conversion, spec = converted
    for path, what in conversion.changed:
        click.echo(f"mesospy: changed: {conversion.format} {path}: {what}", err=True)
    if warning := conversion.warning():
        click.echo(f"mesospy: warning: {conversion.format} {warning}", err=True)
    return json.dumps(spec.to_dict(), sort_keys=True)


@job.command()
@click.argument("file")
@click.option("--wait", is_flag=True, help="Wait for the run it starts, showing progress.")
@click.option("--timeout", default=0.0, type=click.FloatRange(0), help="Give up waiting after N s.")
@click.option("--no-run", is_flag=True, help="Only store the job; do not start a run.")
@master_option
@batch_option
@json_option
@batch_command
def submit(
    file: str,
    wait: bool,
    timeout: float,
    no_run: bool,
    master: str,
    batch: str | None,
    as_json: bool,
) -> None:
    """Create or update a job from a YAML or JSON file (- for stdin).

    The file is a native job spec, a Kubernetes batch/v1 Job or CronJob, a Metronome
    job or a Chronos job (told apart by their shape; `mesospy job convert FILE` shows
    the native spec a foreign one becomes). A file with a field that cannot apply here
    is refused, every such field named with the reason; nothing is submitted then.

    A job with neither schedule nor parents starts a run at once (unless --no-run);
    with --wait, the command follows that run and exits 0 only if it succeeds.

    Example: mesospy job submit report.yaml --wait
    """
    text = _native_text(_read_file(file))
    conn = open_batch(master, batch)
    answer: bpb.Job = conn.call("SubmitJob", bpb.SubmitJobRequest(spec=text, no_run=no_run))
    if as_json:
        print_json(answer)
    else:
        started = (
            answer.last_run if answer.last_run.id and answer.last_run.trigger == "manual" else None
        )
        what = f"; run {started.id} started" if started and not started.finished else ""
        sched = f"; schedule {answer.schedule}" if answer.schedule else ""
        click.echo(f"job {answer.name} submitted{sched}{what}")
    if wait:
        if not answer.last_run.id or answer.last_run.trigger != "manual":
            click.echo("nothing to wait for: the job runs on its schedule or after its parents")
            return
        _finish_wait(wait_for_run(conn, answer.name, answer.last_run.id, timeout))


@job.command("convert")
@click.argument("file")
@json_option
def convert_file(file: str, as_json: bool) -> None:
    """Show the native job spec a job file becomes, and what changed on the way.

    Takes what `mesospy job submit` takes (a native spec, a Kubernetes batch/v1 Job or
    CronJob, a Metronome or a Chronos job); prints the native spec as YAML, with every
    field that changed meaning and every field dropped (no effect here) as comments, so
    the output can be kept and submitted as it is. A field that cannot apply here is
    named with the reason, and the command exits 1. Nothing is submitted.

    Example: mesospy job convert cronjob.yaml > job.yaml
    """
    text = _read_file(file)
    converted = _converted(text)
    if converted is None:
        try:
            spec = load_job(text).spec
        except SpecError as exc:
            _spec_failure(exc)
        fmt, changed, ignored = "native", [], []
    else:
        conversion, spec = converted
        fmt, changed, ignored = conversion.format, conversion.changed, conversion.ignored
    if as_json:
        print_json(
            {
                "format": fmt,
                "spec": spec.to_dict(),
                "changed": [{"field": p, "what": w} for p, w in changed],
                "dropped": [{"field": p, "why": w} for p, w in ignored],
            }
        )
        return
    click.echo(f"# {file}: {fmt}" + (" (already a native job spec)" if fmt == "native" else ""))
    for title, notes in (("changed", changed), ("dropped (no effect here)", ignored)):
        if notes:
            click.echo(f"# {title}:")
            for path, what in notes:
                click.echo(f"#   {path}: {what}")
    click.echo(yaml.safe_dump(spec.to_dict(), sort_keys=False).rstrip())


@job.command("list")
@master_option
@batch_option
@json_option
@batch_command
def list_jobs(master: str, batch: str | None, as_json: bool) -> None:
    """List the jobs, their schedule and last run.

    Example: mesospy job list
    """
    answer: bpb.ListJobsResponse = open_batch(master, batch).call("ListJobs", bpb.ListJobsRequest())
    if as_json:
        print_json(answer)
        return
    rows = [
        (
            j.name,
            j.schedule or ("after " + ",".join(j.parents) if j.parents else "-"),
            "suspended" if j.suspended else when(j.next_tick),
            j.last_run.id or "-",
            j.last_run.state or "-",
            j.active_runs,
            j.total_runs,
        )
        for j in answer.jobs
    ]
    headers = ["NAME", "SCHEDULE", "NEXT", "LAST RUN", "STATE", "ACTIVE", "RUNS"]
    print_table(headers, rows, "no jobs")


@job.command()
@click.argument("name")
@master_option
@batch_option
@json_option
@batch_command
def show(name: str, master: str, batch: str | None, as_json: bool) -> None:
    """Show a job: its spec, schedule and last run.

    Example: mesospy job show nightly-report
    """
    answer: bpb.Job = open_batch(master, batch).call("GetJob", bpb.GetJobRequest(name=name))
    if as_json:
        data = to_dict(answer)
        data["spec"] = json.loads(answer.spec_json)
        data.pop("spec_json", None)
        print_json(data)
        return
    last = answer.last_run
    print_fields(
        [
            ("name", answer.name),
            ("schedule", answer.schedule or "-"),
            ("suspended", "yes" if answer.suspended else "no"),
            ("next run", when(answer.next_tick)),
            ("parents", ", ".join(answer.parents) or "-"),
            ("runs", f"{answer.total_runs} ({answer.active_runs} active)"),
            ("last run", f"{last.id} {last.state} {last.message}".strip() if last.id else "-"),
        ]
    )
    click.echo("spec:")
    spec = yaml.safe_dump(json.loads(answer.spec_json), sort_keys=False)
    click.echo("  " + spec.rstrip().replace("\n", "\n  "))


def _params(values: tuple[str, ...]) -> dict[str, str]:
    params = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r}: expected KEY=VALUE", param_hint="-p")
        params[key] = rest
    return params


@job.command()
@click.argument("name")
@click.option(
    "-p", "--param", "params", multiple=True, help="KEY=VALUE, given to the tasks as env."
)
@click.option("--wait", is_flag=True, help="Wait for the run, showing progress.")
@click.option("--timeout", default=0.0, type=click.FloatRange(0), help="Give up waiting after N s.")
@master_option
@batch_option
@json_option
@batch_command
def run(
    name: str,
    params: tuple[str, ...],
    wait: bool,
    timeout: float,
    master: str,
    batch: str | None,
    as_json: bool,
) -> None:
    """Start a run of a job now.

    Example: mesospy job run nightly-report -p DAY=2026-03-01 --wait
    """
    conn = open_batch(master, batch)
    answer: bpb.Run = conn.call("RunJob", bpb.RunJobRequest(name=name, params=_params(params)))
    if as_json:
        print_json(answer)
    else:
        click.echo(f"job {name}: run {answer.id} started")
    if wait:
        _finish_wait(wait_for_run(conn, name, answer.id, timeout))


@job.command()
@click.argument("name")
@master_option
@batch_option
@json_option
@batch_command
def runs(name: str, master: str, batch: str | None, as_json: bool) -> None:
    """The history of a job's runs, oldest first.

    Example: mesospy job runs nightly-report
    """
    answer: bpb.ListRunsResponse = open_batch(master, batch).call(
        "ListRuns", bpb.ListRunsRequest(name=name)
    )
    if as_json:
        print_json(answer)
        return
    rows = [
        (
            r.id,
            r.trigger,
            r.state,
            when(r.scheduled_time),
            when(r.started),
            _duration(r),
            _exit(r),
            _instances(r),
            r.message,
        )
        for r in answer.runs
    ]
    headers = [
        "RUN",
        "TRIGGER",
        "STATE",
        "SCHEDULED",
        "STARTED",
        "TOOK",
        "EXIT",
        "INSTANCES",
        "MESSAGE",
    ]
    print_table(headers, rows, f"job {name} has no runs yet")
    containers = _container_rows(answer.runs)
    if containers:
        click.echo()
        headers = ["RUN", "INSTANCE", "CONTAINER", "STATE", "EXIT", "MESSAGE"]
        print_table(headers, containers, "")


def _container_tasks(instance: bpb.Instance, only: str) -> list[str]:
    """The tasks of an instance's current attempt whose output to show: its one task, or
    each container's (``only``: that one)."""
    if not instance.task_id:
        return []
    if not instance.containers:
        if only:
            fail(f"--container {only}: the job has one container; leave --container out")
        return [instance.task_id]
    names = [c.name for c in instance.containers]
    if only and only not in names:
        fail(f"instance {instance.index} has no container {only!r} (it has {', '.join(names)})")
    return [f"{instance.task_id}.{n}" for n in names if not only or n == only]


def _container_rows(runs: Iterable[bpb.Run]) -> list[tuple[object, ...]]:
    """A row per container of each instance, for jobs of several containers."""
    return [
        (
            r.id,
            i.index,
            c.name,
            c.state.removeprefix("TASK_"),
            c.exit_code if c.HasField("exit_code") else "-",
            c.message,
        )
        for r in runs
        for i in r.instances
        for c in i.containers
    ]


@job.command()
@click.argument("name")
@click.argument("run_id", default="")
@click.option("--instance", "instances", multiple=True, type=int, help="Only this instance.")
@click.option("--stderr", is_flag=True, help="Show stderr instead of stdout.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the instances end.")
@click.option("--container", default="", help="Only this container (jobs of several).")
@master_option
@batch_option
@batch_command
def logs(
    name: str,
    run_id: str,
    instances: tuple[int, ...],
    stderr: bool,
    follow: bool,
    container: str,
    master: str,
    batch: str | None,
) -> None:
    """Print the output of a run's instances (the latest run by default).

    Each instance's current attempt is read from its sandbox through the master; with
    several instances (or containers), each one's output follows a header line.

    Example: mesospy job logs nightly-report --follow
    """
    conn = open_batch(master, batch)
    answer: bpb.Run = conn.call("GetRun", bpb.GetRunRequest(name=name, run_id=run_id))
    chosen = [i for i in answer.instances if not instances or i.index in instances]
    sources = [(i, t) for i in chosen for t in _container_tasks(i, container)]
    if follow and len({i.index for i, _ in sources}) < len(sources):
        fail("a job of several containers: --follow needs --container NAME")
    out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None
    with connect(master) as client:
        for instance, task_id in sources:
            if len(sources) > 1:
                click.echo(f"==> instance {instance.index} ({task_id}) <==")
            try:
                chunks = client.tail_file(
                    answer.framework_id,
                    task_id,
                    "stderr" if stderr else "stdout",
                    follow=follow,
                )
                for chunk in chunks:
                    if out is not None:
                        out.write(chunk)
                        out.flush()
                    else:
                        click.echo(chunk.decode(errors="replace"), nl=False)
            except OperatorError as exc:
                click.echo(f"(no output: {' '.join(str(exc).split())})", err=True)


@job.command()
@click.argument("name")
@click.argument("run_id", default="")
@master_option
@batch_option
@batch_command
def cancel(name: str, run_id: str, master: str, batch: str | None) -> None:
    """Cancel a run (every active run of the job without RUN); its tasks are killed.

    Example: mesospy job cancel nightly-report
    """
    answer: bpb.Run = open_batch(master, batch).call(
        "CancelRun", bpb.CancelRunRequest(name=name, run_id=run_id)
    )
    click.echo(f"job {name}: run {answer.id} {answer.state}")


@job.command()
@click.argument("name")
@master_option
@batch_option
@batch_command
def suspend(name: str, master: str, batch: str | None) -> None:
    """Stop a job's schedule (runs already going carry on).

    Example: mesospy job suspend nightly-report
    """
    open_batch(master, batch).call(
        "SetSuspended", bpb.SetSuspendedRequest(name=name, suspended=True)
    )
    click.echo(f"job {name} suspended")


@job.command()
@click.argument("name")
@master_option
@batch_option
@batch_command
def resume(name: str, master: str, batch: str | None) -> None:
    """Resume a suspended job's schedule from the next tick.

    Example: mesospy job resume nightly-report
    """
    answer: bpb.Job = open_batch(master, batch).call(
        "SetSuspended", bpb.SetSuspendedRequest(name=name, suspended=False)
    )
    click.echo(f"job {name} resumed; next run {when(answer.next_tick)}")


@job.command()
@click.argument("name")
@master_option
@batch_option
@batch_command
def delete(name: str, master: str, batch: str | None) -> None:
    """Delete a job: its active runs are cancelled and its history forgotten.

    Example: mesospy job delete nightly-report
    """
    open_batch(master, batch).call("DeleteJob", bpb.DeleteJobRequest(name=name))
    click.echo(f"job {name} deleted")
