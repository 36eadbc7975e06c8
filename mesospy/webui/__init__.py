"""The master's web dashboard: pages over the operator API, live by server-sent events."""

from mesospy.webui.server import WebUIPortError, serve_webui

__all__ = ["WebUIPortError", "serve_webui"]
