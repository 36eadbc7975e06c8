from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TaskState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_STATE_UNSPECIFIED: _ClassVar[TaskState]
    TASK_STAGING: _ClassVar[TaskState]
    TASK_STARTING: _ClassVar[TaskState]
    TASK_RUNNING: _ClassVar[TaskState]
    TASK_KILLING: _ClassVar[TaskState]
    TASK_FINISHED: _ClassVar[TaskState]
    TASK_FAILED: _ClassVar[TaskState]
    TASK_KILLED: _ClassVar[TaskState]
    TASK_ERROR: _ClassVar[TaskState]
    TASK_LOST: _ClassVar[TaskState]
    TASK_DROPPED: _ClassVar[TaskState]
    TASK_UNREACHABLE: _ClassVar[TaskState]
    TASK_GONE: _ClassVar[TaskState]
    TASK_GONE_BY_OPERATOR: _ClassVar[TaskState]
    TASK_UNKNOWN: _ClassVar[TaskState]
TASK_STATE_UNSPECIFIED: TaskState
TASK_STAGING: TaskState
TASK_STARTING: TaskState
TASK_RUNNING: TaskState
TASK_KILLING: TaskState
TASK_FINISHED: TaskState
TASK_FAILED: TaskState
TASK_KILLED: TaskState
TASK_ERROR: TaskState
TASK_LOST: TaskState
TASK_DROPPED: TaskState
TASK_UNREACHABLE: TaskState
TASK_GONE: TaskState
TASK_GONE_BY_OPERATOR: TaskState
TASK_UNKNOWN: TaskState

class Range(_message.Message):
    __slots__ = ("begin", "end")
    BEGIN_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    begin: int
    end: int
    def __init__(self, begin: _Optional[int] = ..., end: _Optional[int] = ...) -> None: ...

class Resource(_message.Message):
    __slots__ = ("name", "type", "scalar", "ranges", "items", "role", "reservations", "disk")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        SCALAR: _ClassVar[Resource.Type]
        RANGES: _ClassVar[Resource.Type]
        SET: _ClassVar[Resource.Type]
    SCALAR: Resource.Type
    RANGES: Resource.Type
    SET: Resource.Type
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SCALAR_FIELD_NUMBER: _ClassVar[int]
    RANGES_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    RESERVATIONS_FIELD_NUMBER: _ClassVar[int]
    DISK_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: Resource.Type
    scalar: float
    ranges: _containers.RepeatedCompositeFieldContainer[Range]
    items: _containers.RepeatedScalarFieldContainer[str]
    role: str
    reservations: _containers.RepeatedCompositeFieldContainer[ReservationInfo]
    disk: DiskInfo
    def __init__(self, name: _Optional[str] = ..., type: _Optional[_Union[Resource.Type, str]] = ..., scalar: _Optional[float] = ..., ranges: _Optional[_Iterable[_Union[Range, _Mapping]]] = ..., items: _Optional[_Iterable[str]] = ..., role: _Optional[str] = ..., reservations: _Optional[_Iterable[_Union[ReservationInfo, _Mapping]]] = ..., disk: _Optional[_Union[DiskInfo, _Mapping]] = ...) -> None: ...

class ReservationInfo(_message.Message):
    __slots__ = ("type", "role", "principal", "labels")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNKNOWN: _ClassVar[ReservationInfo.Type]
        STATIC: _ClassVar[ReservationInfo.Type]
        DYNAMIC: _ClassVar[ReservationInfo.Type]
    UNKNOWN: ReservationInfo.Type
    STATIC: ReservationInfo.Type
    DYNAMIC: ReservationInfo.Type
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    type: ReservationInfo.Type
    role: str
    principal: str
    labels: _containers.RepeatedCompositeFieldContainer[Label]
    def __init__(self, type: _Optional[_Union[ReservationInfo.Type, str]] = ..., role: _Optional[str] = ..., principal: _Optional[str] = ..., labels: _Optional[_Iterable[_Union[Label, _Mapping]]] = ...) -> None: ...

