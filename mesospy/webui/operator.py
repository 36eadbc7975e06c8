"""The dashboard's door to the operator API: the same handlers and the same guard.

Each dashboard request becomes the operator call it stands for (``GetState``,
``DrainAgent``...): the caller of the browser's session is checked by the master's
``Guard`` (rate limit, message limits, ACLs) exactly as a gRPC call would be, and then the
``OperatorService`` handler itself runs, in the master's process. A refusal or a handler's
error comes back as a ``Refused`` with the gRPC code and the handler's message.
"""

from __future__ import annotations

from typing import Any, NoReturn

import grpc
from google.protobuf.message import Message

from mesospy.master.operator_api import OperatorService
from mesospy.security.acl import Denied
from mesospy.security.auth import OPEN_METHODS, OPERATORS, Caller
from mesospy.security.guard import Guard, serve_as
from mesospy.v1 import operator_pb2 as opb

SERVICE = "/" + opb.DESCRIPTOR.services_by_name["Operator"].full_name + "/"

HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


class Refused(Exception):
    """An operator call refused or failed: its gRPC code and message."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)


class _Context:
    """What the operator handlers use of a gRPC context: ``abort``."""

    async def abort(self, code: grpc.StatusCode, details: str = "") -> NoReturn:
        raise Refused(code, details)


class OperatorDoor:
    """Operator calls on behalf of a dashboard session's principal."""

    def __init__(self, service: OperatorService, guard: Guard) -> None:
        self.service = service
        self.guard = guard

    @property
    def login_required(self) -> bool:
        return OPERATORS in self.guard.authenticator.required

    @property
    def login_possible(self) -> bool:
        return self.guard.authenticator.store is not None

    @property
    def trusts_certificates(self) -> bool:
        """Verified client certificates name their caller (--tls-require-client-cert)."""
        return self.guard.authenticator.trust_certificates

    def verify(self, principal: str, secret: str) -> bool:
        store = self.guard.authenticator.store
        return store is not None and store.verify(principal, secret)

    def caller(self, principal: str | None, method: str, via: str = "secret") -> Caller:
        return Caller(principal, OPERATORS, SERVICE + method, via if principal else "")

    def admit(self, principal: str | None, method: str, request: Message) -> Caller:
        """The caller, once the guard lets it make this call; else raises ``Refused``."""
        full = SERVICE + method
        if principal is None and self.login_required and full not in OPEN_METHODS:
            raise Refused(
                grpc.StatusCode.UNAUTHENTICATED,
                "this master requires operators to authenticate: log in with a principal "
                "and secret",
            )
        caller = self.caller(principal, method)
        checked = self.guard.check(full, caller, request)
        if isinstance(checked, str):
            name, _, message = checked.partition(":")
            raise Refused(grpc.StatusCode[name], message)
        serve_as(caller)
        return caller

    def may(self, principal: str | None, method: str, request: Message) -> bool:
        """Whether the ACLs let ``principal`` make this call (nothing is counted or run)."""
        if principal is None and self.login_required:
            return False
        if self.guard.authorize is None:
            return True
        try:
            self.guard.authorize(self.caller(principal, method), request)
        except Denied:
            return False
        return True

    async def call(self, principal: str | None, method: str, request: Message) -> Any:
        """Make a unary operator call as ``principal``; its answer, or ``Refused``."""
        self.admit(principal, method, request)
        handler = getattr(self.service, method)
        return await handler(request, _Context())
