"""The dashboard's routes for the batch jobs and service apps pages.

Each route is one call of the framework's API (``frameworks/batch/v1``,
``frameworks/service/v1``), made through ``FrameworkApis`` as the session's caller; the
answer is the call's protobuf answer as JSON, as for the operator routes.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.message import Message

from frameworks.batch.v1 import batch_pb2 as bpb
from frameworks.batch.v1 import batch_pb2_grpc
from frameworks.service.v1 import service_pb2 as spb
from frameworks.service.v1 import service_pb2_grpc
from mesospy.http import Request, Response
from mesospy.webui.encode import to_json
from mesospy.webui.framework_apis import FrameworkApis
from mesospy.webui.operator import OperatorDoor, Refused
from mesospy.webui.sessions import Session

BATCH, SERVICE = "mesospy-batch", "mesospy-service"
MAX_INSTANCES = 10_000


class BadField(ValueError):
    """A form field is missing or malformed (the message names it)."""


class FrameworkRoutes:
    """GET and POST routes by path, for ``Dashboard`` to serve beside its own."""

    def __init__(self, apis: FrameworkApis, door: OperatorDoor) -> None:
        self.apis = apis
        self.door = door
        self.get = {
            "/api/batch/jobs": self._jobs,
            "/api/batch/runs": self._runs,
            "/api/service/apps": self._apps,
            "/api/service/versions": self._versions,
        }
        self.post = {
            "/api/batch/run": self._run,
            "/api/batch/suspend": self._suspend,
            "/api/service/rollback": self._rollback,
            "/api/service/scale": self._scale,
        }

    async def _call(
        self, session: Session, name: str, stub: Any, method: str, request: Message
    ) -> Response:
        if session.principal is None and self.door.login_required:
            raise Refused(
                grpc.StatusCode.UNAUTHENTICATED,
                "this master requires operators to authenticate: log in with a principal "
                "and secret",
            )
        answer = await self.apis.call(
            name, stub, method, request, session.principal, session.secret
        )
        return Response.json(to_json(answer))

    # ---------------------------------------------------------------- batch

    async def _batch(self, session: Session, method: str, request: Message) -> Response:
        return await self._call(session, BATCH, batch_pb2_grpc.BatchStub, method, request)

    async def _jobs(self, request: Request, session: Session) -> Response:
        return await self._batch(session, "ListJobs", bpb.ListJobsRequest())

    async def _runs(self, request: Request, session: Session) -> Response:
        name = _required(request.query, "job")
        return await self._batch(session, "ListRuns", bpb.ListRunsRequest(name=name))

    async def _run(self, request: Request, session: Session) -> Response:
        name = _required(request.form(), "job")
        return await self._batch(session, "RunJob", bpb.RunJobRequest(name=name))

    async def _suspend(self, request: Request, session: Session) -> Response:
        form = request.form()
        name = _required(form, "job")
        flag = form.get("suspended", "")
        if flag not in ("true", "false"):
            raise BadField(f"suspended must be true or false, not {flag!r}")
        call = bpb.SetSuspendedRequest(name=name, suspended=flag == "true")
        return await self._batch(session, "SetSuspended", call)

    # ---------------------------------------------------------------- service

    async def _service(self, session: Session, method: str, request: Message) -> Response:
        stub = service_pb2_grpc.AppServiceStub
        return await self._call(session, SERVICE, stub, method, request)

    async def _apps(self, request: Request, session: Session) -> Response:
        return await self._service(session, "ListApps", spb.ListAppsRequest())

    async def _versions(self, request: Request, session: Session) -> Response:
        app_id = _required(request.query, "app_id")
        return await self._service(session, "ListVersions", spb.AppRequest(app_id=app_id))

    async def _rollback(self, request: Request, session: Session) -> Response:
        form = request.form()
        call = spb.RollbackRequest(
            app_id=_required(form, "app_id"), version=form.get("version", "")
        )
        return await self._service(session, "Rollback", call)

    async def _scale(self, request: Request, session: Session) -> Response:
        form = request.form()
        app_id = _required(form, "app_id")
        text = form.get("instances", "")
        try:
            instances = int(text)
        except ValueError:
            raise BadField(f"instances must be a whole number, not {text!r}") from None
        if not 0 <= instances <= MAX_INSTANCES:
            raise BadField(f"instances must be between 0 and {MAX_INSTANCES}, not {instances}")
        call = spb.ScaleRequest(app_id=app_id, instances=instances)
        return await self._service(session, "Scale", call)


def _required(fields: dict[str, str], name: str) -> str:
    value = fields.get(name, "")
    if not value:
        raise BadField(f"give {name}")
    return value
