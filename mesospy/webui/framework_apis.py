"""The dashboard as a client of the bundled frameworks' own gRPC APIs.

The batch and service frameworks run as processes of their own and publish their API's
address in ``FrameworkInfo.endpoint``; the master knows it from their subscription. The
jobs and apps pages are served by calling those APIs, as ``mesospy job`` and
``mesospy app`` do, on behalf of the browser's session: its principal and secret (kept on
the server, never sent to the page) go with every call, so the framework's own
authentication decides, and its answers and refusals come back unchanged. The dashboard
holds no framework logic.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.message import Message

from mesospy.security.channels import ClientSecurity, aio_channel
from mesospy.security.credentials import Credential
from mesospy.security.tls import TLSConfig
from mesospy.webui.operator import Refused

if TYPE_CHECKING:
    from mesospy.master.master import Master

CALL_SECONDS = 10.0
MAX_CHANNELS = 32  # (endpoint, caller) pairs kept connected

# Framework name -> how to start one, for the message when none is registered.
FRAMEWORKS = {
    "mesospy-batch": "mesospy batch serve",
    "mesospy-service": "mesospy service serve",
}


def caller_security(tls: TLSConfig | None, principal: str | None, secret: str) -> ClientSecurity:
    """How the dashboard calls a framework for a session: with the session's credential,
    over TLS verified with the master's CA, but never with the master's own certificate.
    Under mutual TLS that certificate would name the master, and a browser's session
    (whose own certificate stays with the browser) would act as the master."""
    credential = Credential(principal, secret) if principal and secret else None
    if tls is not None:
        tls = dataclasses.replace(tls, cert=None, key=None, require_client_cert=False)
    return ClientSecurity(tls, credential)


class FrameworkApis:
    """Calls to the frameworks' APIs, found through the master's framework records."""

    def __init__(self, master: Master) -> None:
        self.m = master
        self._channels: OrderedDict[tuple[str, str, str], grpc.aio.Channel] = OrderedDict()

    def endpoint(self, name: str) -> str:
        """The API address of the connected framework named ``name``; else ``Refused``."""
        for framework in self.m.state.frameworks.values():
            info = framework.info
            if info.name == name and framework.connected and info.endpoint:
                return info.endpoint
        raise Refused(
            grpc.StatusCode.NOT_FOUND,
            f"no {name} framework is registered with this master: start one with "
            f"`{FRAMEWORKS.get(name, 'its serve command')}` (or `mesospy local`)",
        )

    def _channel(self, endpoint: str, principal: str | None, secret: str) -> grpc.aio.Channel:
        # Keyed by a digest of the secret, so a changed secret gets a channel of its own.
        digest = hashlib.sha256(secret.encode()).hexdigest() if secret else ""
        key = (endpoint, principal or "", digest)
        channel = self._channels.get(key)
        if channel is not None:
            self._channels.move_to_end(key)
            return channel
        security = caller_security(self.m.config.tls, principal, secret)
        channel = aio_channel(endpoint, [("grpc.enable_http_proxy", 0)], security)
        self._channels[key] = channel
        while len(self._channels) > MAX_CHANNELS:
            _, old = self._channels.popitem(last=False)
            self.m.spawn(old.close(None))
        return channel

    async def call(
        self,
        name: str,
        stub_class: Any,
        method: str,
        request: Message,
        principal: str | None,
        secret: str,
    ) -> Any:
        """``method`` of framework ``name``'s API as the session's caller; its answer, or
        ``Refused`` with the framework's code and message."""
        endpoint = self.endpoint(name)
        stub = stub_class(self._channel(endpoint, principal, secret))
        try:
            return await getattr(stub, method)(request, timeout=CALL_SECONDS)
        except grpc.aio.AioRpcError as exc:
            code, detail = exc.code(), " ".join((exc.details() or "").split())
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                detail = f"the {name} framework at {endpoint} is unreachable: {detail}"
            raise Refused(code, detail or code.name) from exc

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close(None)
        self._channels.clear()