class DiskInfo(_message.Message):
    __slots__ = ("persistence", "volume")
    class Persistence(_message.Message):
        __slots__ = ("id", "principal")
        ID_FIELD_NUMBER: _ClassVar[int]
        PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
        id: str
        principal: str
        def __init__(self, id: _Optional[str] = ..., principal: _Optional[str] = ...) -> None: ...
    class Volume(_message.Message):
        __slots__ = ("container_path", "mode")
        class Mode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
            __slots__ = ()
            RW: _ClassVar[DiskInfo.Volume.Mode]
            RO: _ClassVar[DiskInfo.Volume.Mode]
        RW: DiskInfo.Volume.Mode
        RO: DiskInfo.Volume.Mode
        CONTAINER_PATH_FIELD_NUMBER: _ClassVar[int]
        MODE_FIELD_NUMBER: _ClassVar[int]
        container_path: str
        mode: DiskInfo.Volume.Mode
        def __init__(self, container_path: _Optional[str] = ..., mode: _Optional[_Union[DiskInfo.Volume.Mode, str]] = ...) -> None: ...
    PERSISTENCE_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    persistence: DiskInfo.Persistence
    volume: DiskInfo.Volume
    def __init__(self, persistence: _Optional[_Union[DiskInfo.Persistence, _Mapping]] = ..., volume: _Optional[_Union[DiskInfo.Volume, _Mapping]] = ...) -> None: ...

