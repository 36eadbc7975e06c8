"""The dashboard's routes: pages, a JSON API over the operator calls, and live events.

Every ``/api`` route is one operator call made through ``OperatorDoor`` (so the guard and
the handlers are the gRPC API's own); the answer is the call's protobuf answer as JSON.
``/api/events`` streams the operator event stream (Subscribe) as server-sent events.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from google.protobuf.message import Message

from mesospy.http import Headers, Request, Response
from mesospy.master.master import Master
from mesospy.security.acl import ACTIONS
from mesospy.v1 import agent_pb2 as apb
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import operator_pb2 as opb
from mesospy.webui.encode import to_json
from mesospy.webui.feed import FULL_TASKS, KEEPALIVE, Feed
from mesospy.webui.framework_apis import FrameworkApis
from mesospy.webui.framework_routes import BadField, FrameworkRoutes
from mesospy.webui.history import History
from mesospy.webui.operator import OperatorDoor, Refused
from mesospy.webui.sessions import COOKIE, CSRF_HEADER, LoginThrottle, Session, Sessions

log = logging.getLogger(__name__)

STATIC = resources.files("mesospy.webui") / "static"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
PAGES = frozenset({"/", "/index.html"})
MAX_READ = 1024 * 1024

# On every answer of the dashboard (pages, API, events).
HEADERS: Headers = [
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    (
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'",
    ),
    ("Cache-Control", "no-store"),
]

Route = Callable[[Request, Session], Awaitable[Response]]


def json_error(status: int, message: str) -> Response:
    """The dashboard's refusals: JSON naming the reason (the pages show it)."""
    return Response.json({"error": message, "status": status}, status)


def _read_static(name: str) -> bytes | None:
    if not name or "/" in name or name.startswith("."):
        return None
    item = STATIC / name
    return item.read_bytes() if item.is_file() else None


