"""``mesospy master`` and ``mesospy agent``: the long-running processes."""

from __future__ import annotations

from pathlib import Path

import click

from mesospy.agent import AgentConfig, parse_attributes, run_agent
from mesospy.agent.config import parse_size
from mesospy.agent.task_env import parse_environment_json
from mesospy.cli.common import (
    fail,
    log_level_option,
    master_option,
    port_option,
    run_until_signalled,
    setup_logging,
    tls_config,
    tls_options,
)
from mesospy.master import MasterConfig, MasterStartError, run_master
from mesospy.master.leadership import LeadershipLost, ZooKeeperUnreachable
from mesospy.master.master import Master
from mesospy.resources import ResourceError, Resources
from mesospy.security.credentials import (
    PRINCIPAL_ENV,
    SECRET_ENV,
    Credential,
    CredentialsError,
)
from mesospy.security.zk_acl import ZooKeeperAuth, ZooKeeperAuthError
from mesospy.zk.url import parse_zk_url

METRICS_PORT = port_option(
    "--metrics-port", "Serve Prometheus metrics at http://IP:PORT/metrics (0: off)."
)


def _registry_url(value: str | None) -> str | None:
    if value and not value.startswith(("http://", "https://")):
        raise click.BadParameter(f"{value!r} is not an http:// or https:// URL")
    return value


def _host_paths(value: str) -> tuple[str, ...]:
    paths = tuple(path.strip() for path in value.split(",") if path.strip())
    for path in paths:
        if not path.startswith("/"):
            raise click.BadParameter(f"{path!r} is not an absolute path")
    return paths


