"""Marathon's v2 REST API onto the service framework (``serve --marathon-api-port``).

A thin adapter: bodies are read by ``marathon_app.convert`` (Marathon's app definition onto
the native spec, with its refusals), answers written by ``marathon_json``, and every change
goes through the scheduler and the pure transitions of ``deployment``, as the gRPC API's do.
Marathon's status codes and error bodies: 404 ``App '/x' does not exist``, 409 while an app
is locked by a deployment (unless ``?force=true``), 422 ``Object is not valid`` with the
invalid fields' paths. With authentication on, calls need HTTP Basic ``principal:secret``
from the credentials file (401 otherwise); ``/ping`` stays open, as health checks are.
Served by ``mesospy.http`` with ``LIMITS`` (8 MiB bodies, 64 KiB heads) and
``error=marathon_error``, so the server's own refusals are Marathon's JSON errors too.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import posixpath
import re
from collections.abc import AsyncIterator, Callable, Set
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

from frameworks.service import FRAMEWORK_NAME, deployment
from frameworks.service.events import API_REQUEST, Event
from frameworks.service.marathon_app import convert
from frameworks.service.marathon_json import (
    app_json,
    definition,
    deployment_json,
    event_json,
    iso_time,
    native_version,
    task_json,
    version_name,
)
from frameworks.service.marathon_pod import convert_pod, pod_json
from frameworks.service.model import AppRecord, Deployment
from frameworks.service.scheduler import ServiceScheduler
from frameworks.service.spec import AppSpec, SpecError
from mesospy import __version__
from mesospy.http import Limits, Request, Response, sse
from mesospy.security.auth import AuthenticationFailed, Authenticator
from mesospy.security.credentials import PRINCIPAL_KEY, SECRET_KEY

log = logging.getLogger("frameworks.service.marathon")

KEEPALIVE_SECONDS = 15.0  # an empty line on a quiet event stream finds closed clients
# Fields whose presence in an update replaces these others of the current definition.
REPLACES = {"ports": "portDefinitions", "uris": "fetch", "cmd": "args", "args": "cmd"}
_PROBLEM = re.compile(r"^([A-Za-z0-9_.\[\]@-]+): (.*)$")
# What a caller may send (served by ``mesospy.http``): Marathon's own caps.
LIMITS = Limits(max_head=64 * 1024, max_body=8 * 1024 * 1024)


class HttpError(Exception):
    """An answer other than success: its status and Marathon's error body."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"message": message, **extra}
        self.headers: dict[str, str] = {}


def marathon_error(status: int, message: str) -> Response:
    """Marathon's error body, for what the HTTP server refuses itself (``error=``)."""
    return Response.json({"message": message}, status)


def _answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer."""
    return Response.json(body, status, list((headers or {}).items()))


def _flag(r: Request, name: str) -> bool:
    """A boolean query parameter (``?force=true``)."""
    return name in r.query and r.query[name].lower() in ("true", "1", "")


def _values(r: Request, name: str) -> list[str]:
    """A query parameter's values, comma-separated ones split (``?embed=a,b&embed=c``)."""
    given = parse_qs(urlsplit(r.target).query, keep_blank_values=True).get(name, [])
    return [v for item in given for v in item.split(",") if v]


