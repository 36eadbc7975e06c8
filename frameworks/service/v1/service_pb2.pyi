from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Instance(_message.Message):
    __slots__ = ("task_id", "app_id", "version", "agent_id", "hostname", "state", "health", "ready", "ports", "launched_at", "killing", "kill_reason", "containers")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    LAUNCHED_AT_FIELD_NUMBER: _ClassVar[int]
    KILLING_FIELD_NUMBER: _ClassVar[int]
    KILL_REASON_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    app_id: str
    version: str
    agent_id: str
    hostname: str
    state: str
    health: str
    ready: bool
    ports: _containers.RepeatedScalarFieldContainer[int]
    launched_at: float
    killing: bool
    kill_reason: str
    containers: _containers.RepeatedCompositeFieldContainer[InstanceContainer]
    def __init__(self, task_id: _Optional[str] = ..., app_id: _Optional[str] = ..., version: _Optional[str] = ..., agent_id: _Optional[str] = ..., hostname: _Optional[str] = ..., state: _Optional[str] = ..., health: _Optional[str] = ..., ready: _Optional[bool] = ..., ports: _Optional[_Iterable[int]] = ..., launched_at: _Optional[float] = ..., killing: _Optional[bool] = ..., kill_reason: _Optional[str] = ..., containers: _Optional[_Iterable[_Union[InstanceContainer, _Mapping]]] = ...) -> None: ...

class InstanceContainer(_message.Message):
    __slots__ = ("name", "task_id", "state", "health", "sidecar", "message")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    SIDECAR_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    name: str
    task_id: str
    state: str
    health: str
    sidecar: bool
    message: str
    def __init__(self, name: _Optional[str] = ..., task_id: _Optional[str] = ..., state: _Optional[str] = ..., health: _Optional[str] = ..., sidecar: _Optional[bool] = ..., message: _Optional[str] = ...) -> None: ...

class Deployment(_message.Message):
    __slots__ = ("id", "app_id", "kind", "from_version", "to_version", "status", "message", "started_at", "deadline", "finished_at", "failures")
    ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FROM_VERSION_FIELD_NUMBER: _ClassVar[int]
    TO_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    id: str
    app_id: str
    kind: str
    from_version: str
    to_version: str
    status: str
    message: str
    started_at: float
    deadline: float
    finished_at: float
    failures: int
    def __init__(self, id: _Optional[str] = ..., app_id: _Optional[str] = ..., kind: _Optional[str] = ..., from_version: _Optional[str] = ..., to_version: _Optional[str] = ..., status: _Optional[str] = ..., message: _Optional[str] = ..., started_at: _Optional[float] = ..., deadline: _Optional[float] = ..., finished_at: _Optional[float] = ..., failures: _Optional[int] = ...) -> None: ...

class App(_message.Message):
    __slots__ = ("id", "version", "spec_json", "instances", "running", "healthy", "deployment", "instance_list", "vip", "last_healthy_version", "notes", "deleting", "residents")
    ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SPEC_JSON_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_LIST_FIELD_NUMBER: _ClassVar[int]
    VIP_FIELD_NUMBER: _ClassVar[int]
    LAST_HEALTHY_VERSION_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    DELETING_FIELD_NUMBER: _ClassVar[int]
    RESIDENTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    version: str
    spec_json: str
    instances: int
    running: int
    healthy: int
    deployment: Deployment
    instance_list: _containers.RepeatedCompositeFieldContainer[Instance]
    vip: str
    last_healthy_version: str
    notes: _containers.RepeatedScalarFieldContainer[str]
    deleting: bool
    residents: _containers.RepeatedCompositeFieldContainer[ResidentInstance]
    def __init__(self, id: _Optional[str] = ..., version: _Optional[str] = ..., spec_json: _Optional[str] = ..., instances: _Optional[int] = ..., running: _Optional[int] = ..., healthy: _Optional[int] = ..., deployment: _Optional[_Union[Deployment, _Mapping]] = ..., instance_list: _Optional[_Iterable[_Union[Instance, _Mapping]]] = ..., vip: _Optional[str] = ..., last_healthy_version: _Optional[str] = ..., notes: _Optional[_Iterable[str]] = ..., deleting: _Optional[bool] = ..., residents: _Optional[_Iterable[_Union[ResidentInstance, _Mapping]]] = ...) -> None: ...

