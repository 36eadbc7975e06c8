"""``mesospy app ...`` and ``mesospy service serve``."""

from __future__ import annotations

import functools
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click
import yaml

from frameworks.service.client import ServiceClient, ServiceError, find_service
from frameworks.service.marathon_app import Conversion, convert, is_marathon, load_app_text
from frameworks.service.spec import SpecError, load_data
from frameworks.service.v1 import service_pb2 as spb
from mesospy.cli.common import (
    api_security_options,
    fail,
    log_level_option,
    metrics_port_option,
    run_until_signalled,
    setup_logging,
)
from mesospy.cli.common import master_option as daemon_master_option
from mesospy.cli.output import json_option, master_option, print_fields, print_json, print_table
from mesospy.cli.output import when as format_time
from mesospy.client import OperatorClient, OperatorError
from mesospy.metrics_http import MetricsPortError
from mesospy.scheduler.state import StateLocationError
from mesospy.security.serving import ApiSecurity, ApiSecurityError

F = TypeVar("F", bound=Callable[..., Any])
SERVICE_ENV = "MESOSPY_SERVICE"


def service_command(func: F) -> F:
    """--master and --service options; errors as one line and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ServiceError, OperatorError) as exc:
            fail(" ".join(str(exc).split()))
        except KeyboardInterrupt:
            fail("interrupted", 130)

    wrapper = click.option(
        "--service",
        envvar=SERVICE_ENV,
        default="",
        show_envvar=True,
        help="The service framework's API as host:port (default: found through the master).",
    )(wrapper)
    return master_option(wrapper)  # type: ignore[return-value]


def connect(master: str, service: str) -> ServiceClient:
    return ServiceClient(service or find_service(master))


@click.group()
def app() -> None:
    """Long-running apps: deploy, scale, roll back (the service framework).

    \b
    Deploy:   mesospy app deploy web.yaml --wait | scale web 5 | restart web | delete web
    Versions: mesospy app versions web | rollback web [VERSION]
    Look:     mesospy app list | show web | deployments | endpoints web | logs web -f
    Steer:    mesospy app pause|resume|cancel web   (the deployment in progress)
    """


@click.group()
def service() -> None:
    """Run the service framework (`mesospy service serve`)."""


@service.command()
@daemon_master_option
@click.option(
    "--state",
    required=True,
    help="Where to keep apps and versions: a directory, or zk://host:port,.../path.",
)
@click.option(
    "--port",
    default=0,
    type=click.IntRange(0, 65535),
    show_default=True,
    help="Port of the framework's gRPC API (0: any free port).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the API binds to.")
@click.option(
    "--role",
    default="*",
    show_default=True,
    help="The role the framework subscribes with; resident apps (persistentVolumes) "
    "reserve their resources for it, so they need one (e.g. --role db).",
)
@click.option(
    "--vips/--no-vips",
    default=True,
    show_default=True,
    help="Run the apps' VIP proxies in this process (--no-vips: run "
    "`python -m frameworks.service.vip` on each agent host instead).",
)
@click.option(
    "--vip-tasks",
    is_flag=True,
    help="Run the VIP proxies as tasks of this framework, one on every agent host (the "
    "system app mesospy-system/vip-proxy); implies --no-vips.",
)
@click.option(
    "--drain-seconds",
    default=None,
    type=click.FloatRange(0),
    help="Keep a stopping instance out of rotation this long before killing it "
    "[default: 0 with --vips, 2 with --no-vips].",
)
@click.option(
    "--marathon-api-port",
    default=None,
    type=click.IntRange(0, 65535),
    help="Also serve Marathon's v2 REST API (apps, deployments, tasks, groups, events) "
    "on this port of --host (0: any free port), behind the same authentication "
    "(HTTP Basic principal:secret) [default: not served].",
)
@metrics_port_option
@api_security_options
@log_level_option
def serve(
    master: str,
    state: str,
    port: int,
    host: str,
    role: str,
    vips: bool,
    vip_tasks: bool,
    drain_seconds: float | None,
    marathon_api_port: int | None,
    metrics_port: int,
    security: ApiSecurity,
    log_level: str,
) -> None:
    """Run the service framework: scheduler, API and VIPs. Stopping it leaves the apps
    running; started again with the same --state it adopts them.

    Example: mesospy service serve --master 127.0.0.1:5050 --state /var/lib/mesospy/service

    Secured (TLS to clients and master; callers need a principal and secret):
    mesospy service serve --master 10.0.0.1:5050 --state zk://10.0.0.1:2181/service
    --tls-cert tls/server.pem --tls-key tls/server.key --tls-ca tls/ca.pem
    --credentials creds.txt --authenticate
    """
    from frameworks.service.server import serve as run_server
    from mesospy.scheduler import MesospyError

    setup_logging(log_level)
    try:
        vips = vips and not vip_tasks
        drain = drain_seconds if drain_seconds is not None else (0.0 if vips else 2.0)
        run_until_signalled(
            run_server(
                master,
                state,
                port,
                host,
                role=role,
                vips_here=vips,
                drain_seconds=drain,
                security=security,
                vip_tasks=vip_tasks,
                metrics_port=metrics_port,
                marathon_api_port=marathon_api_port,
            )
        )
    except MesospyError as exc:
        fail(str(exc))
    except (OSError, ApiSecurityError, MetricsPortError, StateLocationError) as exc:
        fail(f"cannot start the service framework: {exc}")


# ---------------------------------------------------------------- deploy


@app.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--wait", is_flag=True, help="Follow the deployment until it ends; exit 1 unless it succeeds."
)
@click.option("--timeout", default=600.0, show_default=True, help="Seconds to --wait at most.")
@click.option("--dry-run", is_flag=True, help="Only validate the file.")
@service_command
def deploy(file: str, wait: bool, timeout: float, dry_run: bool, master: str, service: str) -> None:
    """Create or update an app from a YAML or JSON file (a change rolls out): the native
    format, or Marathon's app definition as it is (see `mesospy app convert`).

    \b
    Example: mesospy app deploy web.yaml --wait
    web.yaml:
      id: web
      cmd: python3 -m http.server $PORT0 --bind 127.0.0.1
      instances: 3
      ports: [http]
      healthCheck: {protocol: HTTP, path: /, intervalSeconds: 2}
      vip: 127.0.0.1:10080
    """
    text = _read(file)
    conversion = _convert(text, file)
    if conversion is not None:  # Marathon's format: sent as the native spec it became
        if conversion.warning():
            click.echo(conversion.warning(), err=True)
        text = conversion.spec.to_json()
    with connect(master, service) as client:
        answer = client.deploy(text, dry_run)
        if dry_run:
            click.echo("the app spec is valid")
            return
        d = answer.deployment
        if not d.id:
            click.echo(f"app {answer.app.id}: unchanged (version {answer.app.version})")
            return
        click.echo(
            f"app {answer.app.id}: version {answer.app.version}, deployment {d.id} ({d.kind})"
        )
        if wait:
            sys.exit(follow_deployment(client, answer.app.id, d.id, timeout))


def _read(file: str) -> str:
    try:
        return sys.stdin.read() if file == "-" else Path(file).read_text()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
    raise AssertionError("unreachable")


def _convert(text: str, file: str) -> Conversion | None:
    """A Marathon app definition converted here (refused: one line, exit 1); None for a
    native file, which the service framework validates."""
    try:
        data = load_data(text, file)
        if not isinstance(data, Mapping) or not is_marathon(data):
            return None
        return convert(data)
    except SpecError as exc:
        fail(f"invalid app spec: {'; '.join(exc.problems)}")
    raise AssertionError("unreachable")


@app.command("convert")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@json_option
def convert_command(file: str, as_json: bool) -> None:
    """Print the native spec a Marathon app definition (JSON or YAML) becomes, and every
    field it changed or ignored. Needs no cluster.

    \b
    Example: mesospy app convert marathon/web.json > web.yaml
    """
    text = _read(file)
    try:
        conversion = load_app_text(text, file)
    except SpecError as exc:
        fail(f"invalid app spec: {'; '.join(exc.problems)}")
    native = conversion.spec.to_dict()
    if as_json:
        print_json(
            {
                "spec": native,
                "marathon": conversion.marathon,
                "changed": list(conversion.changed),
                "ignored": list(conversion.ignored),
            }
        )
        return
    click.echo(yaml.safe_dump(native, sort_keys=False).rstrip())
    if not conversion.marathon:
        click.echo("# already in the native format: nothing converted")
    for change in conversion.changed:
        click.echo(f"# changed: {change}")
    for field in conversion.ignored:
        click.echo(f"# ignored (no effect here): {field}")


def follow_deployment(
    client: ServiceClient, app_id: str, deployment_id: str, timeout: float
) -> int:
    """Print progress until the deployment ends, with why it is not done yet (unplaced
    instances and the reason, failed tasks, failing health checks); 0 if it succeeded."""
    deadline = time.monotonic() + timeout
    last = ""
    said: set[str] = set()
    why: list[str] = []
    while time.monotonic() < deadline:
        a = client.app(app_id)
        if a.deployment.id == deployment_id:
            line = (
                f"{a.deployment.status.lower()}: {a.healthy}/{a.instances} healthy, "
                f"{a.running} running"
            )
            if line != last:
                click.echo(line)
                last = line
            why = _in_the_way(a)
            for reason in why:
                if reason not in said:
                    click.echo(f"  {reason}")
                    said.add(reason)
            time.sleep(0.5)
            continue
        done = [
            d
            for d in client.call(
                "ListDeployments", spb.ListDeploymentsRequest(app_id=app_id, history=True)
            ).deployments
            if d.id == deployment_id
        ]
        if not done:
            click.echo("the deployment is gone from the history", err=True)
            return 1
        d = done[-1]
        click.echo(f"deployment {d.id} {d.status}" + (f": {d.message}" if d.message else ""))
        return 0 if d.status == "SUCCEEDED" else 1
    detail = f": {'; '.join(why)}" if why else ""
    click.echo(f"still in progress after {timeout:g}s (it goes on){detail}", err=True)
    return 1


def _in_the_way(a: spb.App) -> list[str]:
    """What keeps an app's deployment from finishing: its notes (unplaced instances and
    why, the last failure, an open circuit breaker) and instances failing health checks."""
    reasons = list(a.notes)
    for i in a.instance_list:
        if i.health == "unhealthy" and not i.killing:
            reasons.append(f"{i.task_id} on {i.hostname or i.agent_id}: health check failing")
    return reasons


# ---------------------------------------------------------------- read


def _health(a: spb.App) -> str:
    return f"{a.healthy}/{a.instances}"


@app.command(name="list")
@json_option
@service_command
def list_apps(as_json: bool, master: str, service: str) -> None:
    """List the apps.

    Example: mesospy app list --json
    """
    with connect(master, service) as client:
        apps = client.apps()
    if as_json:
        print_json([_app_dict(a) for a in apps])
        return
    rows = [
        (
            a.id,
            a.version,
            _health(a),
            a.running,
            a.deployment.status or "-",
            a.vip or "-",
            "; ".join(a.notes) or "",
        )
        for a in apps
    ]
    print_table(
        ["ID", "VERSION", "HEALTHY", "RUNNING", "DEPLOYMENT", "VIP", "NOTES"], rows, "no apps"
    )


def _app_dict(a: spb.App) -> dict[str, Any]:
    import json

    from mesospy.cli.output import to_dict

    data = to_dict(a)
    data["spec"] = json.loads(a.spec_json)
    data.pop("spec_json", None)
    return data


@app.command()
@click.argument("app_id")
@json_option
@service_command
def show(app_id: str, as_json: bool, master: str, service: str) -> None:
    """Show an app: its version, deployment, notes and instances.

    Example: mesospy app show web
    """
    with connect(master, service) as client:
        a = client.app(app_id)
    if as_json:
        print_json(_app_dict(a))
        return
    d = a.deployment
    print_fields(
        [
            ("id", a.id),
            (
                "version",
                a.version
                + (
                    f" (last healthy: {a.last_healthy_version})"
                    if a.last_healthy_version != a.version
                    else ""
                ),
            ),
            ("instances", f"{a.instances} wanted, {a.running} running, {a.healthy} healthy"),
            ("vip", a.vip or "-"),
            (
                "deployment",
                f"{d.id} {d.kind} {d.from_version or '-'} -> {d.to_version} {d.status}"
                if d.id
                else "-",
            ),
            *([("deleting", "yes")] if a.deleting else []),
            *[("note", n) for n in a.notes],
        ]
    )
    click.echo()
    rows = []
    for i in a.instance_list:
        rows.append(
            (
                i.task_id,
                i.version,
                i.state + (" (stopping)" if i.killing else ""),
                i.health,
                f"{i.hostname}:{i.ports[0]}" if i.ports else i.hostname or "-",
                format_time(i.launched_at),
            )
        )
        # A pod's instance: a line per container under it.
        for c in i.containers:
            name = f"  {c.name}" + (" (sidecar)" if c.sidecar else "")
            rows.append((name, "", c.state, c.health, "", ""))
    print_table(
        ["INSTANCE", "VERSION", "STATE", "HEALTH", "ADDRESS", "LAUNCHED"], rows, "no instances"
    )
    if a.residents:
        click.echo()
        volumes = [
            (
                r.id,
                r.state,
                f"{r.hostname} ({r.agent_id})",
                v.persistence_id,
                v.container_path,
                f"{v.size:g}",
                r.task_id or "-",
            )
            for r in a.residents
            for v in r.volumes
        ]
        print_table(
            ["RESIDENT", "STATE", "AGENT", "PERSISTENCE ID", "PATH", "MB", "TASK"], volumes, ""
        )


@app.command()
@click.argument("app_id")
@json_option
@service_command
def versions(app_id: str, as_json: bool, master: str, service: str) -> None:
    """List the kept versions of an app.

    Example: mesospy app versions web
    """
    with connect(master, service) as client:
        answer = client.call("ListVersions", spb.AppRequest(app_id=app_id))
    if as_json:
        print_json(answer)
        return
    rows = []
    for v in answer.versions:
        marks = [
            m
            for m, on in (
                ("current", v.current),
                ("last healthy", v.last_healthy),
                ("rolled back", v.failed),
            )
            if on
        ]
        import json

        spec = json.loads(v.spec_json)
        rows.append(
            (
                v.version,
                format_time(v.created_at),
                spec.get("instances"),
                spec.get("cmd", "")[:60],
                ", ".join(marks),
            )
        )
    print_table(["VERSION", "CREATED", "INSTANCES", "CMD", ""], rows, "no versions")


@app.command()
@click.argument("app_id", required=False, default="")
@click.option("--all", "history", is_flag=True, help="Also finished deployments.")
@json_option
@service_command
def deployments(app_id: str, history: bool, as_json: bool, master: str, service: str) -> None:
    """List deployments in progress (of one app, or all; --all for finished ones too).

    Example: mesospy app deployments --all web
    """
    with connect(master, service) as client:
        answer = client.call(
            "ListDeployments", spb.ListDeploymentsRequest(app_id=app_id, history=history)
        )
    if as_json:
        print_json(answer)
        return
    rows = [
        (
            d.id,
            d.app_id,
            d.kind,
            f"{d.from_version or '-'} -> {d.to_version}",
            d.status,
            format_time(d.started_at),
            d.message,
        )
        for d in answer.deployments
    ]
    print_table(
        ["ID", "APP", "KIND", "VERSIONS", "STATUS", "STARTED", "MESSAGE"],
        rows,
        "no deployments in progress",
    )


@app.command()
@click.argument("app_id")
@json_option
@service_command
def endpoints(app_id: str, as_json: bool, master: str, service: str) -> None:
    """List an app's serving instances as host:port (and its VIP).

    Example: mesospy app endpoints web
    """
    with connect(master, service) as client:
        answer = client.call("GetEndpoints", spb.AppRequest(app_id=app_id))
    if as_json:
        print_json(answer)
        return
    if answer.vip:
        click.echo(f"vip: {answer.vip}")
    rows = [
        (f"{e.host}:{e.port}", e.task_id, e.version, e.active_connections) for e in answer.endpoints
    ]
    print_table(["ENDPOINT", "INSTANCE", "VERSION", "CONNECTIONS"], rows, "no healthy endpoints")


# ---------------------------------------------------------------- change


def _report(answer: spb.DeployResponse) -> None:
    d = answer.deployment
    click.echo(f"app {answer.app.id}: version {answer.app.version}, deployment {d.id} ({d.kind})")


@app.command()
@click.argument("app_id")
@click.argument("instances", type=click.IntRange(0))
@click.option("--wait", is_flag=True, help="Follow the deployment until it ends.")
@service_command
def scale(app_id: str, instances: int, wait: bool, master: str, service: str) -> None:
    """Set the number of instances (nothing is restarted).

    Example: mesospy app scale web 5
    """
    with connect(master, service) as client:
        answer = client.call("Scale", spb.ScaleRequest(app_id=app_id, instances=instances))
        _report(answer)
        if wait:
            sys.exit(follow_deployment(client, answer.app.id, answer.deployment.id, 600))


@app.command()
@click.argument("app_id")
@click.option("--wait", is_flag=True, help="Follow the deployment until it ends.")
@service_command
def restart(app_id: str, wait: bool, master: str, service: str) -> None:
    """Replace every instance, rolling (as an update would).

    Example: mesospy app restart web
    """
    with connect(master, service) as client:
        answer = client.call("Restart", spb.AppRequest(app_id=app_id))
        _report(answer)
        if wait:
            sys.exit(follow_deployment(client, answer.app.id, answer.deployment.id, 600))


@app.command()
@click.argument("app_id")
@click.argument("version", required=False, default="")
@click.option("--wait", is_flag=True, help="Follow the deployment until it ends.")
@service_command
def rollback(app_id: str, version: str, wait: bool, master: str, service: str) -> None:
    """Deploy an earlier version again (default: the last healthy one, else the previous).

    Example: mesospy app rollback web v2
    """
    with connect(master, service) as client:
        answer = client.call("Rollback", spb.RollbackRequest(app_id=app_id, version=version))
        _report(answer)
        if wait:
            sys.exit(follow_deployment(client, answer.app.id, answer.deployment.id, 600))


@app.command()
@click.argument("app_id")
@service_command
def delete(app_id: str, master: str, service: str) -> None:
    """Stop every instance (gracefully, drained from the VIP), then forget the app.

    Example: mesospy app delete web
    """
    with connect(master, service) as client:
        client.call("Delete", spb.AppRequest(app_id=app_id))
    click.echo(f"app {app_id}: deleting")


def _deployment_command(name: str, rpc: str, doc: str) -> None:
    @app.command(name=name, help=doc)
    @click.argument("app_id")
    @service_command
    def command(app_id: str, master: str, service: str) -> None:
        with connect(master, service) as client:
            answer = client.call(rpc, spb.AppRequest(app_id=app_id))
        d = answer.deployment if isinstance(answer, spb.DeployResponse) else answer
        click.echo(f"deployment {d.id} of {app_id}: {d.kind} to {d.to_version}, {d.status}")


_deployment_command(
    "pause",
    "PauseDeployment",
    "Pause the deployment in progress.\n\nExample: mesospy app pause web",
)
_deployment_command(
    "resume", "ResumeDeployment", "Resume a paused deployment.\n\nExample: mesospy app resume web"
)
_deployment_command(
    "cancel",
    "CancelDeployment",
    "Cancel the deployment in progress by rolling "
    "back to the version it started from.\n\nExample: mesospy app cancel web",
)


# ---------------------------------------------------------------- logs


@app.command()
@click.argument("app_id")
@click.option("--instance", "task_id", default="", help="Only this instance (task id).")
@click.option("--stderr", is_flag=True, help="Show stderr instead of stdout.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing as the instances write.")
@service_command
def logs(app_id: str, task_id: str, stderr: bool, follow: bool, master: str, service: str) -> None:
    """Print the stdout (or --stderr) of an app's instances, each line prefixed with the
    instance, through the master.

    Example: mesospy app logs web --follow
    """
    with connect(master, service) as client:
        a = client.app(app_id)
    # A pod's instance: each of its containers' tasks (or the one named).
    ids = [
        c.task_id if i.containers else i.task_id
        for i in a.instance_list
        for c in (i.containers or [i])
        if not task_id or task_id in (i.task_id, c.task_id)
    ]
    if not ids:
        fail(f"app {app_id} has no instance{' ' + task_id if task_id else 's'} running")
    with OperatorClient(master) as op:
        framework_id = op.find_task(ids[0]).framework_id
    name = "stderr" if stderr else "stdout"
    lock = threading.Lock()

    errors: list[str] = []

    def copy(tid: str) -> None:
        try:
            with OperatorClient(master) as op:
                partial = b""
                for chunk in op.tail_file(framework_id, tid, name, 0, follow):
                    *lines, partial = (partial + chunk).split(b"\n")
                    with lock:
                        for line in lines:
                            click.echo(f"[{tid}] {line.decode(errors='replace')}")
                if partial:
                    with lock:
                        click.echo(f"[{tid}] {partial.decode(errors='replace')}")
        except OperatorError as exc:
            errors.append(f"{tid}: {' '.join(str(exc).split())}")

    threads = [threading.Thread(target=copy, args=(tid,), daemon=True) for tid in ids]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.2)
    if errors:
        fail("; ".join(errors))
