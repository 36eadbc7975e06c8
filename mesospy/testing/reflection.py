"""What ``grpcurl`` does, in Python: ask a server by reflection what it serves and call a
method with JSON, knowing nothing but what reflection tells (no .proto files, no generated
stubs); and ask the standard health service about a server.

    with grpc.insecure_channel("127.0.0.1:5050") as channel:
        client = ReflectionClient(channel)
        client.services()                         # ['grpc.health.v1.Health', ...]
        client.call("mesospy.v1.Operator/GetHealth")   # {'healthy': True, ...}
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import MethodDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

__all__ = ["ReflectionClient", "health_status", "watch_health"]

Metadata = Sequence[tuple[str, str]]


class ReflectionClient:
    """Services, methods and calls of a server, from its reflection service alone."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.channel = channel
        self._database = ProtoReflectionDescriptorDatabase(channel)
        self.pool = descriptor_pool.DescriptorPool(self._database)

    def services(self) -> list[str]:
        """The full names of the services the server lists."""
        return sorted(self._database.get_services())

    def method(self, name: str) -> MethodDescriptor:
        """The descriptor of ``"package.Service/Method"`` (or ``"package.Service.Method"``)."""
        service, _, method = name.replace("/", ".").rpartition(".")
        found: MethodDescriptor = self.pool.FindServiceByName(service).methods_by_name[method]
        return found

    def message_class(self, full_name: str) -> Any:
        """A message class built from the server's descriptor of ``full_name``."""
        return message_factory.GetMessageClass(self.pool.FindMessageTypeByName(full_name))

    def call(
        self,
        name: str,
        body: str | dict[str, Any] = "{}",
        metadata: Metadata = (),
        timeout: float = 10.0,
    ) -> Any:
        """Call a unary method with a JSON request; the response as a message built from
        the reflected descriptors (``MessageToDict`` turns it into JSON's shape)."""
        method = self.method(name)
        if method.client_streaming or method.server_streaming:
            raise ValueError(f"{name} streams; call() makes unary calls only")
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        text = body if isinstance(body, str) else json.dumps(body)
        request = json_format.Parse(text, request_class())
        path = f"/{method.containing_service.full_name}/{method.name}"
        rpc = self.channel.unary_unary(
            path,
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        return rpc(request, metadata=tuple(metadata), timeout=timeout)


def health_status(
    channel: grpc.Channel, service: str = "", metadata: Metadata = (), timeout: float = 10.0
) -> str:
    """The ``grpc.health.v1`` status of ``service`` ("" = the whole server), by name."""
    stub = health_pb2_grpc.HealthStub(channel)
    answer = stub.Check(
        health_pb2.HealthCheckRequest(service=service), metadata=tuple(metadata), timeout=timeout
    )
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status))


def watch_health(channel: grpc.Channel, service: str = "", timeout: float = 60.0) -> Iterator[str]:
    """The statuses ``Watch`` streams for ``service``, by name, as they come (the current
    one first); ends with the stream or raises ``grpc.RpcError`` past ``timeout``."""
    stub = health_pb2_grpc.HealthStub(channel)
    stream = stub.Watch(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    try:
        for answer in stream:
            yield str(health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status))
    finally:
        stream.cancel()