class ResidentInstance(_message.Message):
    __slots__ = ("id", "agent_id", "hostname", "state", "task_id", "volumes")
    ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    id: str
    agent_id: str
    hostname: str
    state: str
    task_id: str
    volumes: _containers.RepeatedCompositeFieldContainer[ResidentVolume]
    def __init__(self, id: _Optional[str] = ..., agent_id: _Optional[str] = ..., hostname: _Optional[str] = ..., state: _Optional[str] = ..., task_id: _Optional[str] = ..., volumes: _Optional[_Iterable[_Union[ResidentVolume, _Mapping]]] = ...) -> None: ...

class ResidentVolume(_message.Message):
    __slots__ = ("persistence_id", "container_path", "size")
    PERSISTENCE_ID_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    persistence_id: str
    container_path: str
    size: float
    def __init__(self, persistence_id: _Optional[str] = ..., container_path: _Optional[str] = ..., size: _Optional[float] = ...) -> None: ...

class AppVersion(_message.Message):
    __slots__ = ("version", "created_at", "spec_json", "current", "last_healthy", "failed")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SPEC_JSON_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    LAST_HEALTHY_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    version: str
    created_at: float
    spec_json: str
    current: bool
    last_healthy: bool
    failed: bool
    def __init__(self, version: _Optional[str] = ..., created_at: _Optional[float] = ..., spec_json: _Optional[str] = ..., current: _Optional[bool] = ..., last_healthy: _Optional[bool] = ..., failed: _Optional[bool] = ...) -> None: ...

class Endpoint(_message.Message):
    __slots__ = ("host", "port", "task_id", "version", "active_connections")
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    host: str
    port: int
    task_id: str
    version: str
    active_connections: int
    def __init__(self, host: _Optional[str] = ..., port: _Optional[int] = ..., task_id: _Optional[str] = ..., version: _Optional[str] = ..., active_connections: _Optional[int] = ...) -> None: ...

class DeployRequest(_message.Message):
    __slots__ = ("spec_json", "dry_run")
    SPEC_JSON_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    spec_json: str
    dry_run: bool
    def __init__(self, spec_json: _Optional[str] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class DeployResponse(_message.Message):
    __slots__ = ("app", "deployment")
    APP_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    app: App
    deployment: Deployment
    def __init__(self, app: _Optional[_Union[App, _Mapping]] = ..., deployment: _Optional[_Union[Deployment, _Mapping]] = ...) -> None: ...

class AppRequest(_message.Message):
    __slots__ = ("app_id",)
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    def __init__(self, app_id: _Optional[str] = ...) -> None: ...

class ListAppsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAppsResponse(_message.Message):
    __slots__ = ("apps",)
    APPS_FIELD_NUMBER: _ClassVar[int]
    apps: _containers.RepeatedCompositeFieldContainer[App]
    def __init__(self, apps: _Optional[_Iterable[_Union[App, _Mapping]]] = ...) -> None: ...

class ScaleRequest(_message.Message):
    __slots__ = ("app_id", "instances")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    instances: int
    def __init__(self, app_id: _Optional[str] = ..., instances: _Optional[int] = ...) -> None: ...

class RollbackRequest(_message.Message):
    __slots__ = ("app_id", "version")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    version: str
    def __init__(self, app_id: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class ListVersionsResponse(_message.Message):
    __slots__ = ("versions",)
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[AppVersion]
    def __init__(self, versions: _Optional[_Iterable[_Union[AppVersion, _Mapping]]] = ...) -> None: ...

class ListDeploymentsRequest(_message.Message):
    __slots__ = ("app_id", "history")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    history: bool
    def __init__(self, app_id: _Optional[str] = ..., history: _Optional[bool] = ...) -> None: ...

class ListDeploymentsResponse(_message.Message):
    __slots__ = ("deployments",)
    DEPLOYMENTS_FIELD_NUMBER: _ClassVar[int]
    deployments: _containers.RepeatedCompositeFieldContainer[Deployment]
    def __init__(self, deployments: _Optional[_Iterable[_Union[Deployment, _Mapping]]] = ...) -> None: ...

class GetEndpointsResponse(_message.Message):
    __slots__ = ("vip", "endpoints")
    VIP_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    vip: str
    endpoints: _containers.RepeatedCompositeFieldContainer[Endpoint]
    def __init__(self, vip: _Optional[str] = ..., endpoints: _Optional[_Iterable[_Union[Endpoint, _Mapping]]] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ("app",)
    APP_FIELD_NUMBER: _ClassVar[int]
    app: App
    def __init__(self, app: _Optional[_Union[App, _Mapping]] = ...) -> None: ...