class Label(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: str
    def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class Address(_message.Message):
    __slots__ = ("hostname", "ip", "port")
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    hostname: str
    ip: str
    port: int
    def __init__(self, hostname: _Optional[str] = ..., ip: _Optional[str] = ..., port: _Optional[int] = ...) -> None: ...

class MasterInfo(_message.Message):
    __slots__ = ("id", "ip", "port", "hostname", "version", "address", "pid", "http_port", "webui_url")
    ID_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    HTTP_PORT_FIELD_NUMBER: _ClassVar[int]
    WEBUI_URL_FIELD_NUMBER: _ClassVar[int]
    id: str
    ip: str
    port: int
    hostname: str
    version: str
    address: Address
    pid: str
    http_port: int
    webui_url: str
    def __init__(self, id: _Optional[str] = ..., ip: _Optional[str] = ..., port: _Optional[int] = ..., hostname: _Optional[str] = ..., version: _Optional[str] = ..., address: _Optional[_Union[Address, _Mapping]] = ..., pid: _Optional[str] = ..., http_port: _Optional[int] = ..., webui_url: _Optional[str] = ...) -> None: ...

class AgentInfo(_message.Message):
    __slots__ = ("id", "hostname", "port", "resources", "attributes", "version")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    hostname: str
    port: int
    resources: _containers.RepeatedCompositeFieldContainer[Resource]
    attributes: _containers.ScalarMap[str, str]
    version: str
    def __init__(self, id: _Optional[str] = ..., hostname: _Optional[str] = ..., port: _Optional[int] = ..., resources: _Optional[_Iterable[_Union[Resource, _Mapping]]] = ..., attributes: _Optional[_Mapping[str, str]] = ..., version: _Optional[str] = ...) -> None: ...

class FrameworkInfo(_message.Message):
    __slots__ = ("id", "name", "user", "roles", "failover_timeout", "checkpoint", "capabilities", "hostname", "principal", "webui_url", "endpoint", "labels")
    class Capability(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNKNOWN_CAPABILITY: _ClassVar[FrameworkInfo.Capability]
        MULTI_ROLE: _ClassVar[FrameworkInfo.Capability]
        PARTITION_AWARE: _ClassVar[FrameworkInfo.Capability]
        TASK_KILLING_STATE: _ClassVar[FrameworkInfo.Capability]
        REVOCABLE_RESOURCES: _ClassVar[FrameworkInfo.Capability]
        GPU_RESOURCES: _ClassVar[FrameworkInfo.Capability]
    UNKNOWN_CAPABILITY: FrameworkInfo.Capability
    MULTI_ROLE: FrameworkInfo.Capability
    PARTITION_AWARE: FrameworkInfo.Capability
    TASK_KILLING_STATE: FrameworkInfo.Capability
    REVOCABLE_RESOURCES: FrameworkInfo.Capability
    GPU_RESOURCES: FrameworkInfo.Capability
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    FAILOVER_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    WEBUI_URL_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    user: str
    roles: _containers.RepeatedScalarFieldContainer[str]
    failover_timeout: float
    checkpoint: bool
    capabilities: _containers.RepeatedScalarFieldContainer[FrameworkInfo.Capability]
    hostname: str
    principal: str
    webui_url: str
    endpoint: str
    labels: _containers.RepeatedCompositeFieldContainer[Label]
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., user: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ..., failover_timeout: _Optional[float] = ..., checkpoint: _Optional[bool] = ..., capabilities: _Optional[_Iterable[_Union[FrameworkInfo.Capability, str]]] = ..., hostname: _Optional[str] = ..., principal: _Optional[str] = ..., webui_url: _Optional[str] = ..., endpoint: _Optional[str] = ..., labels: _Optional[_Iterable[_Union[Label, _Mapping]]] = ...) -> None: ...

class Offer(_message.Message):
    __slots__ = ("id", "framework_id", "agent_id", "hostname", "resources", "attributes", "role")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    id: str
    framework_id: str
    agent_id: str
    hostname: str
    resources: _containers.RepeatedCompositeFieldContainer[Resource]
    attributes: _containers.ScalarMap[str, str]
    role: str
    def __init__(self, id: _Optional[str] = ..., framework_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., hostname: _Optional[str] = ..., resources: _Optional[_Iterable[_Union[Resource, _Mapping]]] = ..., attributes: _Optional[_Mapping[str, str]] = ..., role: _Optional[str] = ...) -> None: ...

class Filters(_message.Message):
    __slots__ = ("refuse_seconds",)
    REFUSE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    refuse_seconds: float
    def __init__(self, refuse_seconds: _Optional[float] = ...) -> None: ...

class CommandInfo(_message.Message):
    __slots__ = ("shell", "argv", "environment", "user", "uris", "replace_entrypoint")
    class URI(_message.Message):
        __slots__ = ("value", "executable", "extract", "cache", "output_file", "checksum")
        VALUE_FIELD_NUMBER: _ClassVar[int]
        EXECUTABLE_FIELD_NUMBER: _ClassVar[int]
        EXTRACT_FIELD_NUMBER: _ClassVar[int]
        CACHE_FIELD_NUMBER: _ClassVar[int]
        OUTPUT_FILE_FIELD_NUMBER: _ClassVar[int]
        CHECKSUM_FIELD_NUMBER: _ClassVar[int]
        value: str
        executable: bool
        extract: bool
        cache: bool
        output_file: str
        checksum: str
        def __init__(self, value: _Optional[str] = ..., executable: _Optional[bool] = ..., extract: _Optional[bool] = ..., cache: _Optional[bool] = ..., output_file: _Optional[str] = ..., checksum: _Optional[str] = ...) -> None: ...
    class EnvironmentEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SHELL_FIELD_NUMBER: _ClassVar[int]
    ARGV_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    URIS_FIELD_NUMBER: _ClassVar[int]
    REPLACE_ENTRYPOINT_FIELD_NUMBER: _ClassVar[int]
    shell: str
    argv: _containers.RepeatedScalarFieldContainer[str]
    environment: _containers.ScalarMap[str, str]
    user: str
    uris: _containers.RepeatedCompositeFieldContainer[CommandInfo.URI]
    replace_entrypoint: bool
    def __init__(self, shell: _Optional[str] = ..., argv: _Optional[_Iterable[str]] = ..., environment: _Optional[_Mapping[str, str]] = ..., user: _Optional[str] = ..., uris: _Optional[_Iterable[_Union[CommandInfo.URI, _Mapping]]] = ..., replace_entrypoint: _Optional[bool] = ...) -> None: ...

class Image(_message.Message):
    __slots__ = ("type", "docker", "cached")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TYPE_UNSPECIFIED: _ClassVar[Image.Type]
        APPC: _ClassVar[Image.Type]
        DOCKER: _ClassVar[Image.Type]
    TYPE_UNSPECIFIED: Image.Type
    APPC: Image.Type
    DOCKER: Image.Type
    class Docker(_message.Message):
        __slots__ = ("name",)
        NAME_FIELD_NUMBER: _ClassVar[int]
        name: str
        def __init__(self, name: _Optional[str] = ...) -> None: ...
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DOCKER_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    type: Image.Type
    docker: Image.Docker
    cached: bool
    def __init__(self, type: _Optional[_Union[Image.Type, str]] = ..., docker: _Optional[_Union[Image.Docker, _Mapping]] = ..., cached: _Optional[bool] = ...) -> None: ...

class Volume(_message.Message):
    __slots__ = ("container_path", "host_path", "mode")
    class Mode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        MODE_UNSPECIFIED: _ClassVar[Volume.Mode]
        RW: _ClassVar[Volume.Mode]
        RO: _ClassVar[Volume.Mode]
    MODE_UNSPECIFIED: Volume.Mode
    RW: Volume.Mode
    RO: Volume.Mode
    CONTAINER_PATH_FIELD_NUMBER: _ClassVar[int]
    HOST_PATH_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    container_path: str
    host_path: str
    mode: Volume.Mode
    def __init__(self, container_path: _Optional[str] = ..., host_path: _Optional[str] = ..., mode: _Optional[_Union[Volume.Mode, str]] = ...) -> None: ...

class ContainerInfo(_message.Message):
    __slots__ = ("type", "volumes", "hostname", "mesos")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TYPE_UNSPECIFIED: _ClassVar[ContainerInfo.Type]
        DOCKER: _ClassVar[ContainerInfo.Type]
        MESOS: _ClassVar[ContainerInfo.Type]
    TYPE_UNSPECIFIED: ContainerInfo.Type
    DOCKER: ContainerInfo.Type
    MESOS: ContainerInfo.Type
    class MesosInfo(_message.Message):
        __slots__ = ("image",)
        IMAGE_FIELD_NUMBER: _ClassVar[int]
        image: Image
        def __init__(self, image: _Optional[_Union[Image, _Mapping]] = ...) -> None: ...
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    MESOS_FIELD_NUMBER: _ClassVar[int]
    type: ContainerInfo.Type
    volumes: _containers.RepeatedCompositeFieldContainer[Volume]
    hostname: str
    mesos: ContainerInfo.MesosInfo
    def __init__(self, type: _Optional[_Union[ContainerInfo.Type, str]] = ..., volumes: _Optional[_Iterable[_Union[Volume, _Mapping]]] = ..., hostname: _Optional[str] = ..., mesos: _Optional[_Union[ContainerInfo.MesosInfo, _Mapping]] = ...) -> None: ...

class HealthCheck(_message.Message):
    __slots__ = ("type", "delay_seconds", "interval_seconds", "timeout_seconds", "consecutive_failures", "grace_period_seconds", "command", "http", "tcp")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNKNOWN: _ClassVar[HealthCheck.Type]
        COMMAND: _ClassVar[HealthCheck.Type]
        HTTP: _ClassVar[HealthCheck.Type]
        TCP: _ClassVar[HealthCheck.Type]
    UNKNOWN: HealthCheck.Type
    COMMAND: HealthCheck.Type
    HTTP: HealthCheck.Type
    TCP: HealthCheck.Type
    class HTTPCheck(_message.Message):
        __slots__ = ("port", "path", "scheme", "statuses")
        PORT_FIELD_NUMBER: _ClassVar[int]
        PATH_FIELD_NUMBER: _ClassVar[int]
        SCHEME_FIELD_NUMBER: _ClassVar[int]
        STATUSES_FIELD_NUMBER: _ClassVar[int]
        port: int
        path: str
        scheme: str
        statuses: _containers.RepeatedScalarFieldContainer[int]
        def __init__(self, port: _Optional[int] = ..., path: _Optional[str] = ..., scheme: _Optional[str] = ..., statuses: _Optional[_Iterable[int]] = ...) -> None: ...
    class TCPCheck(_message.Message):
        __slots__ = ("port",)
        PORT_FIELD_NUMBER: _ClassVar[int]
        port: int
        def __init__(self, port: _Optional[int] = ...) -> None: ...
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DELAY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CONSECUTIVE_FAILURES_FIELD_NUMBER: _ClassVar[int]
    GRACE_PERIOD_SECONDS_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    HTTP_FIELD_NUMBER: _ClassVar[int]
    TCP_FIELD_NUMBER: _ClassVar[int]
    type: HealthCheck.Type
    delay_seconds: float
    interval_seconds: float
    timeout_seconds: float
    consecutive_failures: int
    grace_period_seconds: float
    command: CommandInfo
    http: HealthCheck.HTTPCheck
    tcp: HealthCheck.TCPCheck
    def __init__(self, type: _Optional[_Union[HealthCheck.Type, str]] = ..., delay_seconds: _Optional[float] = ..., interval_seconds: _Optional[float] = ..., timeout_seconds: _Optional[float] = ..., consecutive_failures: _Optional[int] = ..., grace_period_seconds: _Optional[float] = ..., command: _Optional[_Union[CommandInfo, _Mapping]] = ..., http: _Optional[_Union[HealthCheck.HTTPCheck, _Mapping]] = ..., tcp: _Optional[_Union[HealthCheck.TCPCheck, _Mapping]] = ...) -> None: ...

class KillPolicy(_message.Message):
    __slots__ = ("grace_period_seconds",)
    GRACE_PERIOD_SECONDS_FIELD_NUMBER: _ClassVar[int]
    grace_period_seconds: float
    def __init__(self, grace_period_seconds: _Optional[float] = ...) -> None: ...

class ExecutorInfo(_message.Message):
    __slots__ = ("executor_id", "name", "command", "resources", "framework_id", "type", "container")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CUSTOM: _ClassVar[ExecutorInfo.Type]
        DEFAULT: _ClassVar[ExecutorInfo.Type]
    CUSTOM: ExecutorInfo.Type
    DEFAULT: ExecutorInfo.Type
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    executor_id: str
    name: str
    command: CommandInfo
    resources: _containers.RepeatedCompositeFieldContainer[Resource]
    framework_id: str
    type: ExecutorInfo.Type
    container: ContainerInfo
    def __init__(self, executor_id: _Optional[str] = ..., name: _Optional[str] = ..., command: _Optional[_Union[CommandInfo, _Mapping]] = ..., resources: _Optional[_Iterable[_Union[Resource, _Mapping]]] = ..., framework_id: _Optional[str] = ..., type: _Optional[_Union[ExecutorInfo.Type, str]] = ..., container: _Optional[_Union[ContainerInfo, _Mapping]] = ...) -> None: ...

class TaskGroupInfo(_message.Message):
    __slots__ = ("tasks",)
    TASKS_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[TaskInfo]
    def __init__(self, tasks: _Optional[_Iterable[_Union[TaskInfo, _Mapping]]] = ...) -> None: ...

class TaskInfo(_message.Message):
    __slots__ = ("name", "task_id", "agent_id", "resources", "command", "health_check", "kill_policy", "labels", "max_completion_time_seconds", "container", "executor", "lifecycle")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    HEALTH_CHECK_FIELD_NUMBER: _ClassVar[int]
    KILL_POLICY_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    MAX_COMPLETION_TIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_FIELD_NUMBER: _ClassVar[int]
    LIFECYCLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    task_id: str
    agent_id: str
    resources: _containers.RepeatedCompositeFieldContainer[Resource]
    command: CommandInfo
    health_check: HealthCheck
    kill_policy: KillPolicy
    labels: _containers.RepeatedCompositeFieldContainer[Label]
    max_completion_time_seconds: float
    container: ContainerInfo
    executor: ExecutorInfo
    lifecycle: TaskLifecycle
    def __init__(self, name: _Optional[str] = ..., task_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., resources: _Optional[_Iterable[_Union[Resource, _Mapping]]] = ..., command: _Optional[_Union[CommandInfo, _Mapping]] = ..., health_check: _Optional[_Union[HealthCheck, _Mapping]] = ..., kill_policy: _Optional[_Union[KillPolicy, _Mapping]] = ..., labels: _Optional[_Iterable[_Union[Label, _Mapping]]] = ..., max_completion_time_seconds: _Optional[float] = ..., container: _Optional[_Union[ContainerInfo, _Mapping]] = ..., executor: _Optional[_Union[ExecutorInfo, _Mapping]] = ..., lifecycle: _Optional[_Union[TaskLifecycle, _Mapping]] = ...) -> None: ...

class TaskLifecycle(_message.Message):
    __slots__ = ("hook", "sidecar")
    class Hook(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        MAIN: _ClassVar[TaskLifecycle.Hook]
        PRESTART: _ClassVar[TaskLifecycle.Hook]
        POSTSTART: _ClassVar[TaskLifecycle.Hook]
    MAIN: TaskLifecycle.Hook
    PRESTART: TaskLifecycle.Hook
    POSTSTART: TaskLifecycle.Hook
    HOOK_FIELD_NUMBER: _ClassVar[int]
    SIDECAR_FIELD_NUMBER: _ClassVar[int]
    hook: TaskLifecycle.Hook
    sidecar: bool
    def __init__(self, hook: _Optional[_Union[TaskLifecycle.Hook, str]] = ..., sidecar: _Optional[bool] = ...) -> None: ...

class TaskStatus(_message.Message):
    __slots__ = ("task_id", "state", "reason", "message", "source", "agent_id", "framework_id", "timestamp", "uuid", "healthy", "exit_code", "labels")
    class Source(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        SOURCE_UNSPECIFIED: _ClassVar[TaskStatus.Source]
        SOURCE_MASTER: _ClassVar[TaskStatus.Source]
        SOURCE_AGENT: _ClassVar[TaskStatus.Source]
        SOURCE_EXECUTOR: _ClassVar[TaskStatus.Source]
    SOURCE_UNSPECIFIED: TaskStatus.Source
    SOURCE_MASTER: TaskStatus.Source
    SOURCE_AGENT: TaskStatus.Source
    SOURCE_EXECUTOR: TaskStatus.Source
    class Reason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        REASON_UNSPECIFIED: _ClassVar[TaskStatus.Reason]
        REASON_COMMAND_EXECUTOR_FAILED: _ClassVar[TaskStatus.Reason]
        REASON_CONTAINER_LAUNCH_FAILED: _ClassVar[TaskStatus.Reason]
        REASON_CONTAINER_LIMITATION_MEMORY: _ClassVar[TaskStatus.Reason]
        REASON_CONTAINER_LIMITATION_DISK: _ClassVar[TaskStatus.Reason]
        REASON_TASK_INVALID: _ClassVar[TaskStatus.Reason]
        REASON_TASK_UNKNOWN: _ClassVar[TaskStatus.Reason]
        REASON_AGENT_DISCONNECTED: _ClassVar[TaskStatus.Reason]
        REASON_AGENT_REMOVED: _ClassVar[TaskStatus.Reason]
        REASON_AGENT_RESTARTED: _ClassVar[TaskStatus.Reason]
        REASON_AGENT_UNKNOWN: _ClassVar[TaskStatus.Reason]
        REASON_FRAMEWORK_REMOVED: _ClassVar[TaskStatus.Reason]
        REASON_RECONCILIATION: _ClassVar[TaskStatus.Reason]
        REASON_TASK_KILLED_DURING_LAUNCH: _ClassVar[TaskStatus.Reason]
        REASON_TASK_HEALTH_CHECK_STATUS_UPDATED: _ClassVar[TaskStatus.Reason]
        REASON_TASK_UNHEALTHY: _ClassVar[TaskStatus.Reason]
        REASON_INVALID_OFFERS: _ClassVar[TaskStatus.Reason]
        REASON_MAX_COMPLETION_TIME_REACHED: _ClassVar[TaskStatus.Reason]
        REASON_EXECUTOR_TERMINATED: _ClassVar[TaskStatus.Reason]
        REASON_AGENT_DRAINING: _ClassVar[TaskStatus.Reason]
        REASON_TASK_UNAUTHORIZED: _ClassVar[TaskStatus.Reason]
        REASON_MASTER_DISCONNECTED: _ClassVar[TaskStatus.Reason]
    REASON_UNSPECIFIED: TaskStatus.Reason
    REASON_COMMAND_EXECUTOR_FAILED: TaskStatus.Reason
    REASON_CONTAINER_LAUNCH_FAILED: TaskStatus.Reason
    REASON_CONTAINER_LIMITATION_MEMORY: TaskStatus.Reason
    REASON_CONTAINER_LIMITATION_DISK: TaskStatus.Reason
    REASON_TASK_INVALID: TaskStatus.Reason
    REASON_TASK_UNKNOWN: TaskStatus.Reason
    REASON_AGENT_DISCONNECTED: TaskStatus.Reason
    REASON_AGENT_REMOVED: TaskStatus.Reason
    REASON_AGENT_RESTARTED: TaskStatus.Reason
    REASON_AGENT_UNKNOWN: TaskStatus.Reason
    REASON_FRAMEWORK_REMOVED: TaskStatus.Reason
    REASON_RECONCILIATION: TaskStatus.Reason
    REASON_TASK_KILLED_DURING_LAUNCH: TaskStatus.Reason
    REASON_TASK_HEALTH_CHECK_STATUS_UPDATED: TaskStatus.Reason
    REASON_TASK_UNHEALTHY: TaskStatus.Reason
    REASON_INVALID_OFFERS: TaskStatus.Reason
    REASON_MAX_COMPLETION_TIME_REACHED: TaskStatus.Reason
    REASON_EXECUTOR_TERMINATED: TaskStatus.Reason
    REASON_AGENT_DRAINING: TaskStatus.Reason
    REASON_TASK_UNAUTHORIZED: TaskStatus.Reason
    REASON_MASTER_DISCONNECTED: TaskStatus.Reason
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    UUID_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    state: TaskState
    reason: TaskStatus.Reason
    message: str
    source: TaskStatus.Source
    agent_id: str
    framework_id: str
    timestamp: float
    uuid: bytes
    healthy: bool
    exit_code: int
    labels: _containers.RepeatedCompositeFieldContainer[Label]
    def __init__(self, task_id: _Optional[str] = ..., state: _Optional[_Union[TaskState, str]] = ..., reason: _Optional[_Union[TaskStatus.Reason, str]] = ..., message: _Optional[str] = ..., source: _Optional[_Union[TaskStatus.Source, str]] = ..., agent_id: _Optional[str] = ..., framework_id: _Optional[str] = ..., timestamp: _Optional[float] = ..., uuid: _Optional[bytes] = ..., healthy: _Optional[bool] = ..., exit_code: _Optional[int] = ..., labels: _Optional[_Iterable[_Union[Label, _Mapping]]] = ...) -> None: ...

class Task(_message.Message):
    __slots__ = ("name", "task_id", "framework_id", "agent_id", "state", "resources", "status", "labels", "role", "command", "health_check", "kill_policy", "max_completion_time_seconds", "container", "executor")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    HEALTH_CHECK_FIELD_NUMBER: _ClassVar[int]
    KILL_POLICY_FIELD_NUMBER: _ClassVar[int]
    MAX_COMPLETION_TIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_FIELD_NUMBER: _ClassVar[int]
    name: str
    task_id: str
    framework_id: str
    agent_id: str
    state: TaskState
    resources: _containers.RepeatedCompositeFieldContainer[Resource]
    status: TaskStatus
    labels: _containers.RepeatedCompositeFieldContainer[Label]
    role: str
    command: CommandInfo
    health_check: HealthCheck
    kill_policy: KillPolicy
    max_completion_time_seconds: float
    container: ContainerInfo
    executor: ExecutorInfo
    def __init__(self, name: _Optional[str] = ..., task_id: _Optional[str] = ..., framework_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., state: _Optional[_Union[TaskState, str]] = ..., resources: _Optional[_Iterable[_Union[Resource, _Mapping]]] = ..., status: _Optional[_Union[TaskStatus, _Mapping]] = ..., labels: _Optional[_Iterable[_Union[Label, _Mapping]]] = ..., role: _Optional[str] = ..., command: _Optional[_Union[CommandInfo, _Mapping]] = ..., health_check: _Optional[_Union[HealthCheck, _Mapping]] = ..., kill_policy: _Optional[_Union[KillPolicy, _Mapping]] = ..., max_completion_time_seconds: _Optional[float] = ..., container: _Optional[_Union[ContainerInfo, _Mapping]] = ..., executor: _Optional[_Union[ExecutorInfo, _Mapping]] = ...) -> None: ...
