"""A client for the service framework's API, found through the master (or given)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import grpc

from frameworks.service import FRAMEWORK_NAME
from frameworks.service.v1 import service_pb2 as spb
from frameworks.service.v1 import service_pb2_grpc
from mesospy.client import OperatorClient
from mesospy.security.channels import sync_channel
from mesospy.security.tls import TLSError, tls_failure_hint

T = TypeVar("T")


class ServiceError(Exception):
    """The service framework refused a call or cannot be reached (one-line message)."""


def find_service(master: str, timeout: float = 10.0) -> str:
    """The API address of the active framework named ``mesospy-service``."""
    with OperatorClient(master, timeout=timeout) as client:
        endpoint = client.framework_endpoint(FRAMEWORK_NAME)
    if endpoint:
        return endpoint
    raise ServiceError(
        f"no active {FRAMEWORK_NAME} framework at master {master}: start one with "
        "`mesospy service serve` (or `mesospy local`), or give --service HOST:PORT"
    )


class ServiceClient:
    """Blocking calls to ``AppService``; errors become ``ServiceError``."""

    def __init__(self, address: str, timeout: float = 10.0) -> None:
        self.address = address
        self.timeout = timeout
        # TLS and credentials: the CLI's flags, else $MESOSPY_TLS_* and $MESOSPY_PRINCIPAL.
        try:
            self._channel = sync_channel(address, [("grpc.enable_http_proxy", 0)])
        except TLSError as exc:
            raise ServiceError(str(exc)) from exc
        self._stub = service_pb2_grpc.AppServiceStub(self._channel)  # type: ignore[no-untyped-call]

    def call(self, rpc: str, request: Any) -> Any:
        method: Callable[..., Any] = getattr(self._stub, rpc)
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            code = exc.code()
            detail = exc.details() or str(code)
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                detail = (
                    f"service framework at {self.address} unreachable: {detail}"
                    f"{tls_failure_hint(detail, 'it')}"
                )
            raise ServiceError(" ".join(detail.split())) from exc

    def deploy(self, text: str, dry_run: bool = False) -> spb.DeployResponse:
        return self.call("Deploy", spb.DeployRequest(spec_json=text, dry_run=dry_run))  # type: ignore[no-any-return]

    def apps(self) -> list[spb.App]:
        return list(self.call("ListApps", spb.ListAppsRequest()).apps)

    def app(self, app_id: str) -> spb.App:
        return self.call("GetApp", spb.AppRequest(app_id=app_id))  # type: ignore[no-any-return]

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
