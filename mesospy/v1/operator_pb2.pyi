from mesospy.v1 import agent_pb2 as _agent_pb2
from mesospy.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetHealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetHealthResponse(_message.Message):
    __slots__ = ("healthy", "message", "uptime_seconds")
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    healthy: bool
    message: str
    uptime_seconds: float
    def __init__(self, healthy: _Optional[bool] = ..., message: _Optional[str] = ..., uptime_seconds: _Optional[float] = ...) -> None: ...

class GetVersionRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetVersionResponse(_message.Message):
    __slots__ = ("version", "python_version", "grpc_version")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PYTHON_VERSION_FIELD_NUMBER: _ClassVar[int]
    GRPC_VERSION_FIELD_NUMBER: _ClassVar[int]
    version: str
    python_version: str
    grpc_version: str
    def __init__(self, version: _Optional[str] = ..., python_version: _Optional[str] = ..., grpc_version: _Optional[str] = ...) -> None: ...

class GetFlagsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetFlagsResponse(_message.Message):
    __slots__ = ("flags",)
    class FlagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    flags: _containers.ScalarMap[str, str]
    def __init__(self, flags: _Optional[_Mapping[str, str]] = ...) -> None: ...

class GetMasterRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetMasterResponse(_message.Message):
    __slots__ = ("master_info", "elected", "start_time", "elected_time", "contenders")
    MASTER_INFO_FIELD_NUMBER: _ClassVar[int]
    ELECTED_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    ELECTED_TIME_FIELD_NUMBER: _ClassVar[int]
    CONTENDERS_FIELD_NUMBER: _ClassVar[int]
    master_info: _common_pb2.MasterInfo
    elected: bool
    start_time: float
    elected_time: float
    contenders: _containers.RepeatedCompositeFieldContainer[_common_pb2.MasterInfo]
    def __init__(self, master_info: _Optional[_Union[_common_pb2.MasterInfo, _Mapping]] = ..., elected: _Optional[bool] = ..., start_time: _Optional[float] = ..., elected_time: _Optional[float] = ..., contenders: _Optional[_Iterable[_Union[_common_pb2.MasterInfo, _Mapping]]] = ...) -> None: ...

class GetStateRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AgentState(_message.Message):
    __slots__ = ("agent_info", "active", "registered_time", "used_resources", "offered_resources", "drain_state", "drain_started_time", "max_grace_period_seconds", "active_tasks", "total_resources")
    class DrainState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        NOT_DRAINING: _ClassVar[AgentState.DrainState]
        DRAINING: _ClassVar[AgentState.DrainState]
        DRAINED: _ClassVar[AgentState.DrainState]
    NOT_DRAINING: AgentState.DrainState
    DRAINING: AgentState.DrainState
    DRAINED: AgentState.DrainState
    AGENT_INFO_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_TIME_FIELD_NUMBER: _ClassVar[int]
    USED_RESOURCES_FIELD_NUMBER: _ClassVar[int]
    OFFERED_RESOURCES_FIELD_NUMBER: _ClassVar[int]
    DRAIN_STATE_FIELD_NUMBER: _ClassVar[int]
    DRAIN_STARTED_TIME_FIELD_NUMBER: _ClassVar[int]
    MAX_GRACE_PERIOD_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_TASKS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_RESOURCES_FIELD_NUMBER: _ClassVar[int]
    agent_info: _common_pb2.AgentInfo
    active: bool
    registered_time: float
    used_resources: _containers.RepeatedCompositeFieldContainer[_common_pb2.Resource]
    offered_resources: _containers.RepeatedCompositeFieldContainer[_common_pb2.Resource]
    drain_state: AgentState.DrainState
    drain_started_time: float
    max_grace_period_seconds: float
    active_tasks: int
    total_resources: _containers.RepeatedCompositeFieldContainer[_common_pb2.Resource]
    def __init__(self, agent_info: _Optional[_Union[_common_pb2.AgentInfo, _Mapping]] = ..., active: _Optional[bool] = ..., registered_time: _Optional[float] = ..., used_resources: _Optional[_Iterable[_Union[_common_pb2.Resource, _Mapping]]] = ..., offered_resources: _Optional[_Iterable[_Union[_common_pb2.Resource, _Mapping]]] = ..., drain_state: _Optional[_Union[AgentState.DrainState, str]] = ..., drain_started_time: _Optional[float] = ..., max_grace_period_seconds: _Optional[float] = ..., active_tasks: _Optional[int] = ..., total_resources: _Optional[_Iterable[_Union[_common_pb2.Resource, _Mapping]]] = ...) -> None: ...

