"""A plain HTTP client of the master's Mesos v1 HTTP APIs (``http.client`` only: what any
Mesos client speaks, no mesospy code on the wire but the RecordIO splitter)."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import time
from dataclasses import dataclass
from typing import Any

from mesospy.master.http_api.recordio import RecordReader
from mesospy.testing.clusters import fast_master_flags

FAST_MASTER = fast_master_flags(framework_heartbeat_interval=1)


def http_master_flags(port: int) -> list[str]:
    return [*FAST_MASTER, "--http-port", str(port)]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


class EventStream:
    """A RecordIO event stream read from an open HTTP response."""

    def __init__(self, connection: http.client.HTTPConnection, sock: Any, response: Any) -> None:
        self.connection = connection
        self.sock = sock  # the response owns it once the server says Connection: close
        self.response = response
        self.headers = {k.lower(): v for k, v in response.getheaders()}
        self.reader = RecordReader()
        self.pending: list[bytes] = []

    def next(self, timeout: float = 30.0) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.next_record(timeout))
        return doc

    def next_record(self, timeout: float = 30.0) -> bytes:
        """The next RecordIO record, as bytes."""
        deadline = time.monotonic() + timeout
        while not self.pending:
            if time.monotonic() > deadline:
                raise TimeoutError("no event in time")
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            data = self.response.read1(65536)
            if not data:
                raise EOFError("the event stream ended")
            self.pending += self.reader.feed(data)
        return self.pending.pop(0)

    def until(self, kind: str, timeout: float = 30.0) -> dict[str, Any]:
        """The next event of type ``kind`` (others are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            event = self.next(max(0.1, deadline - time.monotonic()))
            if event["type"] == kind:
                return event

    def close(self) -> None:
        self.response.close()
        self.connection.close()


class MesosHttp:
    """A client of one master's HTTP port."""

    def __init__(
        self, port: int, auth: tuple[str, str] | None = None, tls: ssl.SSLContext | None = None
    ) -> None:
        self.port = port
        self.auth = auth
        self.tls = tls

    def _connect(self) -> http.client.HTTPConnection:
        if self.tls is not None:
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30, context=self.tls)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.auth is not None:
            token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        return {**headers, **(extra or {})}

    def request(
        self,
        method: str,
        path: str,
        body: bytes | dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        connection = self._connect()
        try:
            data = json.dumps(body).encode() if isinstance(body, dict) else body
            connection.request(method, path, body=data, headers=self._headers(headers))
            response = connection.getresponse()
            return Answer(
                response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
            )
        finally:
            connection.close()

    def post(self, path: str, body: bytes | dict[str, Any], **headers: str) -> Answer:
        return self.request(
            "POST", path, body, {k.replace("_", "-"): v for k, v in headers.items()}
        )

    def operator(self, call: dict[str, Any]) -> Answer:
        return self.post("/api/v1", call)

    def stream(
        self,
        path: str,
        call: dict[str, Any] | bytes,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, EventStream | Answer]:
        """Open a streaming call: (status, the stream) or (status, the error answer)."""
        connection = self._connect()
        body = call if isinstance(call, bytes) else json.dumps(call).encode()
        connection.request("POST", path, body=body, headers=self._headers(headers))
        sock = connection.sock
        response = connection.getresponse()
        if response.status != 200:
            answer = Answer(
                response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
            )
            connection.close()
            return response.status, answer
        return 200, EventStream(connection, sock, response)


SCHEDULER = "/api/v1/scheduler"


def subscribe(api: MesosHttp, name: str, **info: Any) -> EventStream:
    status, stream = api.stream(
        SCHEDULER,
        {
            "type": "SUBSCRIBE",
            "subscribe": {
                "framework_info": {"user": "", "name": name, "role": "*", **info},
            },
        },
    )
    assert status == 200 and isinstance(stream, EventStream), stream
    return stream


def call(api: MesosHttp, stream: EventStream, framework_id: str, body: dict[str, Any]) -> Any:
    return api.post(
        SCHEDULER,
        {"framework_id": {"value": framework_id}, **body},
        Mesos_Stream_Id=stream.headers["mesos-stream-id"],
    )


def acknowledged_update(api: MesosHttp, stream: EventStream, framework_id: str) -> Any:
    """The next status update, acknowledged as Mesos's schedulers do (ACKNOWLEDGE with the
    update's uuid): the agent sends a task's next update only after that."""
    status = stream.until("UPDATE")["update"]["status"]
    if "uuid" in status:
        ack = call(
            api,
            stream,
            framework_id,
            {
                "type": "ACKNOWLEDGE",
                "acknowledge": {
                    "agent_id": status["agent_id"],
                    "task_id": status["task_id"],
                    "uuid": status["uuid"],
                },
            },
        )
        assert ack.status == 202, ack.text
    return status
