from mesospy.v1 import agent_pb2 as _agent_pb2
from mesospy.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetStateRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AgentState(_message.Message):
    __slots__ = ("agent_info", "active", "registered_time", "used_resources", "offered_resources")
    AGENT_INFO_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_TIME_FIELD_NUMBER: _ClassVar[int]
    USED_RESOURCES_FIELD_NUMBER: _ClassVar[int]
    OFFERED_RESOURCES_FIELD_NUMBER: _ClassVar[int]
    agent_info: _common_pb2.AgentInfo
    active: bool
    registered_time: float
    used_resources: _containers.RepeatedCompositeFieldContainer[_common_pb2.Resource]
    offered_resources: _containers.RepeatedCompositeFieldContainer[_common_pb2.Resource]
    def __init__(self, agent_info: _Optional[_Union[_common_pb2.AgentInfo, _Mapping]] = ..., active: _Optional[bool] = ..., registered_time: _Optional[float] = ..., used_resources: _Optional[_Iterable[_Union[_common_pb2.Resource, _Mapping]]] = ..., offered_resources: _Optional[_Iterable[_Union[_common_pb2.Resource, _Mapping]]] = ...) -> None: ...

class FrameworkState(_message.Message):
    __slots__ = ("framework_info", "active", "connected", "registered_time", "used_resources", "offered_resources")
    FRAMEWORK_INFO_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_TIME_FIELD_NUMBER: _ClassVar[int]
    USED_RESOURCES_FIELD_NUMBER: _ClassVar[int]
    OFFERED_RESOURCES_FIELD_NUMBER: _ClassVar[int]
    framework_info: _common_pb2.FrameworkInfo
    active: bool
    connected: bool
    registered_time: float
    used_resources: _containers.RepeatedCompositeFieldContainer[_common_pb2.Resource]
    offered_resources: _containers.RepeatedCompositeFieldContainer[_common_pb2.Resource]
    def __init__(self, framework_info: _Optional[_Union[_common_pb2.FrameworkInfo, _Mapping]] = ..., active: _Optional[bool] = ..., connected: _Optional[bool] = ..., registered_time: _Optional[float] = ..., used_resources: _Optional[_Iterable[_Union[_common_pb2.Resource, _Mapping]]] = ..., offered_resources: _Optional[_Iterable[_Union[_common_pb2.Resource, _Mapping]]] = ...) -> None: ...

class GetStateResponse(_message.Message):
    __slots__ = ("master_info", "agents", "frameworks", "tasks", "completed_tasks", "unreachable_agents", "offers")
    MASTER_INFO_FIELD_NUMBER: _ClassVar[int]
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORKS_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_TASKS_FIELD_NUMBER: _ClassVar[int]
    UNREACHABLE_AGENTS_FIELD_NUMBER: _ClassVar[int]
    OFFERS_FIELD_NUMBER: _ClassVar[int]
    master_info: _common_pb2.MasterInfo
    agents: _containers.RepeatedCompositeFieldContainer[AgentState]
    frameworks: _containers.RepeatedCompositeFieldContainer[FrameworkState]
    tasks: _containers.RepeatedCompositeFieldContainer[_common_pb2.Task]
    completed_tasks: _containers.RepeatedCompositeFieldContainer[_common_pb2.Task]
    unreachable_agents: _containers.RepeatedCompositeFieldContainer[_common_pb2.AgentInfo]
    offers: _containers.RepeatedCompositeFieldContainer[_common_pb2.Offer]
    def __init__(self, master_info: _Optional[_Union[_common_pb2.MasterInfo, _Mapping]] = ..., agents: _Optional[_Iterable[_Union[AgentState, _Mapping]]] = ..., frameworks: _Optional[_Iterable[_Union[FrameworkState, _Mapping]]] = ..., tasks: _Optional[_Iterable[_Union[_common_pb2.Task, _Mapping]]] = ..., completed_tasks: _Optional[_Iterable[_Union[_common_pb2.Task, _Mapping]]] = ..., unreachable_agents: _Optional[_Iterable[_Union[_common_pb2.AgentInfo, _Mapping]]] = ..., offers: _Optional[_Iterable[_Union[_common_pb2.Offer, _Mapping]]] = ...) -> None: ...
