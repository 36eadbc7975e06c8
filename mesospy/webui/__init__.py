"""The master's web dashboard: pages over the operator API, live by server-sent events.

``mesospy.webui.server.serve_webui`` starts it (the master does, with ``--webui-port``).
"""