@click.command()
@click.option("--ip", default="127.0.0.1", show_default=True, help="Address to listen on.")
@port_option("--port", default=5050)
@click.option("--hostname", default="", help="Name advertised to agents and frameworks.")
@click.option(
    "--work-dir",
    default="/tmp/mesospy/master",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the registry is kept.",
)
@click.option(
    "--allocation-interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.001),
    help="Seconds between allocation cycles.",
)
@click.option(
    "--offer-timeout",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Rescind offers unanswered for this many seconds (0: never).",
)
@click.option(
    "--agent-ping-timeout",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0.01),
    help="Seconds between agent heartbeats.",
)
@click.option(
    "--max-agent-ping-timeouts",
    default=5,
    show_default=True,
    type=click.IntRange(1),
    help="Missed heartbeats before an agent is unreachable.",
)
@click.option(
    "--zk",
    default=None,
    metavar="zk://HOST:PORT,.../PATH",
    help="Elect a leader among masters and keep the registry in ZooKeeper.",
)
@click.option(
    "--zk-session-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(1),
    help="Seconds a ZooKeeper session outlives a lost connection; a leader that loses "
    "its session stops leading.",
)
@click.option(
    "--zk-auth",
    envvar="MESOSPY_ZK_AUTH",
    show_envvar=True,
    default=None,
    metavar="USER:PASSWORD",
    help="ZooKeeper digest credentials: mesospy's znodes become writable only with them "
    "(readable by anyone, so agents and frameworks still find the leader).",
)
@click.option(
    "--zk-auth-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="A file holding USER:PASSWORD for --zk-auth (keeps it out of `ps`).",
)
@click.option(
    "--agent-reregister-timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="After a failover, seconds agents have to re-register before they are marked unreachable.",
)
@click.option(
    "--agent-removal-timeout",
    default=86_400.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds an unreachable agent may stay away before it is gone (0: never).",
)
@click.option(
    "--framework-heartbeat-interval",
    default=15.0,
    show_default=True,
    type=click.FloatRange(0.01),
    help="Seconds between HEARTBEAT events.",
)
@METRICS_PORT
@port_option(
    "--http-port",
    "Serve Mesos's v1 HTTP APIs at http://IP:PORT/api/v1 and /api/v1/scheduler (0: off).",
)
@port_option(
    "--webui-port", "Serve the web dashboard at http://IP:PORT/ (https with --tls-cert; 0: off)."
)
@tls_options
@click.option(
    "--credentials",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help='Principals and secrets: JSON {"credentials": [{"principal": P, "secret": S}]} '
    'or "principal secret" lines.',
)
@click.option("--authenticate-frameworks", is_flag=True, help="Refuse unauthenticated frameworks.")
@click.option("--authenticate-agents", is_flag=True, help="Refuse unauthenticated agents.")
@click.option("--authenticate-operators", is_flag=True, help="Refuse unauthenticated operators.")
@click.option(
    "--acls",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="ACL file (YAML/JSON): who may register frameworks, run tasks as which user... "
    "Anything it does not allow is denied.",
)
@click.option(
    "--rate-limit",
    default=None,
    metavar="CALLS_PER_S[:BURST]",
    help="Calls per second of each framework or operator principal (the ACL file's "
    "rate_limits override it per principal).",
)
@click.option(
    "--max-message-size",
    default=64 * 1024 * 1024,
    show_default=True,
    type=click.IntRange(1024),
    help="The largest request accepted, in bytes.",
)
@log_level_option
def master(
    ip: str,
    port: int,
    hostname: str,
    work_dir: Path,
    allocation_interval: float,
    offer_timeout: float,
    agent_ping_timeout: float,
    max_agent_ping_timeouts: int,
    zk: str | None,
    zk_session_timeout: float,
    zk_auth: str | None,
    zk_auth_file: Path | None,
    agent_reregister_timeout: float,
    agent_removal_timeout: float,
    framework_heartbeat_interval: float,
    metrics_port: int,
    http_port: int,
    webui_port: int,
    tls_cert: str | None,
    tls_key: str | None,
    tls_ca: str | None,
    tls_require_client_cert: bool,
    credentials: Path | None,
    authenticate_frameworks: bool,
    authenticate_agents: bool,
    authenticate_operators: bool,
    acls: Path | None,
    rate_limit: str | None,
    max_message_size: int,
    log_level: str,
) -> None:
    """Run a master.

    Example: mesospy master --port 5050 --work-dir /var/lib/mesospy/master

    Several masters for high availability:
    mesospy master --zk zk://10.0.0.1:2181,10.0.0.2:2181/mesospy

    With TLS (certificates from `mesospy certs init tls`):
    mesospy master --tls-cert tls/server.pem --tls-key tls/server.key --tls-ca tls/ca.pem

    Requiring authentication, with ACLs:
    mesospy master --credentials creds.json --authenticate-frameworks --acls acls.yaml
    """
    if zk is not None:
        try:
            parse_zk_url(zk)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--zk") from exc
    try:
        zk_credentials = (
            ZooKeeperAuth.load(zk_auth_file)
            if zk_auth_file
            else ZooKeeperAuth.parse(zk_auth)
            if zk_auth
            else None
        )
    except ZooKeeperAuthError as exc:
        raise click.BadParameter(str(exc), param_hint="--zk-auth") from exc
    if zk_credentials is not None and zk is None:
        raise click.BadParameter("needs --zk", param_hint="--zk-auth")
    setup_logging(log_level)
    config = MasterConfig(
        ip=ip,
        port=port,
        hostname=hostname,
        work_dir=work_dir,
        allocation_interval=allocation_interval,
        offer_timeout=offer_timeout,
        agent_ping_timeout=agent_ping_timeout,
        max_agent_ping_timeouts=max_agent_ping_timeouts,
        framework_heartbeat_interval=framework_heartbeat_interval,
        zk=zk,
        zk_session_timeout=zk_session_timeout,
        zk_auth=zk_credentials,
        agent_reregister_timeout=agent_reregister_timeout,
        agent_removal_timeout=agent_removal_timeout,
        metrics_port=metrics_port,
        http_port=http_port,
        webui_port=webui_port,
        tls=tls_config(tls_cert, tls_key, tls_ca, tls_require_client_cert),
        credentials=credentials,
        authenticate_frameworks=authenticate_frameworks,
        authenticate_agents=authenticate_agents,
        authenticate_operators=authenticate_operators,
        acls=acls,
        rate_limit=rate_limit,
        max_message_size=max_message_size,
    )

    def ready(m: Master) -> None:
        click.echo(f"mesospy master {m.id} ready at {m.info.ip}:{m.info.port}", nl=True)

    try:
        run_until_signalled(run_master(config, on_ready=ready))
    except (MasterStartError, LeadershipLost, ZooKeeperUnreachable) as exc:
        fail(str(exc))


