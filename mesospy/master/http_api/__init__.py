"""Mesos's v1 HTTP APIs on the master: a second door onto the same handlers as gRPC.

``app`` routes requests of the shared server (``mesospy.http``) on the master's event
loop, ``recordio`` frames event
streams, ``mesos_json`` maps mesospy's protobuf messages to and from Mesos's JSON, and
``calls`` runs each HTTP call through the master's guard and its gRPC servicers (never a
copy of their logic).
"""
