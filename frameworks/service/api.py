"""The framework's gRPC API (``AppService``), served by ``mesospy service serve``.

Every call validates its input: a bad spec is INVALID_ARGUMENT with every problem listed
(and nothing changes), an unknown app NOT_FOUND, a request that does not fit the app's
state (nothing to roll back to, already paused, ...) FAILED_PRECONDITION.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc

from frameworks.service import deployment
from frameworks.service.marathon_app import load_app_text
from frameworks.service.model import AppRecord, Deployment, Instance, container_task_id
from frameworks.service.resident import Slot
from frameworks.service.scheduler import ServiceScheduler
from frameworks.service.spec import SpecError
from frameworks.service.v1 import service_pb2 as spb
from frameworks.service.v1 import service_pb2_grpc

Context = grpc.aio.ServicerContext[object, object]


def deployment_pb(d: Deployment | None) -> spb.Deployment:
    if d is None:
        return spb.Deployment()
    return spb.Deployment(
        id=d.id,
        app_id=d.app_id,
        kind=d.kind,
        from_version=d.from_version,
        to_version=d.to_version,
        status=d.status,
        message=d.message,
        started_at=d.started_at,
        deadline=d.deadline,
        finished_at=d.finished_at,
        failures=d.failures,
    )


def _health(checked: bool, healthy: bool | None) -> str:
    if not checked:
        return "none"
    return {True: "healthy", False: "unhealthy", None: "unknown"}[healthy]


def instance_pb(i: Instance, has_check: bool) -> spb.Instance:
    health = _health(has_check, i.healthy)
    containers = [
        spb.InstanceContainer(
            name=c.name,
            task_id=container_task_id(i.task_id, c.name),
            state=c.state,
            health=_health(c.checked, c.healthy),
            sidecar=c.sidecar,
            message=c.message,
        )
        for c in i.containers
    ]
    return spb.Instance(
        containers=containers,
        task_id=i.task_id,
        app_id=i.app_id,
        version=i.version,
        agent_id=i.agent_id,
        hostname=i.hostname,
        state="inactive" if i.inactive else i.state,
        health=health,
        ready=i.ready,
        ports=list(i.ports),
        launched_at=i.launched_at,
        killing=i.killing,
        kill_reason=i.kill_reason,
    )


def resident_pb(slot: Slot, running: bool) -> spb.ResidentInstance:
    return spb.ResidentInstance(
        id=slot.id,
        agent_id=slot.agent_id,
        hostname=slot.hostname,
        state=slot.state,
        task_id=slot.task_id if running else "",
        volumes=[
            spb.ResidentVolume(
                persistence_id=v.persistence_id, container_path=v.container_path, size=v.size
            )
            for v in slot.volumes
        ],
    )


class AppService(service_pb2_grpc.AppServiceServicer):
    """Serves the API from the scheduler's state; changes go through its pure transitions."""

    def __init__(self, scheduler: ServiceScheduler) -> None:
        self.s = scheduler

    def app_pb(self, app: AppRecord) -> spb.App:
        instances = self.s.instances_of(app.id)
        serving = self.s.endpoints(app.id)
        vip = app.spec.vip
        return spb.App(
            id=app.id,
            version=app.current,
            spec_json=app.spec.to_json(),
            instances=0 if app.deleting else app.spec.instances,
            running=sum(1 for i in instances if i.state == "running" and not i.killing),
            healthy=len(serving),
            deployment=deployment_pb(app.deployment),
            instance_list=[
                instance_pb(i, app.versions.get(i.version, app.spec).checked) for i in instances
            ],
            vip=f"{vip.host}:{vip.port}" if vip else "",
            last_healthy_version=app.last_healthy,
            notes=list(self.s.notes.get(app.id, ())),
            deleting=app.deleting,
            residents=[
                resident_pb(slot, slot.task_id in self.s.instances)
                for slot in sorted(self.s.slots.values(), key=lambda s: s.created_at)
                if slot.app_id == app.id
            ],
        )

    async def _change(
        self, context: Context, app_id: str, action: Callable[[AppRecord, float], AppRecord]
    ) -> AppRecord:
        try:
            return self.s.change(app_id, action)
        except KeyError as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc.args[0]))
        except deployment.DeploymentError as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        raise AssertionError("unreachable")

    def _deployed(self, app: AppRecord, changed: bool = True) -> spb.DeployResponse:
        d = app.deployment if changed else None
        return spb.DeployResponse(app=self.app_pb(app), deployment=deployment_pb(d))

    async def Deploy(self, request: spb.DeployRequest, context: Context) -> spb.DeployResponse:
        try:
            spec = load_app_text(request.spec_json).spec  # native or Marathon's
        except SpecError as exc:
            problems = "; ".join(exc.problems)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"invalid app spec: {problems}")
        if request.dry_run:
            return spb.DeployResponse()
        before = self.s.apps.get(spec.id)
        try:
            app = self.s.deploy(spec)
        except deployment.DeploymentError as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        return self._deployed(app, changed=app is not before)

    async def ListApps(
        self, request: spb.ListAppsRequest, context: Context
    ) -> spb.ListAppsResponse:
        return spb.ListAppsResponse(apps=[self.app_pb(a) for _, a in sorted(self.s.apps.items())])

    async def GetApp(self, request: spb.AppRequest, context: Context) -> spb.App:
        return self.app_pb(await self._get(request.app_id, context))

    async def _get(self, app_id: str, context: Context) -> AppRecord:
        if not app_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "app_id is required")
        try:
            return self.s.app(app_id)
        except KeyError as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc.args[0]))
        raise AssertionError("unreachable")

    async def Scale(self, request: spb.ScaleRequest, context: Context) -> spb.DeployResponse:
        action = deployment.scaling(request.instances)
        return self._deployed(await self._change(context, request.app_id, action))

    async def Restart(self, request: spb.AppRequest, context: Context) -> spb.DeployResponse:
        return self._deployed(await self._change(context, request.app_id, deployment.restart))

    async def Rollback(self, request: spb.RollbackRequest, context: Context) -> spb.DeployResponse:
        app = await self._get(request.app_id, context)
        version = request.version or _previous(app)
        if not version:
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"app {app.id!r} has no earlier version to roll back to",
            )
        action = deployment.rolling_back(version)
        return self._deployed(await self._change(context, request.app_id, action))

    async def ListVersions(
        self, request: spb.AppRequest, context: Context
    ) -> spb.ListVersionsResponse:
        app = await self._get(request.app_id, context)
        return spb.ListVersionsResponse(
            versions=[
                spb.AppVersion(
                    version=v,
                    created_at=app.version_times.get(v, 0.0),
                    spec_json=spec.to_json(),
                    current=v == app.current,
                    last_healthy=v == app.last_healthy,
                    failed=v in app.failed_versions,
                )
                for v, spec in app.versions.items()
            ]
        )

    async def ListDeployments(
        self, request: spb.ListDeploymentsRequest, context: Context
    ) -> spb.ListDeploymentsResponse:
        apps = (
            [await self._get(request.app_id, context)]
            if request.app_id
            else [a for _, a in sorted(self.s.apps.items())]
        )
        out = []
        for app in apps:
            if request.history:
                out += [deployment_pb(d) for d in app.history]
            if app.deployment is not None:
                out.append(deployment_pb(app.deployment))
        return spb.ListDeploymentsResponse(deployments=out)

    async def PauseDeployment(self, request: spb.AppRequest, context: Context) -> spb.Deployment:
        app = await self._change(context, request.app_id, deployment.pause)
        return deployment_pb(app.deployment)

    async def ResumeDeployment(self, request: spb.AppRequest, context: Context) -> spb.Deployment:
        app = await self._change(context, request.app_id, deployment.resume)
        return deployment_pb(app.deployment)

    async def CancelDeployment(
        self, request: spb.AppRequest, context: Context
    ) -> spb.DeployResponse:
        return self._deployed(await self._change(context, request.app_id, deployment.cancel))

    async def GetEndpoints(
        self, request: spb.AppRequest, context: Context
    ) -> spb.GetEndpointsResponse:
        app = await self._get(request.app_id, context)
        vip = app.spec.vip
        return spb.GetEndpointsResponse(
            vip=f"{vip.host}:{vip.port}" if vip else "",
            endpoints=[
                spb.Endpoint(
                    host=i.hostname,
                    port=i.ports[0],
                    task_id=i.task_id,
                    version=i.version,
                    active_connections=self.s.connections(i.hostname, i.ports[0]),
                )
                for i in self.s.endpoints(app.id)
            ],
        )

    async def Delete(self, request: spb.AppRequest, context: Context) -> spb.DeleteResponse:
        return spb.DeleteResponse(
            app=self.app_pb(await self._change(context, request.app_id, deployment.delete))
        )


def _previous(app: AppRecord) -> str:
    """Where a bare ``rollback`` goes: the last healthy version, else the one before."""
    if app.last_healthy and app.last_healthy != app.current:
        return app.last_healthy
    versions = list(app.versions)
    index = versions.index(app.current)
    return versions[index - 1] if index > 0 else ""