@click.command()
@master_option
@click.option("--ip", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--hostname", default=None, help="Name the master uses to reach this agent.")
@port_option("--port", default=5051)
@click.option(
    "--work-dir",
    default="/tmp/mesospy/agent",
    show_default=True,
    help="Sandboxes and the checkpoint live here.",
)
@click.option(
    "--resources",
    default=None,
    help='Mesos syntax, e.g. "cpus:4;mem:2048;ports:[31000-32000]"; what is not given is measured.',
)
@click.option("--attributes", default="", help='e.g. "rack:r1;zone:a".')
@click.option(
    "--isolation",
    type=click.Choice(["auto", "cgroups", "posix"]),
    default="auto",
    show_default=True,
    help="How task memory limits are enforced.",
)
@click.option(
    "--kill-tasks-on-exit",
    is_flag=True,
    help="Kill running tasks when the agent stops (default: they keep running).",
)
@METRICS_PORT
@click.option(
    "--allow-root-tasks",
    is_flag=True,
    help="When running as root, also run tasks as root (tasks naming no user, or root); "
    "by default they are refused and tasks run as their command's or framework's user.",
)
@click.option(
    "--task-env-passthrough",
    multiple=True,
    metavar="NAMES",
    help="Agent environment variables tasks also get, comma-separated, patterns allowed "
    "(e.g. 'VIRTUAL_ENV,PIP_*'); tasks otherwise get PATH, the locale, TZ, HOME/USER of "
    "their user and their own variables, never the agent's whole environment.",
)
@click.option(
    "--executor-environment-variables",
    default=None,
    metavar="JSON",
    help='Variables every task starts with, as Mesos\'s flag: \'{"PATH": "/opt/bin:/bin"}\'.',
)
@click.option(
    "--gc-delay",
    default=7 * 24 * 3600.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Remove an ended task's sandbox this many seconds after the task ended "
    "(sooner as the disk fills, see --gc-disk-headroom).",
)
@click.option(
    "--gc-disk-headroom",
    default=0.1,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="The GC delay is scaled by max(0, 1 - HEADROOM - disk usage): at 90 percent used and "
    "0.1, ended tasks' sandboxes go at the next check.",
)
@click.option(
    "--disk-watch-interval",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0, min_open=True),
    help="Seconds between checks of disk usage and sandboxes to remove.",
)
@click.option(
    "--fetcher-cache-dir",
    default=None,
    help="Where the fetcher caches artifacts (URIs with cache set) "
    "[default: WORK_DIR/fetch-cache]. Emptied when the agent starts.",
)
@click.option(
    "--fetcher-cache-size",
    default="2GB",
    show_default=True,
    help="The most the fetcher cache holds; least recently used artifacts are evicted.",
)
@click.option(
    "--fetcher-max-size",
    default="4GB",
    show_default=True,
    help="The most one URI may bring, downloaded or unpacked (stops archive bombs).",
)
@click.option(
    "--executor-registration-timeout",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0, min_open=True),
    help="Seconds a new executor has to subscribe before it is killed and its tasks failed.",
)
@click.option(
    "--executor-reregistration-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0, min_open=True),
    help="Seconds executors still running after an agent restart have to subscribe again "
    "before they are killed and their tasks failed.",
)
@click.option(
    "--container-images/--no-container-images",
    default=True,
    show_default=True,
    help="Run tasks that name a container image (needs root: mount and PID namespaces).",
)
@click.option(
    "--image-registry-mirror",
    default=None,
    callback=lambda ctx, param, value: _registry_url(value),
    help="Registry URL used for image names that name no registry (instead of Docker "
    "Hub), e.g. http://registry.local:5000.",
)
@click.option(
    "--image-rootfs-backend",
    type=click.Choice(["auto", "overlay", "copy"]),
    default="auto",
    show_default=True,
    help="How image tasks get their root: overlayfs over the cached image, or a copy "
    "(auto: overlayfs where the kernel allows it).",
)
@click.option(
    "--allowed-host-paths",
    default="",
    metavar="PATHS",
    callback=lambda ctx, param, value: _host_paths(value),
    help="Comma-separated agent paths (and what is below them) image tasks may mount as "
    "volumes; paths in a task's own sandbox need none.",
)
@tls_options
@click.option(
    "--principal",
    envvar=PRINCIPAL_ENV,
    show_envvar=True,
    default=None,
    help="Authenticate to the master as this principal.",
)
@click.option(
    "--secret",
    envvar=SECRET_ENV,
    show_envvar=True,
    default=None,
    help="The principal's secret.",
)
@log_level_option
def agent(
    master: str,
    ip: str,
    hostname: str | None,
    port: int,
    work_dir: str,
    resources: str | None,
    attributes: str,
    isolation: str,
    kill_tasks_on_exit: bool,
    metrics_port: int,
    allow_root_tasks: bool,
    task_env_passthrough: tuple[str, ...],
    executor_environment_variables: str | None,
    gc_delay: float,
    gc_disk_headroom: float,
    disk_watch_interval: float,
    fetcher_cache_dir: str | None,
    fetcher_cache_size: str,
    fetcher_max_size: str,
    executor_registration_timeout: float,
    executor_reregistration_timeout: float,
    container_images: bool,
    image_registry_mirror: str | None,
    image_rootfs_backend: str,
    allowed_host_paths: tuple[str, ...],
    tls_cert: str | None,
    tls_key: str | None,
    tls_ca: str | None,
    tls_require_client_cert: bool,
    principal: str | None,
    secret: str | None,
    log_level: str,
) -> None:
    """Run an agent that offers this machine's resources to the master.

    Example: mesospy agent --master 10.0.0.1:5050 --resources "cpus:4;mem:4096"

    With metrics: mesospy agent --master 10.0.0.1:5050 --metrics-port 9051

    On a secured cluster: mesospy agent --master 10.0.0.1:5050 --tls-cert tls/server.pem
    --tls-key tls/server.key --tls-ca tls/ca.pem --principal agent --secret $AGENT_SECRET
    """
    if resources:
        try:
            Resources.parse(resources)
        except ResourceError as exc:
            raise click.BadParameter(str(exc), param_hint="--resources") from exc
    try:
        attrs = parse_attributes(attributes)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--attributes") from exc
    try:
        credential = Credential.from_values(principal, secret)
    except CredentialsError as exc:
        raise click.BadParameter(str(exc), param_hint="--principal") from exc
    try:
        fixed_env = parse_environment_json(executor_environment_variables or "{}")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--executor-environment-variables") from exc
    sizes = {}
    for flag, text in (("--fetcher-cache-size", fetcher_cache_size),
                       ("--fetcher-max-size", fetcher_max_size)):  # fmt: skip
        try:
            sizes[flag] = parse_size(text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint=flag) from exc
    tls = tls_config(tls_cert, tls_key, tls_ca, tls_require_client_cert)
    setup_logging(log_level)
    config = AgentConfig(
        master=master,
        ip=ip,
        hostname=hostname,
        port=port,
        work_dir=work_dir,
        resources=resources,
        attributes=attrs,
        isolation=isolation,
        kill_tasks_on_exit=kill_tasks_on_exit,
        metrics_port=metrics_port,
        tls=tls,
        credential=credential,
        allow_root_tasks=allow_root_tasks,
        task_env_passthrough=tuple(
            name for names in task_env_passthrough for name in names.split(",") if name.strip()
        ),
        executor_environment_variables=fixed_env,
        gc_delay=gc_delay,
        gc_disk_headroom=gc_disk_headroom,
        disk_watch_interval=disk_watch_interval,
        fetcher_cache_dir=fetcher_cache_dir,
        fetcher_cache_size=sizes["--fetcher-cache-size"],
        fetcher_max_size=sizes["--fetcher-max-size"],
        executor_reregistration_timeout=executor_reregistration_timeout,
        executor_registration_timeout=executor_registration_timeout,
        container_images=container_images,
        image_registry_mirror=image_registry_mirror,
        image_rootfs_backend=image_rootfs_backend,
        allowed_host_paths=allowed_host_paths,
    )
    try:
        run_until_signalled(run_agent(config))
    except (OSError, RuntimeError, ValueError) as exc:
        fail(str(exc))
