from mesospy.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Call(_message.Message):
    __slots__ = ("framework_id", "stream_id", "type", "subscribe", "accept", "decline", "revive", "suppress", "kill", "acknowledges", "reconcile", "messages", "shutdown", "update_framework", "request")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNKNOWN: _ClassVar[Call.Type]
        SUBSCRIBE: _ClassVar[Call.Type]
        TEARDOWN: _ClassVar[Call.Type]
        ACCEPT: _ClassVar[Call.Type]
        DECLINE: _ClassVar[Call.Type]
        REVIVE: _ClassVar[Call.Type]
        SUPPRESS: _ClassVar[Call.Type]
        KILL: _ClassVar[Call.Type]
        ACKNOWLEDGE: _ClassVar[Call.Type]
        RECONCILE: _ClassVar[Call.Type]
        MESSAGE: _ClassVar[Call.Type]
        SHUTDOWN: _ClassVar[Call.Type]
        UPDATE_FRAMEWORK: _ClassVar[Call.Type]
        REQUEST: _ClassVar[Call.Type]
    UNKNOWN: Call.Type
    SUBSCRIBE: Call.Type
    TEARDOWN: Call.Type
    ACCEPT: Call.Type
    DECLINE: Call.Type
    REVIVE: Call.Type
    SUPPRESS: Call.Type
    KILL: Call.Type
    ACKNOWLEDGE: Call.Type
    RECONCILE: Call.Type
    MESSAGE: Call.Type
    SHUTDOWN: Call.Type
    UPDATE_FRAMEWORK: Call.Type
    REQUEST: Call.Type
    class Subscribe(_message.Message):
        __slots__ = ("framework_info", "suppressed_roles")
        FRAMEWORK_INFO_FIELD_NUMBER: _ClassVar[int]
        SUPPRESSED_ROLES_FIELD_NUMBER: _ClassVar[int]
        framework_info: _common_pb2.FrameworkInfo
        suppressed_roles: _containers.RepeatedScalarFieldContainer[str]
        def __init__(self, framework_info: _Optional[_Union[_common_pb2.FrameworkInfo, _Mapping]] = ..., suppressed_roles: _Optional[_Iterable[str]] = ...) -> None: ...
    class Operation(_message.Message):
        __slots__ = ("type", "launch", "launch_group", "reserve", "unreserve", "create", "destroy")
        class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
            __slots__ = ()
            UNKNOWN: _ClassVar[Call.Operation.Type]
            LAUNCH: _ClassVar[Call.Operation.Type]
            LAUNCH_GROUP: _ClassVar[Call.Operation.Type]
            RESERVE: _ClassVar[Call.Operation.Type]
            UNRESERVE: _ClassVar[Call.Operation.Type]
            CREATE: _ClassVar[Call.Operation.Type]
            DESTROY: _ClassVar[Call.Operation.Type]
        UNKNOWN: Call.Operation.Type
        LAUNCH: Call.Operation.Type
        LAUNCH_GROUP: Call.Operation.Type
        RESERVE: Call.Operation.Type
        UNRESERVE: Call.Operation.Type
        CREATE: Call.Operation.Type
        DESTROY: Call.Operation.Type
        class Launch(_message.Message):
            __slots__ = ("task_infos",)
            TASK_INFOS_FIELD_NUMBER: _ClassVar[int]
            task_infos: _containers.RepeatedCompositeFieldContainer[_common_pb2.TaskInfo]
            def __init__(self, task_infos: _Optional[_Iterable[_Union[_common_pb2.TaskInfo, _Mapping]]] = ...) -> None: ...
        class LaunchGroup(_message.Message):
            __slots__ = ("executor", "task_group")
            EXECUTOR_FIELD_NUMBER: _ClassVar[int]
            TASK_GROUP_FIELD_NUMBER: _ClassVar[int]
            executor: _common_pb2.ExecutorInfo
            task_group: _common_pb2.TaskGroupInfo
            def __init__(self, executor: _Optional[_Union[_common_pb2.ExecutorInfo, _Mapping]] = ..., task_group: _Optional[_Union[_common_pb2.TaskGroupInfo, _Mapping]] = ...) -> None: ...
        class Reserve(_message.Message):
            __slots__ = ("resources",)
            RESOURCES_FIELD_NUMBER: _ClassVar[int]
            resources: _containers.RepeatedCompositeFieldContainer[_common_pb2.Resource]
            def __init__(self, resources: _Optional[_Iterable[_Union[_common_pb2.Resource, _Mapping]]] = ...) -> None: ...
        class Unreserve(_message.Message):
            __slots__ = ("resources",)
            RESOURCES_FIELD_NUMBER: _ClassVar[int]
            resources: _containers.RepeatedCompositeFieldContainer[_common_pb2.Resource]
            def __init__(self, resources: _Optional[_Iterable[_Union[_common_pb2.Resource, _Mapping]]] = ...) -> None: ...
        class Create(_message.Message):
            __slots__ = ("volumes",)
            VOLUMES_FIELD_NUMBER: _ClassVar[int]
            volumes: _containers.RepeatedCompositeFieldContainer[_common_pb2.Resource]
            def __init__(self, volumes: _Optional[_Iterable[_Union[_common_pb2.Resource, _Mapping]]] = ...) -> None: ...
        class Destroy(_message.Message):
            __slots__ = ("volumes",)
            VOLUMES_FIELD_NUMBER: _ClassVar[int]
            volumes: _containers.RepeatedCompositeFieldContainer[_common_pb2.Resource]
            def __init__(self, volumes: _Optional[_Iterable[_Union[_common_pb2.Resource, _Mapping]]] = ...) -> None: ...
        TYPE_FIELD_NUMBER: _ClassVar[int]
        LAUNCH_FIELD_NUMBER: _ClassVar[int]
        LAUNCH_GROUP_FIELD_NUMBER: _ClassVar[int]
        RESERVE_FIELD_NUMBER: _ClassVar[int]
        UNRESERVE_FIELD_NUMBER: _ClassVar[int]
        CREATE_FIELD_NUMBER: _ClassVar[int]
        DESTROY_FIELD_NUMBER: _ClassVar[int]
        type: Call.Operation.Type
        launch: Call.Operation.Launch
        launch_group: Call.Operation.LaunchGroup
        reserve: Call.Operation.Reserve
        unreserve: Call.Operation.Unreserve
        create: Call.Operation.Create
        destroy: Call.Operation.Destroy
        def __init__(self, type: _Optional[_Union[Call.Operation.Type, str]] = ..., launch: _Optional[_Union[Call.Operation.Launch, _Mapping]] = ..., launch_group: _Optional[_Union[Call.Operation.LaunchGroup, _Mapping]] = ..., reserve: _Optional[_Union[Call.Operation.Reserve, _Mapping]] = ..., unreserve: _Optional[_Union[Call.Operation.Unreserve, _Mapping]] = ..., create: _Optional[_Union[Call.Operation.Create, _Mapping]] = ..., destroy: _Optional[_Union[Call.Operation.Destroy, _Mapping]] = ...) -> None: ...
    class Accept(_message.Message):
        __slots__ = ("offer_ids", "operations", "filters")
        OFFER_IDS_FIELD_NUMBER: _ClassVar[int]
        OPERATIONS_FIELD_NUMBER: _ClassVar[int]
        FILTERS_FIELD_NUMBER: _ClassVar[int]
        offer_ids: _containers.RepeatedScalarFieldContainer[str]
        operations: _containers.RepeatedCompositeFieldContainer[Call.Operation]
        filters: _common_pb2.Filters
        def __init__(self, offer_ids: _Optional[_Iterable[str]] = ..., operations: _Optional[_Iterable[_Union[Call.Operation, _Mapping]]] = ..., filters: _Optional[_Union[_common_pb2.Filters, _Mapping]] = ...) -> None: ...
    class Decline(_message.Message):
        __slots__ = ("offer_ids", "filters")
        OFFER_IDS_FIELD_NUMBER: _ClassVar[int]
        FILTERS_FIELD_NUMBER: _ClassVar[int]
        offer_ids: _containers.RepeatedScalarFieldContainer[str]
        filters: _common_pb2.Filters
        def __init__(self, offer_ids: _Optional[_Iterable[str]] = ..., filters: _Optional[_Union[_common_pb2.Filters, _Mapping]] = ...) -> None: ...
    class Revive(_message.Message):
        __slots__ = ("roles",)
        ROLES_FIELD_NUMBER: _ClassVar[int]
        roles: _containers.RepeatedScalarFieldContainer[str]
        def __init__(self, roles: _Optional[_Iterable[str]] = ...) -> None: ...
    class Suppress(_message.Message):
        __slots__ = ("roles",)
        ROLES_FIELD_NUMBER: _ClassVar[int]
        roles: _containers.RepeatedScalarFieldContainer[str]
        def __init__(self, roles: _Optional[_Iterable[str]] = ...) -> None: ...
    class Kill(_message.Message):
        __slots__ = ("task_id", "agent_id", "kill_policy")
        TASK_ID_FIELD_NUMBER: _ClassVar[int]
        AGENT_ID_FIELD_NUMBER: _ClassVar[int]
        KILL_POLICY_FIELD_NUMBER: _ClassVar[int]
        task_id: str
        agent_id: str
        kill_policy: _common_pb2.KillPolicy
        def __init__(self, task_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., kill_policy: _Optional[_Union[_common_pb2.KillPolicy, _Mapping]] = ...) -> None: ...
    class Acknowledge(_message.Message):
        __slots__ = ("agent_id", "task_id", "uuid")
        AGENT_ID_FIELD_NUMBER: _ClassVar[int]
        TASK_ID_FIELD_NUMBER: _ClassVar[int]
        UUID_FIELD_NUMBER: _ClassVar[int]
        agent_id: str
        task_id: str
        uuid: bytes
        def __init__(self, agent_id: _Optional[str] = ..., task_id: _Optional[str] = ..., uuid: _Optional[bytes] = ...) -> None: ...
    class Reconcile(_message.Message):
        __slots__ = ("tasks",)
        class Task(_message.Message):
            __slots__ = ("task_id", "agent_id")
            TASK_ID_FIELD_NUMBER: _ClassVar[int]
            AGENT_ID_FIELD_NUMBER: _ClassVar[int]
            task_id: str
            agent_id: str
            def __init__(self, task_id: _Optional[str] = ..., agent_id: _Optional[str] = ...) -> None: ...
        TASKS_FIELD_NUMBER: _ClassVar[int]
        tasks: _containers.RepeatedCompositeFieldContainer[Call.Reconcile.Task]
        def __init__(self, tasks: _Optional[_Iterable[_Union[Call.Reconcile.Task, _Mapping]]] = ...) -> None: ...
    class Message(_message.Message):
        __slots__ = ("agent_id", "executor_id", "data")
        AGENT_ID_FIELD_NUMBER: _ClassVar[int]
        EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
        DATA_FIELD_NUMBER: _ClassVar[int]
        agent_id: str
        executor_id: str
        data: bytes
        def __init__(self, agent_id: _Optional[str] = ..., executor_id: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...
    class Shutdown(_message.Message):
        __slots__ = ("executor_id", "agent_id")
        EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
        AGENT_ID_FIELD_NUMBER: _ClassVar[int]
        executor_id: str
        agent_id: str
        def __init__(self, executor_id: _Optional[str] = ..., agent_id: _Optional[str] = ...) -> None: ...
    class UpdateFramework(_message.Message):
        __slots__ = ("framework_info", "suppressed_roles")
        FRAMEWORK_INFO_FIELD_NUMBER: _ClassVar[int]
        SUPPRESSED_ROLES_FIELD_NUMBER: _ClassVar[int]
        framework_info: _common_pb2.FrameworkInfo
        suppressed_roles: _containers.RepeatedScalarFieldContainer[str]
        def __init__(self, framework_info: _Optional[_Union[_common_pb2.FrameworkInfo, _Mapping]] = ..., suppressed_roles: _Optional[_Iterable[str]] = ...) -> None: ...
    class Request(_message.Message):
        __slots__ = ("requests",)
        class Item(_message.Message):
            __slots__ = ("agent_id", "resources")
            AGENT_ID_FIELD_NUMBER: _ClassVar[int]
            RESOURCES_FIELD_NUMBER: _ClassVar[int]
            agent_id: str
            resources: _containers.RepeatedCompositeFieldContainer[_common_pb2.Resource]
            def __init__(self, agent_id: _Optional[str] = ..., resources: _Optional[_Iterable[_Union[_common_pb2.Resource, _Mapping]]] = ...) -> None: ...
        REQUESTS_FIELD_NUMBER: _ClassVar[int]
        requests: _containers.RepeatedCompositeFieldContainer[Call.Request.Item]
        def __init__(self, requests: _Optional[_Iterable[_Union[Call.Request.Item, _Mapping]]] = ...) -> None: ...
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBE_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_FIELD_NUMBER: _ClassVar[int]
    DECLINE_FIELD_NUMBER: _ClassVar[int]
    REVIVE_FIELD_NUMBER: _ClassVar[int]
    SUPPRESS_FIELD_NUMBER: _ClassVar[int]
    KILL_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGES_FIELD_NUMBER: _ClassVar[int]
    RECONCILE_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    SHUTDOWN_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FRAMEWORK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    framework_id: str
    stream_id: str
    type: Call.Type
    subscribe: Call.Subscribe
    accept: Call.Accept
    decline: Call.Decline
    revive: Call.Revive
    suppress: Call.Suppress
    kill: Call.Kill
    acknowledges: _containers.RepeatedCompositeFieldContainer[Call.Acknowledge]
    reconcile: Call.Reconcile
    messages: _containers.RepeatedCompositeFieldContainer[Call.Message]
    shutdown: Call.Shutdown
    update_framework: Call.UpdateFramework
    request: Call.Request
    def __init__(self, framework_id: _Optional[str] = ..., stream_id: _Optional[str] = ..., type: _Optional[_Union[Call.Type, str]] = ..., subscribe: _Optional[_Union[Call.Subscribe, _Mapping]] = ..., accept: _Optional[_Union[Call.Accept, _Mapping]] = ..., decline: _Optional[_Union[Call.Decline, _Mapping]] = ..., revive: _Optional[_Union[Call.Revive, _Mapping]] = ..., suppress: _Optional[_Union[Call.Suppress, _Mapping]] = ..., kill: _Optional[_Union[Call.Kill, _Mapping]] = ..., acknowledges: _Optional[_Iterable[_Union[Call.Acknowledge, _Mapping]]] = ..., reconcile: _Optional[_Union[Call.Reconcile, _Mapping]] = ..., messages: _Optional[_Iterable[_Union[Call.Message, _Mapping]]] = ..., shutdown: _Optional[_Union[Call.Shutdown, _Mapping]] = ..., update_framework: _Optional[_Union[Call.UpdateFramework, _Mapping]] = ..., request: _Optional[_Union[Call.Request, _Mapping]] = ...) -> None: ...

class Response(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Event(_message.Message):
    __slots__ = ("type", "subscribed", "offers", "rescind", "update", "failure", "error", "message")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNKNOWN: _ClassVar[Event.Type]
        SUBSCRIBED: _ClassVar[Event.Type]
        OFFERS: _ClassVar[Event.Type]
        RESCIND: _ClassVar[Event.Type]
        UPDATE: _ClassVar[Event.Type]
        FAILURE: _ClassVar[Event.Type]
        ERROR: _ClassVar[Event.Type]
        HEARTBEAT: _ClassVar[Event.Type]
        MESSAGE: _ClassVar[Event.Type]
    UNKNOWN: Event.Type
    SUBSCRIBED: Event.Type
    OFFERS: Event.Type
    RESCIND: Event.Type
    UPDATE: Event.Type
    FAILURE: Event.Type
    ERROR: Event.Type
    HEARTBEAT: Event.Type
    MESSAGE: Event.Type
    class Subscribed(_message.Message):
        __slots__ = ("framework_id", "heartbeat_interval_seconds", "master_info", "stream_id")
        FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
        HEARTBEAT_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
        MASTER_INFO_FIELD_NUMBER: _ClassVar[int]
        STREAM_ID_FIELD_NUMBER: _ClassVar[int]
        framework_id: str
        heartbeat_interval_seconds: float
        master_info: _common_pb2.MasterInfo
        stream_id: str
        def __init__(self, framework_id: _Optional[str] = ..., heartbeat_interval_seconds: _Optional[float] = ..., master_info: _Optional[_Union[_common_pb2.MasterInfo, _Mapping]] = ..., stream_id: _Optional[str] = ...) -> None: ...
    class Offers(_message.Message):
        __slots__ = ("offers",)
        OFFERS_FIELD_NUMBER: _ClassVar[int]
        offers: _containers.RepeatedCompositeFieldContainer[_common_pb2.Offer]
        def __init__(self, offers: _Optional[_Iterable[_Union[_common_pb2.Offer, _Mapping]]] = ...) -> None: ...
    class Rescind(_message.Message):
        __slots__ = ("offer_id",)
        OFFER_ID_FIELD_NUMBER: _ClassVar[int]
        offer_id: str
        def __init__(self, offer_id: _Optional[str] = ...) -> None: ...
    class Update(_message.Message):
        __slots__ = ("status",)
        STATUS_FIELD_NUMBER: _ClassVar[int]
        status: _common_pb2.TaskStatus
        def __init__(self, status: _Optional[_Union[_common_pb2.TaskStatus, _Mapping]] = ...) -> None: ...
    class Failure(_message.Message):
        __slots__ = ("agent_id", "executor_id", "status")
        AGENT_ID_FIELD_NUMBER: _ClassVar[int]
        EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
        STATUS_FIELD_NUMBER: _ClassVar[int]
        agent_id: str
        executor_id: str
        status: int
        def __init__(self, agent_id: _Optional[str] = ..., executor_id: _Optional[str] = ..., status: _Optional[int] = ...) -> None: ...
    class Error(_message.Message):
        __slots__ = ("message",)
        MESSAGE_FIELD_NUMBER: _ClassVar[int]
        message: str
        def __init__(self, message: _Optional[str] = ...) -> None: ...
    class Message(_message.Message):
        __slots__ = ("agent_id", "executor_id", "data")
        AGENT_ID_FIELD_NUMBER: _ClassVar[int]
        EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
        DATA_FIELD_NUMBER: _ClassVar[int]
        agent_id: str
        executor_id: str
        data: bytes
        def __init__(self, agent_id: _Optional[str] = ..., executor_id: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBED_FIELD_NUMBER: _ClassVar[int]
    OFFERS_FIELD_NUMBER: _ClassVar[int]
    RESCIND_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    type: Event.Type
    subscribed: Event.Subscribed
    offers: Event.Offers
    rescind: Event.Rescind
    update: Event.Update
    failure: Event.Failure
    error: Event.Error
    message: Event.Message
    def __init__(self, type: _Optional[_Union[Event.Type, str]] = ..., subscribed: _Optional[_Union[Event.Subscribed, _Mapping]] = ..., offers: _Optional[_Union[Event.Offers, _Mapping]] = ..., rescind: _Optional[_Union[Event.Rescind, _Mapping]] = ..., update: _Optional[_Union[Event.Update, _Mapping]] = ..., failure: _Optional[_Union[Event.Failure, _Mapping]] = ..., error: _Optional[_Union[Event.Error, _Mapping]] = ..., message: _Optional[_Union[Event.Message, _Mapping]] = ...) -> None: ...

class Events(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ...) -> None: ...