def _body(r: Request) -> Any:
    """The request's JSON body (400 when there is none or it is not JSON)."""
    if not r.body.strip():
        raise HttpError(400, "a JSON body is required")
    try:
        return json.loads(r.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HttpError(400, f"Invalid JSON: {exc}") from exc


def spec_errors(exc: SpecError) -> HttpError:
    """A refused definition as Marathon's 422, each problem under its field's path."""
    details: dict[str, list[str]] = {}
    for problem in exc.problems:
        m = _PROBLEM.match(problem)
        path, message = (m.group(1), m.group(2)) if m else ("", problem)
        path = "/" + re.sub(r"\[(\d+)\]", r"(\1)", path).replace(".", "/") if path else "/"
        details.setdefault(path, []).append(message)
    return HttpError(
        422,
        "Object is not valid",
        details=[{"path": p, "errors": errors} for p, errors in details.items()],
    )


def invalid(path: str, message: str) -> HttpError:
    """Marathon's 422 for one invalid field."""
    return HttpError(422, "Object is not valid", details=[{"path": path, "errors": [message]}])


def not_found(app_id: str) -> HttpError:
    return HttpError(404, f"App '/{app_id.strip('/')}' does not exist")


class MarathonApi:
    """The routes; ``handle`` is the HTTP server's handler."""

    def __init__(
        self,
        scheduler: ServiceScheduler,
        authenticator: Authenticator | None = None,
        leader: Callable[[], str] = lambda: "",
    ) -> None:
        self.s = scheduler
        self.authenticator = authenticator
        self.leader = leader  # this API's host:port, for /v2/info and /v2/leader

    async def handle(self, r: Request) -> Response:
        """The ``mesospy.http`` handler: a refusal answers Marathon's JSON error (a HEAD
        gets the GET's status and headers, and the server leaves the body out)."""
        try:
            answer = self._route(r)
        except HttpError as exc:
            answer = _answer(exc.status, exc.body, exc.headers)
        except Exception:
            log.exception("%s %s failed", r.method, r.path)
            answer = marathon_error(500, "internal error (see the framework's log)")
        return answer

    def _route(self, r: Request) -> Response:
        path = r.path.rstrip("/") or "/"
        if path == "/ping":
            return Response(200, b"pong", "text/plain; charset=utf-8")
        self._authenticate(r)
        if path == "/v2/apps":
            return self._apps(r)
        if path.startswith("/v2/apps/"):
            return self._app_route(r, path[len("/v2/apps/") :])
        if path == "/v2/deployments" or path.startswith("/v2/deployments/"):
            return self._deployments(r, path[len("/v2/deployments/") :].strip("/"))
        if path == "/v2/tasks":
            return self._only(r, "GET", lambda: _answer(200, {"tasks": self._tasks(r)}))
        if path == "/v2/tasks/delete":
            return self._only(r, "POST", lambda: self._delete_tasks(r))
        if path == "/v2/queue":
            return self._only(r, "GET", self._queue)
        if path.startswith("/v2/queue/") and path.endswith("/delay"):
            app_id = path[len("/v2/queue/") : -len("/delay")]
            return self._only(r, "DELETE", lambda: self._reset_delay(app_id))
        if path == "/v2/info":
            return self._only(r, "GET", self._info)
        if path == "/v2/leader":
            return self._only(r, "GET", lambda: _answer(200, {"leader": self.leader()}))
        if path == "/v2/groups" or path.startswith("/v2/groups/"):
            return self._groups(r, path[len("/v2/groups") :].strip("/"))
        if path == "/v2/events":
            return self._only(r, "GET", lambda: self._events(r))
        if path == "/v2/pods" or path.startswith("/v2/pods/"):
            return self._pods(r, path[len("/v2/pods") :].strip("/"))
        raise HttpError(404, f"no such resource: {r.path} (this is Marathon's v2 API)")

    @staticmethod
    def _only(r: Request, method: str, answer: Callable[[], Response]) -> Response:
        if r.method != method and not (method == "GET" and r.method == "HEAD"):
            raise HttpError(405, f"{r.method} is not allowed on {r.path} (use {method})")
        return answer()

    def _authenticate(self, r: Request) -> None:
        if self.authenticator is None:
            return
        metadata: dict[str, str] = {}
        header = r.header("authorization")
        if header:
            scheme, _, token = header.partition(" ")
            try:
                principal, sep, secret = (
                    base64.b64decode(token, validate=True).decode().partition(":")
                )
            except (binascii.Error, UnicodeDecodeError):
                sep = ""
            if scheme.lower() != "basic" or not sep:
                raise _unauthorized("send HTTP Basic credentials: principal:secret")
            metadata = {PRINCIPAL_KEY: principal, SECRET_KEY: secret}
        try:
            self.authenticator.authenticate(f"/marathon{r.path}", metadata, None)
        except AuthenticationFailed as exc:
            if not metadata:
                raise _unauthorized(
                    "this API requires callers to authenticate: send HTTP Basic credentials "
                    "principal:secret (from the framework's --credentials file)"
                ) from exc
            raise _unauthorized(str(exc)) from exc

    # ------------------------------------------------------------------ apps

    def _app(self, app_id: str) -> AppRecord:
        try:
            return self.s.app(app_id)
        except KeyError:
            raise not_found(app_id) from None

    def _json(self, app: AppRecord, embed: Set[str] = frozenset()) -> dict[str, Any]:
        out = app_json(
            app,
            self.s.instances_of(app.id),
            self.s.endpoints(app.id),
            embed_tasks=bool(embed & {"apps.tasks", "app.tasks", "tasks"}),
        )
        if embed & {"apps.deployments", "app.deployments"}:
            out["deployments"] = [{"id": d["id"]} for d in self._deployment_list(app)]
        if embed & {"apps.lastTaskFailure", "app.lastTaskFailure"}:
            failure = self.s.last_failure.get(app.id)
            if failure:
                out["lastTaskFailure"] = {"appId": "/" + app.id, "message": failure}
        return out

    def _apps(self, r: Request) -> Response:
        if r.method in ("GET", "HEAD"):
            embed = set(_values(r, "embed"))
            wanted = r.query.get("id", "").strip("/")
            cmd = r.query.get("cmd", "")
            apps = [
                a
                for _, a in sorted(self.s.apps.items())
                if a.id.startswith(wanted) and cmd in a.spec.cmd and not a.spec.is_pod
            ]
            return _answer(200, {"apps": [self._json(a, embed) for a in apps]})
        if r.method == "POST":
            data = _body(r)
            if not isinstance(data, dict):
                raise invalid("/", "an app definition must be a JSON object")
            spec = self._convert(data)
            if spec.id in self.s.apps and not self.s.apps[spec.id].deleting:
                raise HttpError(409, f"An app with id [/{spec.id}] already exists.")
            app = self._deploy(r, spec)
            return _answer(
                201,
                self._json(app, {"apps.deployments"}),
                {"Location": f"/v2/apps/{app.id}", **_deployment_header(app)},
            )
        if r.method == "PUT":
            return self._update_many(r)
        raise HttpError(405, f"{r.method} is not allowed on /v2/apps (use GET, POST or PUT)")

    def _pods(self, r: Request, pod_id: str) -> Response:
        """``/v2/pods``: POST a pod, GET them or one, DELETE one (onto the native pod)."""
        if not pod_id and r.method == "POST":
            data = _body(r)
            if not isinstance(data, dict):
                raise invalid("/", "a pod definition must be a JSON object")
            try:
                spec = convert_pod(data)
            except SpecError as exc:
                raise spec_errors(exc) from exc
            if spec.id in self.s.apps and not self.s.apps[spec.id].deleting:
                raise HttpError(409, f"Pod '/{spec.id}' already exists")
            app = self._deploy(r, spec)
            body = pod_json(app, self.s.instances_of(app.id))
            return _answer(201, body, {"Location": f"/v2/pods/{app.id}", **_deployment_header(app)})
        if not pod_id and r.method in ("GET", "HEAD"):
            pods = [a for _, a in sorted(self.s.apps.items()) if a.spec.is_pod]
            return _answer(200, [pod_json(a, self.s.instances_of(a.id)) for a in pods])
        if not pod_id:
            raise HttpError(405, f"{r.method} is not allowed on /v2/pods (use GET or POST)")
        found = self.s.apps.get(pod_id.strip("/"))
        if found is None or not found.spec.is_pod:
            raise HttpError(404, f"Pod '/{pod_id.strip('/')}' does not exist")
        if r.method in ("GET", "HEAD"):
            return _answer(200, pod_json(found, self.s.instances_of(found.id)))
        if r.method == "DELETE":
            self._locked(r, found)
            if not found.deleting:
                found = self._change(found.id, deployment.delete)
            return _answer(202, {}, {"Marathon-Deployment-Id": _delete_id(found)})
        raise HttpError(405, f"{r.method} is not allowed on a pod (use GET or DELETE)")

    def _convert(self, data: dict[str, Any]) -> AppSpec:
        try:
            return convert(data).spec
        except SpecError as exc:
            raise spec_errors(exc) from exc

    def _deploy(self, r: Request, spec: AppSpec) -> AppRecord:
        try:
            app = self.s.deploy(spec)
        except deployment.DeploymentError as exc:
            raise HttpError(409, str(exc)) from exc
        self._posted(r, app)
        return app

    def _posted(self, r: Request, app: AppRecord) -> None:
        """Marathon's api_post_event: an app changed through this API."""
        event = Event(API_REQUEST, app.id, self.s.clock(), app, client=r.client, uri=r.path)
        self.s.events.publish(event)

    def _app_route(self, r: Request, rest: str) -> Response:
        rest = rest.strip("/")
        if "/tasks/" in rest:
            app_id, _, task_id = rest.partition("/tasks/")
            if r.method != "DELETE":
                raise HttpError(405, "kill a task with DELETE")
            return self._kill_one(r, app_id, task_id)
        for suffix, route in (
            ("/tasks", self._app_tasks),
            ("/restart", self._restart),
            ("/versions", self._versions),
        ):
            if rest.endswith(suffix):
                return route(r, rest[: -len(suffix)])
        if "/versions/" in rest:
            app_id, _, version = rest.partition("/versions/")
            return self._version(r, app_id, version)
        if r.method in ("GET", "HEAD"):
            embed = {e.replace("app.", "apps.") for e in _values(r, "embed")}
            return _answer(200, {"app": self._json(self._app(rest), embed)})
        if r.method in ("PUT", "PATCH"):
            return self._update(r, rest)
        if r.method == "DELETE":
            return self._delete(r, rest)
        raise HttpError(405, f"{r.method} is not allowed on an app")

    def _locked(self, r: Request, app: AppRecord) -> None:
        d = app.deployment
        if d is not None and d.active and not _flag(r, "force"):
            raise HttpError(
                409,
                "App is locked by one or more deployments. Override with the option "
                f"'?force=true'. View details at '/v2/deployments/{d.id}'.",
                deployments=[{"id": d.id}],
            )

    def _update(self, r: Request, app_id: str) -> Response:
        data = _body(r)
        if not isinstance(data, dict):
            raise invalid("/", "an app update must be a JSON object")
        status, apply = self._plan_update(r, app_id.strip("/"), data)
        if apply is None:
            return _answer(200, _change_body(self._app(app_id), changed=False))
        changed = apply()
        return _answer(status, _change_body(changed), _deployment_header(changed))

    def _update_many(self, r: Request) -> Response:
        """``PUT /v2/apps``: several updates, all checked before any is made."""
        data = _body(r)
        if not isinstance(data, list) or not all(isinstance(d, dict) and "id" in d for d in data):
            raise invalid("/", "a list of app updates, each with its id")
        plans = [self._plan_update(r, str(d["id"]).strip("/"), d) for d in data]
        changed = [apply() for _, apply in plans if apply is not None]
        first = next((a.deployment for a in changed if a.deployment is not None), None)
        body = {"version": iso_time(self.s.clock()), "deploymentId": first.id if first else None}
        return _answer(200, body)

    def _plan_update(
        self, r: Request, app_id: str, data: dict[str, Any]
    ) -> tuple[int, Callable[[], AppRecord] | None]:
        """Check an update (PUT/PATCH): its status and what makes it (None: no change).
        Raises the answer when it is refused."""
        given = str(data.get("id", "/" + app_id)).strip("/")
        if given != app_id:
            raise invalid("/id", f"the id in the body ({given!r}) is not the app's ({app_id!r})")
        app = self.s.apps.get(app_id)
        if app is None or app.deleting:
            created = self._convert({**data, "id": "/" + app_id})
            return 201, lambda: self._deploy(r, created)
        if set(data) - {"id"} == {"version"}:
            return 200, self._plan_rollback(r, app, str(data["version"]))
        partial_update = r.method == "PATCH" or r.query.get("partialUpdate", "true") != "false"
        base = definition(app.spec) if partial_update else {}
        for key, other in REPLACES.items():
            if key in data:
                base.pop(other, None)
        spec = _keep_native(app.spec, self._convert({**base, **data, "id": "/" + app_id}), data)
        if spec.to_dict() == app.spec.to_dict():
            return 200, None
        self._locked(r, app)
        if replace(spec, instances=app.spec.instances).to_dict() != app.spec.to_dict():
            return 200, lambda: self._deploy(r, spec)

        def scale() -> AppRecord:
            changed = self._change(app.id, deployment.scaling(spec.instances))
            self._posted(r, changed)
            return changed

        return 200, scale

    def _plan_rollback(
        self, r: Request, app: AppRecord, version: str
    ) -> Callable[[], AppRecord] | None:
        native = native_version(app, version)
        if native is None:
            raise HttpError(404, f"Version '{version}' of app '/{app.id}' does not exist")
        if native == app.current:
            return None
        self._locked(r, app)
        return lambda: self._change(app.id, deployment.rolling_back(native))

    def _change(self, app_id: str, action: Callable[[AppRecord, float], AppRecord]) -> AppRecord:
        try:
            return self.s.change(app_id, action)
        except KeyError:
            raise not_found(app_id) from None
        except deployment.DeploymentError as exc:
            raise HttpError(409, str(exc)) from exc

    def _delete(self, r: Request, app_id: str) -> Response:
        app = self._app(app_id)
        self._locked(r, app)
        if app.deleting:
            return _answer(
                200, {"version": iso_time(self.s.clock()), "deploymentId": _delete_id(app)}
            )
        app = self._change(app.id, deployment.delete)
        return _answer(200, {"version": iso_time(self.s.clock()), "deploymentId": _delete_id(app)})

    def _restart(self, r: Request, app_id: str) -> Response:
        if r.method != "POST":
            raise HttpError(405, "restart an app with POST")
        app = self._app(app_id)
        self._locked(r, app)
        changed = self._change(app.id, deployment.restart)
        return _answer(200, _change_body(changed), _deployment_header(changed))

    def _versions(self, r: Request, app_id: str) -> Response:
        if r.method not in ("GET", "HEAD"):
            raise HttpError(405, "list an app's versions with GET")
        app = self._app(app_id)
        names = [version_name(app, v) for v in reversed(list(app.versions))]
        return _answer(200, {"versions": names})

    def _version(self, r: Request, app_id: str, version: str) -> Response:
        if r.method not in ("GET", "HEAD"):
            raise HttpError(405, "read an app version with GET")
        app = self._app(app_id)
        native = native_version(app, version)
        if native is None:
            raise HttpError(404, f"Version '{version}' of app '/{app.id}' does not exist")
        out = definition(app.versions[native])
        out["version"] = version_name(app, native)
        return _answer(200, out)

    # ------------------------------------------------------------------ tasks

    def _app_tasks(self, r: Request, app_id: str) -> Response:
        app = self._app(app_id)
        if r.method in ("GET", "HEAD"):
            return _answer(200, {"tasks": [task_json(app, i) for i in self.s.instances_of(app.id)]})
        if r.method == "DELETE":
            ids = [i.task_id for i in self.s.instances_of(app.id) if not i.killing]
            host = r.query.get("host", "")
            if host:
                ids = [t for t in ids if self.s.instances[t].hostname == host]
            return self._kill(r, ids)
        raise HttpError(405, "list an app's tasks with GET, kill them with DELETE")

    def _tasks(self, r: Request) -> list[dict[str, Any]]:
        wanted = {s.lower() for s in _values(r, "status")}
        out = []
        for _, app in sorted(self.s.apps.items()):
            for i in self.s.instances_of(app.id):
                task = task_json(app, i)
                if not wanted or task["state"].removeprefix("TASK_").lower() in wanted:
                    out.append(task)
        return out

    def _kill_one(self, r: Request, app_id: str, task_id: str) -> Response:
        app = self._app(app_id)
        i = self.s.instances.get(task_id)
        if i is None or i.app_id != app.id:
            raise HttpError(404, f"Task '{task_id}' of app '/{app.id}' does not exist")
        answer = self._kill(r, [task_id])
        if _flag(r, "scale"):
            return answer
        return _answer(200, {"task": task_json(app, i.with_(killing=True))})

    def _delete_tasks(self, r: Request) -> Response:
        data = _body(r)
        ids = data.get("ids") if isinstance(data, dict) else None
        if not isinstance(ids, list) or not all(isinstance(t, str) for t in ids):
            raise invalid("/ids", "must be a list of task ids")
        unknown = [t for t in ids if t not in self.s.instances]
        if unknown:
            raise HttpError(404, f"Task '{unknown[0]}' does not exist (nothing was killed)")
        return self._kill(r, ids)

    def _kill(self, r: Request, ids: list[str]) -> Response:
        """Kill these instances (all checked first: a refusal kills none)."""
        scale = _flag(r, "scale")
        targets = [
            self.s.instances[t] for t in dict.fromkeys(ids) if not self.s.instances[t].killing
        ]
        if scale:
            for app_id in {i.app_id for i in targets}:
                self._locked(r, self._app(app_id))
        for i in targets:
            try:
                self.s.kill_instance(i.task_id, scale=scale)
            except KeyError:
                raise HttpError(404, f"Task '{i.task_id}' does not exist") from None
            except deployment.DeploymentError as exc:
                raise HttpError(409, str(exc)) from exc
        if scale:
            apps = [self.s.apps[a] for a in {i.app_id for i in targets} if a in self.s.apps]
            d = next((a.deployment for a in apps if a.deployment is not None), None)
            body: dict[str, Any] = {
                "version": iso_time(self.s.clock()),
                "deploymentId": d.id if d else None,
            }
            return _answer(200, body)
        return _answer(
            200,
            {"tasks": [task_json(self.s.apps[i.app_id], i.with_(killing=True)) for i in targets]},
        )

    # ------------------------------------------------------------------ deployments

    def _deployment_list(self, app: AppRecord) -> list[dict[str, Any]]:
        out = []
        if app.deployment is not None and app.deployment.active:
            out.append(deployment_json(app, app.deployment))
        if app.deleting:
            out.append(_delete_json(app))
        return out

    def _deployments(self, r: Request, deployment_id: str) -> Response:
        if not deployment_id:
            if r.method not in ("GET", "HEAD"):
                raise HttpError(405, "list deployments with GET")
            return _answer(
                200, [d for _, a in sorted(self.s.apps.items()) for d in self._deployment_list(a)]
            )
        if r.method != "DELETE":
            raise HttpError(405, "cancel a deployment with DELETE")
        app, d = self._find_deployment(deployment_id)
        if _flag(r, "force"):
            self._change(app.id, deployment.abandon)
            return _answer(202, {})
        if not d.from_version:
            # Rolling back an app's first deployment: the app goes, as in Marathon.
            self._change(app.id, deployment.delete)
            return _answer(
                200, {"version": iso_time(self.s.clock()), "deploymentId": _delete_id(app)}
            )
        changed = self._change(app.id, deployment.cancel)
        return _answer(200, _change_body(changed))

    def _find_deployment(self, deployment_id: str) -> tuple[AppRecord, Deployment]:
        for app in self.s.apps.values():
            d = app.deployment
            if d is not None and d.active and d.id == deployment_id:
                return app, d
            if app.deleting and _delete_id(app) == deployment_id:
                raise HttpError(409, f"the deletion of app '/{app.id}' cannot be cancelled")
        raise HttpError(404, f"DeploymentPlan {deployment_id} does not exist")

    # ------------------------------------------------------------------ queue, info

    def _queue(self) -> Response:
        now = self.s.clock()
        out = []
        for _, app in sorted(self.s.apps.items()):
            count = self.s.pending.get(app.id, 0)
            if count <= 0 and app.delay_until <= now:
                continue
            out.append(
                {
                    "app": self._json(app),
                    "count": count,
                    "delay": {"timeLeftSeconds": max(0.0, app.delay_until - now), "overdue": False},
                    "since": version_name(app, app.current),
                    "processedOffersSummary": {
                        "unplacedReason": self.s.unplaced_reason(app.id) or "",
                    },
                }
            )
        return _answer(200, {"queue": out})

    def _reset_delay(self, app_id: str) -> Response:
        app = self._app(app_id)
        self._change(app.id, lambda a, now: deployment.instance_healthy(a))
        return Response(204)

    def _info(self) -> Response:
        leader = self.leader()
        host, _, port = leader.rpartition(":")
        return _answer(
            200,
            {
                "name": FRAMEWORK_NAME,
                "version": __version__,
                "buildref": "mesospy",
                "elected": True,
                "leader": leader,
                "frameworkId": self.s.driver.framework_id if self.s.driver else "",
                "marathon_config": {
                    "master": self.s.master,
                    "framework_name": FRAMEWORK_NAME,
                    "checkpoint": True,
                    "hostname": host,
                },
                "http_config": {"http_port": int(port) if port.isdigit() else 0},
                "zookeeper_config": {},
                "event_subscriber": None,
            },
        )

    # ------------------------------------------------------------------ groups

    def _groups(self, r: Request, group_id: str) -> Response:
        if r.method in ("GET", "HEAD"):
            group = _group(group_id, [self._json(a) for _, a in sorted(self.s.apps.items())])
            if group is None:
                raise HttpError(404, f"Group '/{group_id}' does not exist")
            return _answer(200, group)
        if r.method in ("POST", "PUT"):
            return self._deploy_group(r, group_id)
        if r.method == "DELETE":
            return self._delete_group(r, group_id)
        raise HttpError(405, f"{r.method} is not allowed on groups (GET, POST, PUT, DELETE)")

    def _delete_group(self, r: Request, group_id: str) -> Response:
        """Delete every app under the group (all checked first: a locked one stops all)."""
        prefix = group_id.strip("/") + "/" if group_id.strip("/") else ""
        apps = [a for a in self.s.apps.values() if a.id.startswith(prefix) and not a.deleting]
        if not apps:
            raise HttpError(404, f"Group '/{group_id.strip('/')}' does not exist")
        for app in apps:
            self._locked(r, app)
        for app in apps:
            self._change(app.id, deployment.delete)
        return _answer(
            200, {"version": iso_time(self.s.clock()), "deploymentId": _delete_id(apps[0])}
        )

    def _deploy_group(self, r: Request, group_id: str) -> Response:
        data = _body(r)
        if not isinstance(data, dict):
            raise invalid("/", "a group must be a JSON object")
        root = str(data.get("id", "/" + group_id)).strip("/") or group_id
        definitions = list(_group_apps(root, data))
        specs: list[AppSpec] = []
        problems: list[str] = []
        for index, app_data in definitions:
            try:
                specs.append(convert(app_data).spec)
            except SpecError as exc:
                problems += [f"apps[{index}].{p}" for p in exc.problems]
        if problems:
            raise spec_errors(SpecError(problems))
        for spec in specs:
            current = self.s.apps.get(spec.id)
            if current is not None and not _flag(r, "force"):
                self._locked(r, current)
        deployed: list[AppRecord] = []
        for spec in _dependency_order(specs):
            deployed.append(self._deploy(r, spec))
        first = next((a.deployment for a in deployed if a.deployment is not None), None)
        body = {"version": iso_time(self.s.clock()), "deploymentId": first.id if first else None}
        return _answer(201 if r.method == "POST" else 200, body)

    # ------------------------------------------------------------------ events

    def _events(self, r: Request) -> Response:
        """Server-sent events until the client goes (then the subscription is dropped)."""
        wanted = set(_values(r, "event_type"))
        queue = self.s.events.listen()

        attached = {
            "eventType": "event_stream_attached",
            "remoteAddress": r.client,
            "timestamp": iso_time(self.s.clock()),
        }

        async def events() -> AsyncIterator[str]:
            yield sse("event_stream_attached", json.dumps(attached))
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield "\n"
                    continue
                marathon = event_json(event)
                if marathon is not None and (not wanted or marathon[0] in wanted):
                    yield sse(marathon[0], json.dumps(marathon[1]))

        async def unsubscribe() -> None:
            self.s.events.forget(queue)

        answer = Response.events(events(), [("Cache-Control", "no-cache")])
        answer.on_close = unsubscribe
        return answer


def _unauthorized(message: str) -> HttpError:
    error = HttpError(401, message)
    error.headers["WWW-Authenticate"] = 'Basic realm="mesospy-service"'
    return error


def _change_body(app: AppRecord, changed: bool = True) -> dict[str, Any]:
    d = app.deployment if changed else None
    return {"version": version_name(app, app.current), "deploymentId": d.id if d else None}


def _deployment_header(app: AppRecord) -> dict[str, str]:
    d = app.deployment
    return {"Marathon-Deployment-Id": d.id} if d is not None and d.active else {}


def _delete_id(app: AppRecord) -> str:
    """The id under which an app being deleted shows in /v2/deployments."""
    return "delete-" + app.id.replace("/", "_")


def _delete_json(app: AppRecord) -> dict[str, Any]:
    action = {"action": "StopApplication", "app": "/" + app.id}
    return {
        "id": _delete_id(app),
        "version": version_name(app, app.current),
        "affectedApps": ["/" + app.id],
        "affectedPods": [],
        "steps": [{"actions": [action]}],
        "currentActions": [{**action, "readinessCheckResults": []}],
        "currentStep": 1,
        "totalSteps": 1,
    }


def _keep_native(old: AppSpec, new: AppSpec, data: dict[str, Any]) -> AppSpec:
    """Settings Marathon's definition cannot say are kept from the app's current spec."""
    kept = replace(
        new,
        vip=old.vip,
        max_restarts=old.max_restarts,
        max_unhealthy_share=old.max_unhealthy_share,
        restart_nonce=old.restart_nonce,
        marathon_env=old.marathon_env,
    )
    if "upgradeStrategy" not in data:
        kept = replace(kept, upgrade=old.upgrade)
    return kept


def _group_apps(group_id: str, data: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """The app definitions of a group and its subgroups, ids made absolute."""
    out: list[tuple[int, dict[str, Any]]] = []

    def walk(gid: str, group: dict[str, Any]) -> None:
        for app in group.get("apps") or []:
            if isinstance(app, dict):
                app_id = str(app.get("id", ""))
                if not app_id.startswith("/"):
                    app_id = posixpath.join("/" + gid, app_id)
                out.append((len(out), {**app, "id": app_id}))
        for sub in group.get("groups") or []:
            if isinstance(sub, dict):
                sid = str(sub.get("id", ""))
                sid = sid.strip("/") if sid.startswith("/") else posixpath.join(gid, sid).strip("/")
                walk(sid, sub)

    walk(group_id, data)
    return out


def _dependency_order(specs: list[AppSpec]) -> list[AppSpec]:
    """Apps before those depending on them (a cycle is left to the scheduler to refuse)."""
    by_id = {s.id: s for s in specs}
    done: list[AppSpec] = []
    seen: set[str] = set()

    def visit(spec: AppSpec, path: frozenset[str]) -> None:
        if spec.id in seen or spec.id in path:
            return
        for dep in spec.dependencies:
            if dep in by_id:
                visit(by_id[dep], path | {spec.id})
        seen.add(spec.id)
        done.append(spec)

    for spec in specs:
        visit(spec, frozenset())
    return done


def _group(group_id: str, apps: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The group ``group_id`` of these apps (their ids' folders), nested; None if empty."""
    prefix = "/" + group_id.strip("/") if group_id.strip("/") else ""
    mine = [a for a in apps if a["id"].startswith(prefix + "/")]
    if prefix and not mine:
        return None
    direct = [a for a in mine if posixpath.dirname(a["id"]) == (prefix or "/")]
    children = sorted(
        {prefix + "/" + a["id"][len(prefix) + 1 :].split("/")[0] for a in mine if a not in direct}
    )
    versions = [a["version"] for a in mine]
    return {
        "id": prefix or "/",
        "apps": direct,
        "groups": [g for c in children if (g := _group(c, mine)) is not None],
        "pods": [],
        "dependencies": [],
        "version": max(versions) if versions else iso_time(0),
    }