class FrameworkState(_message.Message):
    __slots__ = ("framework_info", "active", "connected", "registered_time", "used_resources", "offered_resources", "active_tasks")
    FRAMEWORK_INFO_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_TIME_FIELD_NUMBER: _ClassVar[int]
    USED_RESOURCES_FIELD_NUMBER: _ClassVar[int]
    OFFERED_RESOURCES_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_TASKS_FIELD_NUMBER: _ClassVar[int]
    framework_info: _common_pb2.FrameworkInfo
    active: bool
    connected: bool
    registered_time: float
    used_resources: _containers.RepeatedCompositeFieldContainer[_common_pb2.Resource]
    offered_resources: _containers.RepeatedCompositeFieldContainer[_common_pb2.Resource]
    active_tasks: int
    def __init__(self, framework_info: _Optional[_Union[_common_pb2.FrameworkInfo, _Mapping]] = ..., active: _Optional[bool] = ..., connected: _Optional[bool] = ..., registered_time: _Optional[float] = ..., used_resources: _Optional[_Iterable[_Union[_common_pb2.Resource, _Mapping]]] = ..., offered_resources: _Optional[_Iterable[_Union[_common_pb2.Resource, _Mapping]]] = ..., active_tasks: _Optional[int] = ...) -> None: ...

class GetStateResponse(_message.Message):
    __slots__ = ("master_info", "agents", "frameworks", "tasks", "completed_tasks", "unreachable_agents", "offers", "gone_agents")
    MASTER_INFO_FIELD_NUMBER: _ClassVar[int]
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORKS_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_TASKS_FIELD_NUMBER: _ClassVar[int]
    UNREACHABLE_AGENTS_FIELD_NUMBER: _ClassVar[int]
    OFFERS_FIELD_NUMBER: _ClassVar[int]
    GONE_AGENTS_FIELD_NUMBER: _ClassVar[int]
    master_info: _common_pb2.MasterInfo
    agents: _containers.RepeatedCompositeFieldContainer[AgentState]
    frameworks: _containers.RepeatedCompositeFieldContainer[FrameworkState]
    tasks: _containers.RepeatedCompositeFieldContainer[_common_pb2.Task]
    completed_tasks: _containers.RepeatedCompositeFieldContainer[_common_pb2.Task]
    unreachable_agents: _containers.RepeatedCompositeFieldContainer[_common_pb2.AgentInfo]
    offers: _containers.RepeatedCompositeFieldContainer[_common_pb2.Offer]
    gone_agents: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, master_info: _Optional[_Union[_common_pb2.MasterInfo, _Mapping]] = ..., agents: _Optional[_Iterable[_Union[AgentState, _Mapping]]] = ..., frameworks: _Optional[_Iterable[_Union[FrameworkState, _Mapping]]] = ..., tasks: _Optional[_Iterable[_Union[_common_pb2.Task, _Mapping]]] = ..., completed_tasks: _Optional[_Iterable[_Union[_common_pb2.Task, _Mapping]]] = ..., unreachable_agents: _Optional[_Iterable[_Union[_common_pb2.AgentInfo, _Mapping]]] = ..., offers: _Optional[_Iterable[_Union[_common_pb2.Offer, _Mapping]]] = ..., gone_agents: _Optional[_Iterable[str]] = ...) -> None: ...

class GetAgentsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetAgentsResponse(_message.Message):
    __slots__ = ("agents", "unreachable_agents", "gone_agents")
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    UNREACHABLE_AGENTS_FIELD_NUMBER: _ClassVar[int]
    GONE_AGENTS_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[AgentState]
    unreachable_agents: _containers.RepeatedCompositeFieldContainer[_common_pb2.AgentInfo]
    gone_agents: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, agents: _Optional[_Iterable[_Union[AgentState, _Mapping]]] = ..., unreachable_agents: _Optional[_Iterable[_Union[_common_pb2.AgentInfo, _Mapping]]] = ..., gone_agents: _Optional[_Iterable[str]] = ...) -> None: ...

class GetFrameworksRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetFrameworksResponse(_message.Message):
    __slots__ = ("frameworks", "removed_frameworks")
    FRAMEWORKS_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FRAMEWORKS_FIELD_NUMBER: _ClassVar[int]
    frameworks: _containers.RepeatedCompositeFieldContainer[FrameworkState]
    removed_frameworks: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, frameworks: _Optional[_Iterable[_Union[FrameworkState, _Mapping]]] = ..., removed_frameworks: _Optional[_Iterable[str]] = ...) -> None: ...

class GetTasksRequest(_message.Message):
    __slots__ = ("framework_id", "agent_id", "states", "task_id", "include_completed", "limit", "page_token")
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    framework_id: str
    agent_id: str
    states: _containers.RepeatedScalarFieldContainer[_common_pb2.TaskState]
    task_id: str
    include_completed: bool
    limit: int
    page_token: str
    def __init__(self, framework_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., states: _Optional[_Iterable[_Union[_common_pb2.TaskState, str]]] = ..., task_id: _Optional[str] = ..., include_completed: _Optional[bool] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetTasksResponse(_message.Message):
    __slots__ = ("tasks", "next_page_token", "total")
    TASKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[_common_pb2.Task]
    next_page_token: str
    total: int
    def __init__(self, tasks: _Optional[_Iterable[_Union[_common_pb2.Task, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...

class Role(_message.Message):
    __slots__ = ("name", "weight", "frameworks", "allocated", "offered", "active_tasks", "quota", "consumed")
    NAME_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORKS_FIELD_NUMBER: _ClassVar[int]
    ALLOCATED_FIELD_NUMBER: _ClassVar[int]
    OFFERED_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_TASKS_FIELD_NUMBER: _ClassVar[int]
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    CONSUMED_FIELD_NUMBER: _ClassVar[int]
    name: str
    weight: float
    frameworks: _containers.RepeatedScalarFieldContainer[str]
    allocated: _containers.RepeatedCompositeFieldContainer[_common_pb2.Resource]
    offered: _containers.RepeatedCompositeFieldContainer[_common_pb2.Resource]
    active_tasks: int
    quota: QuotaConfig
    consumed: _containers.RepeatedCompositeFieldContainer[_common_pb2.Resource]
    def __init__(self, name: _Optional[str] = ..., weight: _Optional[float] = ..., frameworks: _Optional[_Iterable[str]] = ..., allocated: _Optional[_Iterable[_Union[_common_pb2.Resource, _Mapping]]] = ..., offered: _Optional[_Iterable[_Union[_common_pb2.Resource, _Mapping]]] = ..., active_tasks: _Optional[int] = ..., quota: _Optional[_Union[QuotaConfig, _Mapping]] = ..., consumed: _Optional[_Iterable[_Union[_common_pb2.Resource, _Mapping]]] = ...) -> None: ...

class GetRolesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetRolesResponse(_message.Message):
    __slots__ = ("roles",)
    ROLES_FIELD_NUMBER: _ClassVar[int]
    roles: _containers.RepeatedCompositeFieldContainer[Role]
    def __init__(self, roles: _Optional[_Iterable[_Union[Role, _Mapping]]] = ...) -> None: ...

class GetWeightsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetWeightsResponse(_message.Message):
    __slots__ = ("weights",)
    class WeightsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    weights: _containers.ScalarMap[str, float]
    def __init__(self, weights: _Optional[_Mapping[str, float]] = ...) -> None: ...

class UpdateWeightsRequest(_message.Message):
    __slots__ = ("weights",)
    class WeightsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    weights: _containers.ScalarMap[str, float]
    def __init__(self, weights: _Optional[_Mapping[str, float]] = ...) -> None: ...

class UpdateWeightsResponse(_message.Message):
    __slots__ = ("weights",)
    class WeightsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    weights: _containers.ScalarMap[str, float]
    def __init__(self, weights: _Optional[_Mapping[str, float]] = ...) -> None: ...

class QuotaConfig(_message.Message):
    __slots__ = ("role", "guarantees", "limits")
    class GuaranteesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class LimitsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    ROLE_FIELD_NUMBER: _ClassVar[int]
    GUARANTEES_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    role: str
    guarantees: _containers.ScalarMap[str, float]
    limits: _containers.ScalarMap[str, float]
    def __init__(self, role: _Optional[str] = ..., guarantees: _Optional[_Mapping[str, float]] = ..., limits: _Optional[_Mapping[str, float]] = ...) -> None: ...

class GetQuotaRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetQuotaResponse(_message.Message):
    __slots__ = ("configs",)
    CONFIGS_FIELD_NUMBER: _ClassVar[int]
    configs: _containers.RepeatedCompositeFieldContainer[QuotaConfig]
    def __init__(self, configs: _Optional[_Iterable[_Union[QuotaConfig, _Mapping]]] = ...) -> None: ...

class UpdateQuotaRequest(_message.Message):
    __slots__ = ("configs", "force")
    CONFIGS_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    configs: _containers.RepeatedCompositeFieldContainer[QuotaConfig]
    force: bool
    def __init__(self, configs: _Optional[_Iterable[_Union[QuotaConfig, _Mapping]]] = ..., force: _Optional[bool] = ...) -> None: ...

class UpdateQuotaResponse(_message.Message):
    __slots__ = ("configs",)
    CONFIGS_FIELD_NUMBER: _ClassVar[int]
    configs: _containers.RepeatedCompositeFieldContainer[QuotaConfig]
    def __init__(self, configs: _Optional[_Iterable[_Union[QuotaConfig, _Mapping]]] = ...) -> None: ...

class GetMetricsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetMetricsResponse(_message.Message):
    __slots__ = ("metrics",)
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    METRICS_FIELD_NUMBER: _ClassVar[int]
    metrics: _containers.ScalarMap[str, float]
    def __init__(self, metrics: _Optional[_Mapping[str, float]] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ("heartbeat_interval_seconds",)
    HEARTBEAT_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    heartbeat_interval_seconds: float
    def __init__(self, heartbeat_interval_seconds: _Optional[float] = ...) -> None: ...

class OperatorEvent(_message.Message):
    __slots__ = ("type", "timestamp", "subscribed", "task", "agent", "agent_id", "framework", "framework_id", "reason")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNKNOWN: _ClassVar[OperatorEvent.Type]
        SUBSCRIBED: _ClassVar[OperatorEvent.Type]
        TASK_ADDED: _ClassVar[OperatorEvent.Type]
        TASK_UPDATED: _ClassVar[OperatorEvent.Type]
        AGENT_ADDED: _ClassVar[OperatorEvent.Type]
        AGENT_REMOVED: _ClassVar[OperatorEvent.Type]
        AGENT_UPDATED: _ClassVar[OperatorEvent.Type]
        FRAMEWORK_ADDED: _ClassVar[OperatorEvent.Type]
        FRAMEWORK_UPDATED: _ClassVar[OperatorEvent.Type]
        FRAMEWORK_REMOVED: _ClassVar[OperatorEvent.Type]
        HEARTBEAT: _ClassVar[OperatorEvent.Type]
    UNKNOWN: OperatorEvent.Type
    SUBSCRIBED: OperatorEvent.Type
    TASK_ADDED: OperatorEvent.Type
    TASK_UPDATED: OperatorEvent.Type
    AGENT_ADDED: OperatorEvent.Type
    AGENT_REMOVED: OperatorEvent.Type
    AGENT_UPDATED: OperatorEvent.Type
    FRAMEWORK_ADDED: OperatorEvent.Type
    FRAMEWORK_UPDATED: OperatorEvent.Type
    FRAMEWORK_REMOVED: OperatorEvent.Type
    HEARTBEAT: OperatorEvent.Type
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBED_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    type: OperatorEvent.Type
    timestamp: float
    subscribed: GetStateResponse
    task: _common_pb2.Task
    agent: AgentState
    agent_id: str
    framework: FrameworkState
    framework_id: str
    reason: str
    def __init__(self, type: _Optional[_Union[OperatorEvent.Type, str]] = ..., timestamp: _Optional[float] = ..., subscribed: _Optional[_Union[GetStateResponse, _Mapping]] = ..., task: _Optional[_Union[_common_pb2.Task, _Mapping]] = ..., agent: _Optional[_Union[AgentState, _Mapping]] = ..., agent_id: _Optional[str] = ..., framework: _Optional[_Union[FrameworkState, _Mapping]] = ..., framework_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class AgentRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class DrainAgentRequest(_message.Message):
    __slots__ = ("agent_id", "max_grace_period_seconds")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_GRACE_PERIOD_SECONDS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    max_grace_period_seconds: float
    def __init__(self, agent_id: _Optional[str] = ..., max_grace_period_seconds: _Optional[float] = ...) -> None: ...

class MarkAgentGoneResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TeardownFrameworkRequest(_message.Message):
    __slots__ = ("framework_id",)
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    framework_id: str
    def __init__(self, framework_id: _Optional[str] = ...) -> None: ...

class TeardownFrameworkResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReserveResourcesRequest(_message.Message):
    __slots__ = ("agent_id", "resources")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    resources: _containers.RepeatedCompositeFieldContainer[_common_pb2.Resource]
    def __init__(self, agent_id: _Optional[str] = ..., resources: _Optional[_Iterable[_Union[_common_pb2.Resource, _Mapping]]] = ...) -> None: ...

class UnreserveResourcesRequest(_message.Message):
    __slots__ = ("agent_id", "resources")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    resources: _containers.RepeatedCompositeFieldContainer[_common_pb2.Resource]
    def __init__(self, agent_id: _Optional[str] = ..., resources: _Optional[_Iterable[_Union[_common_pb2.Resource, _Mapping]]] = ...) -> None: ...

class CreateVolumesRequest(_message.Message):
    __slots__ = ("agent_id", "volumes")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    volumes: _containers.RepeatedCompositeFieldContainer[_common_pb2.Resource]
    def __init__(self, agent_id: _Optional[str] = ..., volumes: _Optional[_Iterable[_Union[_common_pb2.Resource, _Mapping]]] = ...) -> None: ...

class DestroyVolumesRequest(_message.Message):
    __slots__ = ("agent_id", "volumes")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    volumes: _containers.RepeatedCompositeFieldContainer[_common_pb2.Resource]
    def __init__(self, agent_id: _Optional[str] = ..., volumes: _Optional[_Iterable[_Union[_common_pb2.Resource, _Mapping]]] = ...) -> None: ...

class ResourceOperationResponse(_message.Message):
    __slots__ = ("total",)
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    total: _containers.RepeatedCompositeFieldContainer[_common_pb2.Resource]
    def __init__(self, total: _Optional[_Iterable[_Union[_common_pb2.Resource, _Mapping]]] = ...) -> None: ...
