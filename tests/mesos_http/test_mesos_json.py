"""The small HTTP/1.1 server, RecordIO and the Mesos JSON mapping, on their own (a real
server on a loopback port, spoken to with raw sockets and http.client)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator

import pytest

from mesospy.master.http_api.mesos_json import MappingError, from_json, to_json
from mesospy.master.http_api.recordio import RecordIOError, RecordReader, record
from mesospy.master.http_api.wire import HttpServer, Request, Response
from mesospy.v1 import common_pb2 as pb
from mesospy.v1 import scheduler_pb2 as spb


async def _echo(request: Request) -> Response:
    if request.path == "/stream":

        async def pieces() -> AsyncIterator[bytes]:
            for n in range(3):
                yield record(json.dumps({"n": n}).encode())

        return Response(200, content_type="application/json", stream=pieces())
    doc = {
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "body": request.body.decode(),
        "type": request.header("content-type"),
    }
    return Response(200, json.dumps(doc).encode(), "application/json")


async def _exchange(port: int, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return data


def _serve_and(raw: bytes) -> bytes:
    async def main() -> bytes:
        server = HttpServer(_echo, max_body=100)
        port = await server.start("127.0.0.1", 0)
        try:
            return await _exchange(port, raw)
        finally:
            await server.stop()

    return asyncio.run(main())


def test_keep_alive_serves_two_requests_on_one_connection() -> None:
    one = b"POST /a?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"
    two = b"GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    data = _serve_and(one + two)
    assert data.count(b"HTTP/1.1 200 OK") == 2
    assert b'"path": "/a"' in data and b'"query": {"x": "1"}' in data and b'"body": "hi"' in data
    assert b'"path": "/b"' in data


def test_chunked_request_body() -> None:
    raw = (
        b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n"
    )
    assert b'"body": "abcde"' in _serve_and(raw)


def test_streams_are_chunked_recordio() -> None:
    data = _serve_and(b"GET /stream HTTP/1.1\r\n\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    payload = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        payload, body = payload + rest[:size], rest[size + 2 :]
    assert [json.loads(r) for r in RecordReader().feed(payload)] == [{"n": 0}, {"n": 1}, {"n": 2}]


@pytest.mark.parametrize(
    ("raw", "status", "words"),
    [
        (b"NONSENSE\r\n\r\n", b"400", b"not an HTTP/1.x request line"),
        (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", b"400", b"not a header line"),
        (b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", b"400", b"not a number"),
        (b"POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", b"413", b"over 100"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", b"400", b"hexadecimal"),
    ],
)
def test_bad_requests_are_answered_and_closed(raw: bytes, status: bytes, words: bytes) -> None:
    data = _serve_and(raw)
    assert data.startswith(b"HTTP/1.1 " + status), data
    assert words in data and b"Connection: close" in data


def test_recordio_split_anywhere() -> None:
    stream = record(b'{"a":1}') + record(b"") + record(b"x" * 300)
    reader = RecordReader()
    records = [r for i in range(len(stream)) for r in reader.feed(stream[i : i + 1])]
    assert records == [b'{"a":1}', b"", b"x" * 300]
    with pytest.raises(RecordIOError, match="not its length"):
        RecordReader().feed(b"abc\n")


def test_mesos_json_task_info_round_trip() -> None:
    task = pb.TaskInfo(
        name="t",
        task_id="t1",
        agent_id="a1",
        resources=[
            pb.Resource(name="cpus", type=pb.Resource.SCALAR, scalar=0.5),
            pb.Resource(name="ports", type=pb.Resource.RANGES, ranges=[pb.Range(begin=1, end=2)]),
            pb.Resource(name="gpus_ids", type=pb.Resource.SET, items=["g0"]),
        ],
        command=pb.CommandInfo(shell="echo hi", environment={"A": "1"}),
        kill_policy=pb.KillPolicy(grace_period_seconds=1.5),
        labels=[pb.Label(key="k", value="v")],
    )
    doc = to_json(task)
    assert doc["task_id"] == {"value": "t1"} and doc["agent_id"] == {"value": "a1"}
    assert doc["resources"][0]["scalar"] == {"value": 0.5}
    assert doc["resources"][1]["ranges"] == {"range": [{"begin": 1, "end": 2}]}
    assert doc["resources"][2]["set"] == {"item": ["g0"]}
    assert doc["command"] == {
        "shell": True,
        "value": "echo hi",
        "environment": {"variables": [{"name": "A", "value": "1"}]},
    }
    assert doc["kill_policy"] == {"grace_period": {"nanoseconds": 1_500_000_000}}
    assert doc["labels"] == {"labels": [{"key": "k", "value": "v"}]}
    assert from_json(json.loads(json.dumps(doc)), pb.TaskInfo()) == task


def test_mesos_json_argv_commands_and_calls() -> None:
    command = from_json(
        {"shell": False, "value": "ls", "arguments": ["ls", "-l"]}, pb.CommandInfo()
    )
    assert list(command.argv) == ["ls", "-l"] and not command.shell
    uuid = base64.b64encode(b"\x01\x02").decode()
    call = from_json(
        {
            "type": "ACKNOWLEDGE",
            "framework_id": {"value": "f"},
            "acknowledge": {"agent_id": {"value": "a"}, "task_id": {"value": "t"}, "uuid": uuid},
            "something_mesos_has": 1,
        },
        spb.Call(),
    )
    assert call.type == spb.Call.ACKNOWLEDGE and call.framework_id == "f"
    assert call.acknowledges[0].uuid == b"\x01\x02" and call.acknowledges[0].task_id == "t"
    info = from_json(
        {"name": "n", "role": "r", "capabilities": [{"type": "MULTI_ROLE"}]}, pb.FrameworkInfo()
    )
    assert list(info.roles) == ["r"] and list(info.capabilities) == [pb.FrameworkInfo.MULTI_ROLE]
    info = from_json({"name": "n", "capabilities": [{"type": "REGION_AWARE"}]}, pb.FrameworkInfo())
    assert not info.capabilities  # capabilities mesospy lacks are advisory: left out
    with pytest.raises(MappingError, match=r"operations\[0\].type 'RESERVE' .* LAUNCH"):
        from_json({"type": "ACCEPT", "accept": {"operations": [{"type": "RESERVE"}]}}, spb.Call())
    with pytest.raises(MappingError, match=r"\[0\]\.executor.*command"):
        launch = {"type": "LAUNCH", "launch": {"task_infos": [{"executor": {}}]}}
        from_json({"type": "ACCEPT", "accept": {"operations": [launch]}}, spb.Call())
    with pytest.raises(MappingError, match="task_id"):
        from_json({"task_id": {"nope": 1}}, pb.TaskInfo())
    with pytest.raises(MappingError):
        from_json({"name": 5, "resources": "cpus"}, pb.TaskInfo())


def test_mesos_json_events_use_mesos_names() -> None:
    status = pb.TaskStatus(
        task_id="t",
        state=pb.TASK_RUNNING,
        agent_id="a",
        uuid=b"u",
        source=pb.TaskStatus.SOURCE_AGENT,
    )
    event = spb.Event(type=spb.Event.UPDATE, update=spb.Event.Update(status=status))
    doc = to_json(event)
    assert doc["type"] == "UPDATE"
    assert doc["update"]["status"]["state"] == "TASK_RUNNING"
    assert doc["update"]["status"]["source"] == "SOURCE_AGENT"
    assert doc["update"]["status"]["uuid"] == base64.b64encode(b"u").decode()
    offer = pb.Offer(id="o", framework_id="f", agent_id="a", attributes={"rack": "r1"}, role="*")
    out = to_json(offer)
    assert out["id"] == {"value": "o"} and out["allocation_info"] == {"role": "*"}
    assert out["attributes"] == [{"name": "rack", "type": "TEXT", "text": {"value": "r1"}}]


def test_a_client_going_away_closes_its_stream() -> None:
    async def main() -> None:
        closed = asyncio.Event()

        async def forever() -> AsyncIterator[bytes]:
            yield record(b"{}")
            await asyncio.Event().wait()  # never another piece
            yield b""  # pragma: no cover

        async def close() -> None:
            closed.set()

        async def handler(request: Request) -> Response:
            return Response(200, stream=forever(), on_close=close)

        server = HttpServer(handler)
        port = await server.start("127.0.0.1", 0)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST /s HTTP/1.1\r\n\r\n")
            await reader.readuntil(b"{}")
            writer.close()
            await asyncio.wait_for(closed.wait(), 5)
        finally:
            await server.stop()

    asyncio.run(main())
