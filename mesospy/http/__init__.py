"""mesospy's one HTTP/1.1 server, shared by every HTTP door (the Mesos v1 HTTP APIs, the
dashboard). See ``mesospy.http.server`` for how to use it."""

from mesospy.http.server import (
    ErrorAnswer,
    Handler,
    Headers,
    HttpServer,
    Limits,
    Request,
    Response,
    sse,
)
from mesospy.http.tls import tls_context

__all__ = [
    "ErrorAnswer",
    "Handler",
    "Headers",
    "HttpServer",
    "Limits",
    "Request",
    "Response",
    "sse",
    "tls_context",
]