class Dashboard:
    """Answers the dashboard's HTTP requests for one master."""

    def __init__(self, master: Master, door: OperatorDoor, sessions: Sessions) -> None:
        self.m = master
        self.door = door
        self.sessions = sessions
        self.feed = Feed(master)
        self.history = History(master)
        self.logins = LoginThrottle()
        self._get: dict[str, Route] = {
            "/api/session": self._session,
            "/api/state": self._state,
            "/api/events": self._events,
            "/api/tasks": self._tasks,
            "/api/roles": self._roles,
            "/api/master": self._master,
            "/api/permissions": self._permissions,
            "/api/files": self._files,
            "/api/file": self._file,
            "/api/history": self._history,
        }
        self._post: dict[str, Route] = {
            "/api/login": self._login,
            "/api/logout": self._logout,
            "/api/agents/drain": self._drain,
            "/api/agents/deactivate": self._deactivate,
            "/api/agents/reactivate": self._reactivate,
            "/api/frameworks/teardown": self._teardown,
            "/api/weights": self._weights,
        }
        # Jobs and apps: calls of the batch and service frameworks' own APIs.
        self.frameworks = FrameworkApis(master)
        routes = FrameworkRoutes(self.frameworks, door)
        self._get.update(routes.get)
        self._post.update(routes.post)

    # ---------------------------------------------------------------- dispatch

    async def handle(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD", "POST"):
            return json_error(405, f"method {request.method} is not allowed")
        if not request.path.startswith("/api/"):
            return await self._static(request)
        if not self.m.leading:
            return await self._not_leading(request)
        routes = self._post if request.method == "POST" else self._get
        route = routes.get(request.path)
        if route is None:
            other = self._get if request.method == "POST" else self._post
            if request.path in other:
                return json_error(
                    405, f"{request.path} takes {'GET' if other is self._get else 'POST'}"
                )
            return json_error(404, f"no such API path {request.path}")
        session = self.sessions.get(request.cookies().get(COOKIE))
        fresh = session is None
        if session is None:
            # Only the page's first call keeps a session: API calls without a cookie
            # (scripts, curl) get a passing one, and cannot crowd out the browsers' ones.
            keep = request.path == "/api/session"
            session = self.sessions.new() if keep else self.sessions.passing()
        if (
            session.principal is None
            and request.certificate_name is not None
            and self.door.trusts_certificates
        ):
            session.principal, session.via = request.certificate_name, "certificate"
        if request.method == "POST":
            problem = self._forged(request, session, fresh)
            if problem:
                return json_error(403, problem)
        try:
            answer = await route(request, session)
        except Refused as exc:
            answer = json_error(exc.http_status, exc.message)
        except (BadInput, BadField) as exc:
            answer = json_error(400, str(exc))
        if fresh and request.path == "/api/session":
            answer.headers.append(("Set-Cookie", self.sessions.cookie(session)))
        return answer

    def _forged(self, request: Request, session: Session, fresh: bool) -> str | None:
        """Why a POST may not be the dashboard's own (a cross-site request), or None."""
        origin = request.headers.get("origin")
        host = request.headers.get("host", "")
        if origin is not None and origin.split("://", 1)[-1] != host:
            return f"cross-origin request from {origin} refused"
        if fresh or not session.csrf_ok(request.headers.get(CSRF_HEADER)):
            return "missing or wrong CSRF token: reload the page"
        return None

    async def _static(self, request: Request) -> Response:
        if request.method == "POST":
            return json_error(405, "pages take GET")
        if not self.m.leading:
            leader = await self._leader_url()
            if leader:
                return Response.redirect(leader + request.path, 307)
        name = "index.html" if request.path in PAGES else request.path.removeprefix("/static/")
        if request.path not in PAGES and not request.path.startswith("/static/"):
            return json_error(404, f"no page {request.path}")
        data = _read_static(name)
        if data is None:
            return json_error(404, f"no page {request.path}")
        suffix = name[name.rfind(".") :]
        return Response(200, data, CONTENT_TYPES.get(suffix, "application/octet-stream"))

    async def _leader_url(self) -> str | None:
        info = self.m.leader_info  # kept current by the master's leadership follower
        if info is None or not info.webui_url or info.id == self.m.id:
            return None
        return info.webui_url.rstrip("/")

    async def _not_leading(self, request: Request) -> Response:
        leader = await self._leader_url()
        message = (
            "this master is starting: it is recovering its state; retry shortly"
            if self.m.starting()
            else "this master is not the leader"
            + (f"; the leader's dashboard is {leader}" if leader else "; no leader is known yet")
        )
        answer = json_error(503, message)
        if leader:
            body = {"error": message, "status": 503, "leader": leader}
            answer = Response.json(body, 503)
        return answer

    # ---------------------------------------------------------------- sessions

    def _session_json(self, session: Session) -> dict[str, Any]:
        views = self.door.may(session.principal, "GetState", opb.GetStateRequest())
        return {
            "principal": session.principal,
            "csrf_token": session.csrf,
            "login_required": self.door.login_required,
            "login_possible": self.door.login_possible,
            "via": session.via,
            "may_view": views,
            "master": {"id": self.m.id, "address": f"{self.m.info.ip}:{self.m.info.port}"},
        }

    async def _session(self, request: Request, session: Session) -> Response:
        return Response.json(self._session_json(session))

    async def _login(self, request: Request, session: Session) -> Response:
        form = request.form()
        principal, secret = form.get("principal", ""), form.get("secret", "")
        if not self.door.login_possible:
            return json_error(400, "this master has no credentials (--credentials): nobody logs in")
        if not principal:
            return json_error(400, "give a principal and its secret")
        wait = self.logins.blocked_for(principal, time.monotonic())
        if wait > 0:
            return json_error(
                429, f"too many failed logins for {principal!r}; try again in {wait:.0f} s"
            )
        if not self.door.verify(principal, secret):
            self.logins.failed(principal, time.monotonic())
            await asyncio.sleep(0.2)  # slows guessing a little
            return json_error(401, "unknown principal or wrong secret")
        self.logins.succeeded(principal)
        self.sessions.end(session)
        fresh = self.sessions.new(principal, "secret", secret)
        answer = Response.json(self._session_json(fresh))
        answer.headers.append(("Set-Cookie", self.sessions.cookie(fresh)))
        return answer

    async def _logout(self, request: Request, session: Session) -> Response:
        self.sessions.end(session)
        fresh = self.sessions.new()
        answer = Response.json(self._session_json(fresh))
        answer.headers.append(("Set-Cookie", self.sessions.cookie(fresh)))
        return answer

    # ---------------------------------------------------------------- reads

    async def _call(self, session: Session, method: str, request: Message) -> Response:
        answer = await self.door.call(session.principal, method, request)
        return Response.json(to_json(answer))

    async def _state(self, request: Request, session: Session) -> Response:
        return await self._call(session, "GetState", opb.GetStateRequest())

    async def _roles(self, request: Request, session: Session) -> Response:
        return await self._call(session, "GetRoles", opb.GetRolesRequest())

    async def _master(self, request: Request, session: Session) -> Response:
        return await self._call(session, "GetMaster", opb.GetMasterRequest())

    async def _tasks(self, request: Request, session: Session) -> Response:
        q = request.query
        states: list[str] = []
        for name in filter(None, q.get("state", "").split(",")):
            full = name if name.startswith("TASK_") else f"TASK_{name.upper()}"
            if full not in pb.TaskState.DESCRIPTOR.values_by_name:
                raise BadInput(f"unknown task state {name!r}; use e.g. RUNNING or TASK_RUNNING")
            states.append(full)
        call = opb.GetTasksRequest(
            framework_id=q.get("framework_id", ""),
            agent_id=q.get("agent_id", ""),
            task_id=q.get("task_id", ""),
            states=states,
            include_completed=q.get("include_completed", "1") not in ("0", "false", ""),
            limit=_number(q, "limit", 1000, 1, 10_000),
            page_token=q.get("page_token", ""),
        )
        return await self._call(session, "GetTasks", call)

    async def _permissions(self, request: Request, session: Session) -> Response:
        """Which actions the session's principal may take, per agent and framework, so the
        pages show only the buttons that would work (the ACLs decide, as for the calls)."""
        who = session.principal
        agents = {
            agent_id: self.door.may(who, "DrainAgent", opb.DrainAgentRequest(agent_id=agent_id))
            for agent_id in self.m.state.agents
        }
        frameworks = {
            framework_id: self.door.may(
                who, "TeardownFramework", opb.TeardownFrameworkRequest(framework_id=framework_id)
            )
            for framework_id in self.m.state.frameworks
        }
        roles = {*self.m.registry.weights()}
        for framework in self.m.state.frameworks.values():
            roles.update(framework.roles)
        weights = {
            role: self.door.may(who, "UpdateWeights", opb.UpdateWeightsRequest(weights={role: 1.0}))
            for role in sorted(roles)
        }
        return Response.json(
            {
                "drain_agents": agents,
                "teardown_frameworks": frameworks,
                "update_weights": weights,
                "actions": list(ACTIONS),
            }
        )

    async def _files(self, request: Request, session: Session) -> Response:
        q = request.query
        call = apb.ListFilesRequest(
            framework_id=q.get("framework_id", ""),
            task_id=q.get("task_id", ""),
            path=q.get("path", ""),
        )
        return await self._call(session, "ListFiles", call)

    async def _file(self, request: Request, session: Session) -> Response:
        q = request.query
        call = apb.ReadFileRequest(
            framework_id=q.get("framework_id", ""),
            task_id=q.get("task_id", ""),
            path=q.get("path", "stdout"),
            offset=_number(q, "offset", 0, 0, 2**62),
            length=_number(q, "length", 64 * 1024, 1, MAX_READ),
        )
        answer: apb.ReadFileResponse = await self.door.call(session.principal, "ReadFile", call)
        return Response.json(
            {
                "data": answer.data.decode(errors="replace"),
                "offset": answer.offset,
                "next_offset": answer.offset + len(answer.data),
                "size": answer.size,
                "task_terminal": answer.task_terminal,
            }
        )

    async def _history(self, request: Request, session: Session) -> Response:
        """The overview chart's samples newer than ``since`` (all of the last hour)."""
        self.door.admit(session.principal, "GetMetrics", opb.GetMetricsRequest())
        since = request.query.get("since", "") or "0"
        try:
            after = float(since)
        except ValueError:
            raise BadInput(f"since must be seconds since the epoch, not {since!r}") from None
        return Response.json(
            {"interval": self.history.interval, "samples": self.history.since(after)}
        )

    # ---------------------------------------------------------------- live events

    async def _events(self, request: Request, session: Session) -> Response:
        # The browser's caller is checked as a Subscribe call would be; the events come
        # from the feed all open dashboards share.
        subscribe = opb.SubscribeRequest(heartbeat_interval_seconds=KEEPALIVE)
        self.door.admit(session.principal, "Subscribe", subscribe)
        full_tasks = _number(request.query, "full_tasks", FULL_TASKS, 0, FULL_TASKS)
        listener = self.feed.join(full_tasks)
        return Response.events(self.feed.stream(listener))

    # ---------------------------------------------------------------- actions

    async def _drain(self, request: Request, session: Session) -> Response:
        form = request.form()
        call = opb.DrainAgentRequest(agent_id=form.get("agent_id", ""))
        if form.get("max_grace_period_seconds"):
            call.max_grace_period_seconds = _float(form, "max_grace_period_seconds")
        return await self._call(session, "DrainAgent", call)

    async def _deactivate(self, request: Request, session: Session) -> Response:
        call = opb.AgentRequest(agent_id=request.form().get("agent_id", ""))
        return await self._call(session, "DeactivateAgent", call)

    async def _reactivate(self, request: Request, session: Session) -> Response:
        call = opb.AgentRequest(agent_id=request.form().get("agent_id", ""))
        return await self._call(session, "ReactivateAgent", call)

    async def _weights(self, request: Request, session: Session) -> Response:
        form = request.form()
        if "weight" not in form:
            raise BadInput("give a role and its new weight, e.g. {role: 'prod', weight: 2}")
        try:
            weight = float(form["weight"])
        except ValueError:
            raise BadInput(f"weight must be a number, not {form['weight']!r}") from None
        call = opb.UpdateWeightsRequest(weights={form.get("role", ""): weight})
        return await self._call(session, "UpdateWeights", call)

    async def _teardown(self, request: Request, session: Session) -> Response:
        call = opb.TeardownFrameworkRequest(framework_id=request.form().get("framework_id", ""))
        return await self._call(session, "TeardownFramework", call)


class BadInput(ValueError):
    """A query parameter or form field is malformed (the message names it)."""


def _number(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    text = query.get(name, "")
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadInput(f"{name} must be a whole number, not {text!r}") from None
    if not low <= value <= high:
        raise BadInput(f"{name} must be between {low} and {high}, not {value}")
    return value


def _float(form: dict[str, str], name: str) -> float:
    try:
        value = float(form[name])
    except ValueError:
        raise BadInput(f"{name} must be a number, not {form[name]!r}") from None
    if not math.isfinite(value) or value < 0:
        raise BadInput(f"{name} must be a finite number >= 0, not {form[name]!r}")
    return value
