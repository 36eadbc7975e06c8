"""The scheduler API at ``/api/v1/scheduler``: Mesos's calls onto the gRPC ``SchedulerService``.

``SUBSCRIBE`` answers 200 with a ``Mesos-Stream-Id`` header and a RecordIO stream of events
(one record per event); every other call must carry that header and answers 202 Accepted.
Bodies are Mesos's JSON (``application/json``) or mesospy's own protobuf ``Call``
(``application/x-protobuf``: mesospy's scheduler.proto, which keeps Mesos's names but not
its field numbers); the stream is in the format the ``Accept`` header asks for.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import grpc
from google.protobuf.message import DecodeError

from mesospy.http import Request, Response
from mesospy.master.http_api.calls import CallFailed, Gate, unsupported
from mesospy.master.http_api.mesos_json import MappingError, from_json, to_json
from mesospy.master.http_api.recordio import record
from mesospy.master.services import SchedulerService
from mesospy.v1 import scheduler_pb2 as spb

JSON = "application/json"
PROTOBUF = "application/x-protobuf"
STREAM_ID = "Mesos-Stream-Id"
METHOD = "/mesospy.v1.Scheduler/"
Call = spb.Call


def _bad(message: str) -> CallFailed:
    return CallFailed(grpc.StatusCode.INVALID_ARGUMENT, message)


# Mesos's scheduler calls that mesospy has no counterpart for.
UNSUPPORTED = {
    "ACCEPT_INVERSE_OFFERS": "there are no inverse offers: maintenance drains agents instead",
    "DECLINE_INVERSE_OFFERS": "there are no inverse offers: maintenance drains agents instead",
    "MESSAGE": "there are no custom executors to send framework messages to",
    "SHUTDOWN": "there are no custom executors to shut down; KILL the task",
    "REQUEST": "resource requests are not taken; offers come by themselves (REVIVE)",
    "ACKNOWLEDGE_OPERATION_STATUS": "offer operations other than LAUNCH are not supported",
    "RECONCILE_OPERATIONS": "offer operations other than LAUNCH are not supported",
    "UPDATE_FRAMEWORK": "SUBSCRIBE again with the framework's id and its new FrameworkInfo",
}


def parse_call(request: Request) -> Call:
    """The call in the request's body; ``CallFailed`` (400/415) when it is none."""
    kind = request.header("content-type", JSON).split(";")[0].strip().lower()
    if kind == PROTOBUF:
        call = Call()
        try:
            call.ParseFromString(request.body)
        except DecodeError as exc:
            raise _bad(f"the body is not a mesospy.v1.Call: {exc}") from None
        return call
    if kind not in (JSON, ""):
        raise unsupported(kind, f"{JSON} or {PROTOBUF}")
    try:
        doc = json.loads(request.body or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(f"the body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise _bad('the body must be a JSON object such as {"type": "SUBSCRIBE", ...}')
    kind_name = doc.get("type")
    names = [n for n in Call.Type.keys() if n != "UNKNOWN"]  # noqa: SIM118 (an enum wrapper)
    if isinstance(kind_name, str) and kind_name in UNSUPPORTED:
        raise CallFailed(
            grpc.StatusCode.UNIMPLEMENTED,
            f"{kind_name} is not available: {UNSUPPORTED[kind_name]}",
        )
    if kind_name not in names:
        known = ", ".join(names)
        raise _bad(f"unknown call type {kind_name!r}; known: {known}")
    try:
        return from_json(doc, Call())
    except MappingError as exc:
        raise _bad(f"the {kind_name} call is malformed: {exc}") from None


def event_json(event: spb.Event) -> bytes:
    return json.dumps(to_json(event)).encode()


class SchedulerHttp:
    """``POST /api/v1/scheduler``."""

    def __init__(self, gate: Gate, service: SchedulerService) -> None:
        self.gate = gate
        self.service = service

    async def handle(self, request: Request) -> Response:
        if request.method != "POST":
            return Response(405, b"the scheduler API takes POST\n", headers=[("Allow", "POST")])
        try:
            call = parse_call(request)
            if call.type == Call.SUBSCRIBE:
                return await self._subscribe(request, call)
            stream_id = request.header(STREAM_ID)
            if not stream_id:
                raise _bad(
                    f"{Call.Type.Name(call.type)} needs the {STREAM_ID} header that SUBSCRIBE "
                    "answered with"
                )
            call.stream_id = stream_id
            await self.gate.call(request, METHOD + "Send", call, self.service.Send)
        except CallFailed as exc:
            if exc.code == grpc.StatusCode.FAILED_PRECONDITION:
                # Mesos answers a call that cannot be made now (e.g. an old stream) 400.
                exc = CallFailed(grpc.StatusCode.INVALID_ARGUMENT, exc.message)
            return self.gate.failure(exc, request)
        return Response(202, b"")

    async def _subscribe(self, request: Request, call: Call) -> Response:
        accept = request.header("accept", JSON).lower()
        binary = PROTOBUF in accept and JSON not in accept
        first, batches = await self.gate.open_stream(
            request, METHOD + "Subscribe", call, self.service.Subscribe
        )
        subscribed = next((e for e in first.events if e.type == spb.Event.SUBSCRIBED), None)
        if subscribed is None:  # pragma: no cover - SUBSCRIBED is always queued first
            await batches.aclose()  # type: ignore[attr-defined]
            return Response.text(500, "the subscription sent no SUBSCRIBED event")

        def encode(event: spb.Event) -> bytes:
            return record(event.SerializeToString() if binary else event_json(event))

        async def frames() -> AsyncIterator[bytes]:
            try:
                yield b"".join(encode(e) for e in first.events)
                async for batch in batches:
                    yield b"".join(encode(e) for e in batch.events)
            except CallFailed:
                return
            finally:
                await batches.aclose()  # type: ignore[attr-defined]

        return Response(
            200,
            content_type=PROTOBUF if binary else JSON,
            headers=[(STREAM_ID, subscribed.subscribed.stream_id)],
            stream=frames(),
            on_close=batches.aclose,  # type: ignore[attr-defined]
        )
