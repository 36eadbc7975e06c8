from mesospy.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RegisterAgentRequest(_message.Message):
    __slots__ = ("agent_info", "call_token")
    AGENT_INFO_FIELD_NUMBER: _ClassVar[int]
    CALL_TOKEN_FIELD_NUMBER: _ClassVar[int]
    agent_info: _common_pb2.AgentInfo
    call_token: str
    def __init__(self, agent_info: _Optional[_Union[_common_pb2.AgentInfo, _Mapping]] = ..., call_token: _Optional[str] = ...) -> None: ...

class RegisterAgentResponse(_message.Message):
    __slots__ = ("agent_id", "master_info", "heartbeat_interval_seconds")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    MASTER_INFO_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    master_info: _common_pb2.MasterInfo
    heartbeat_interval_seconds: float
    def __init__(self, agent_id: _Optional[str] = ..., master_info: _Optional[_Union[_common_pb2.MasterInfo, _Mapping]] = ..., heartbeat_interval_seconds: _Optional[float] = ...) -> None: ...

class ReregisterAgentRequest(_message.Message):
    __slots__ = ("agent_info", "tasks", "frameworks", "call_token", "executors", "checkpointed_resources")
    AGENT_INFO_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORKS_FIELD_NUMBER: _ClassVar[int]
    CALL_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXECUTORS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINTED_RESOURCES_FIELD_NUMBER: _ClassVar[int]
    agent_info: _common_pb2.AgentInfo
    tasks: _containers.RepeatedCompositeFieldContainer[_common_pb2.Task]
    frameworks: _containers.RepeatedCompositeFieldContainer[_common_pb2.FrameworkInfo]
    call_token: str
    executors: _containers.RepeatedCompositeFieldContainer[_common_pb2.ExecutorInfo]
    checkpointed_resources: _containers.RepeatedCompositeFieldContainer[_common_pb2.Resource]
    def __init__(self, agent_info: _Optional[_Union[_common_pb2.AgentInfo, _Mapping]] = ..., tasks: _Optional[_Iterable[_Union[_common_pb2.Task, _Mapping]]] = ..., frameworks: _Optional[_Iterable[_Union[_common_pb2.FrameworkInfo, _Mapping]]] = ..., call_token: _Optional[str] = ..., executors: _Optional[_Iterable[_Union[_common_pb2.ExecutorInfo, _Mapping]]] = ..., checkpointed_resources: _Optional[_Iterable[_Union[_common_pb2.Resource, _Mapping]]] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("reregister",)
    REREGISTER_FIELD_NUMBER: _ClassVar[int]
    reregister: bool
    def __init__(self, reregister: _Optional[bool] = ...) -> None: ...

class StatusUpdate(_message.Message):
    __slots__ = ("framework_id", "status", "latest_state")
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LATEST_STATE_FIELD_NUMBER: _ClassVar[int]
    framework_id: str
    status: _common_pb2.TaskStatus
    latest_state: _common_pb2.TaskState
    def __init__(self, framework_id: _Optional[str] = ..., status: _Optional[_Union[_common_pb2.TaskStatus, _Mapping]] = ..., latest_state: _Optional[_Union[_common_pb2.TaskState, str]] = ...) -> None: ...

class StatusUpdates(_message.Message):
    __slots__ = ("agent_id", "updates")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    updates: _containers.RepeatedCompositeFieldContainer[StatusUpdate]
    def __init__(self, agent_id: _Optional[str] = ..., updates: _Optional[_Iterable[_Union[StatusUpdate, _Mapping]]] = ...) -> None: ...

class UpdateStatusResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AgentMessage(_message.Message):
    __slots__ = ("register", "reregister", "heartbeat", "updates", "resume", "executor_messages", "executor_exited", "standby")
    REGISTER_FIELD_NUMBER: _ClassVar[int]
    REREGISTER_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    RESUME_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_EXITED_FIELD_NUMBER: _ClassVar[int]
    STANDBY_FIELD_NUMBER: _ClassVar[int]
    register: RegisterAgentRequest
    reregister: ReregisterAgentRequest
    heartbeat: HeartbeatRequest
    updates: StatusUpdates
    resume: ResumeSession
    executor_messages: ExecutorMessages
    executor_exited: ExecutorExited
    standby: bool
    def __init__(self, register: _Optional[_Union[RegisterAgentRequest, _Mapping]] = ..., reregister: _Optional[_Union[ReregisterAgentRequest, _Mapping]] = ..., heartbeat: _Optional[_Union[HeartbeatRequest, _Mapping]] = ..., updates: _Optional[_Union[StatusUpdates, _Mapping]] = ..., resume: _Optional[_Union[ResumeSession, _Mapping]] = ..., executor_messages: _Optional[_Union[ExecutorMessages, _Mapping]] = ..., executor_exited: _Optional[_Union[ExecutorExited, _Mapping]] = ..., standby: _Optional[bool] = ...) -> None: ...

class ResumeSession(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class StandingBy(_message.Message):
    __slots__ = ("master_info", "heartbeat_interval_seconds")
    MASTER_INFO_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    master_info: _common_pb2.MasterInfo
    heartbeat_interval_seconds: float
    def __init__(self, master_info: _Optional[_Union[_common_pb2.MasterInfo, _Mapping]] = ..., heartbeat_interval_seconds: _Optional[float] = ...) -> None: ...

class MasterMessage(_message.Message):
    __slots__ = ("registered", "heartbeat", "acknowledgements", "run_tasks", "kill_task", "shutdown_framework", "standing_by", "framework_messages", "shutdown_executor", "checkpoint_resources")
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGEMENTS_FIELD_NUMBER: _ClassVar[int]
    RUN_TASKS_FIELD_NUMBER: _ClassVar[int]
    KILL_TASK_FIELD_NUMBER: _ClassVar[int]
    SHUTDOWN_FRAMEWORK_FIELD_NUMBER: _ClassVar[int]
    STANDING_BY_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    SHUTDOWN_EXECUTOR_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_RESOURCES_FIELD_NUMBER: _ClassVar[int]
    registered: RegisterAgentResponse
    heartbeat: HeartbeatResponse
    acknowledgements: AcknowledgeUpdatesRequest
    run_tasks: RunTasksRequest
    kill_task: KillTaskRequest
    shutdown_framework: ShutdownFrameworkRequest
    standing_by: StandingBy
    framework_messages: ExecutorMessages
    shutdown_executor: ShutdownExecutorRequest
    checkpoint_resources: CheckpointResourcesRequest
    def __init__(self, registered: _Optional[_Union[RegisterAgentResponse, _Mapping]] = ..., heartbeat: _Optional[_Union[HeartbeatResponse, _Mapping]] = ..., acknowledgements: _Optional[_Union[AcknowledgeUpdatesRequest, _Mapping]] = ..., run_tasks: _Optional[_Union[RunTasksRequest, _Mapping]] = ..., kill_task: _Optional[_Union[KillTaskRequest, _Mapping]] = ..., shutdown_framework: _Optional[_Union[ShutdownFrameworkRequest, _Mapping]] = ..., standing_by: _Optional[_Union[StandingBy, _Mapping]] = ..., framework_messages: _Optional[_Union[ExecutorMessages, _Mapping]] = ..., shutdown_executor: _Optional[_Union[ShutdownExecutorRequest, _Mapping]] = ..., checkpoint_resources: _Optional[_Union[CheckpointResourcesRequest, _Mapping]] = ...) -> None: ...

class CheckpointResourcesRequest(_message.Message):
    __slots__ = ("resources",)
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    resources: _containers.RepeatedCompositeFieldContainer[_common_pb2.Resource]
    def __init__(self, resources: _Optional[_Iterable[_Union[_common_pb2.Resource, _Mapping]]] = ...) -> None: ...

class ExecutorMessage(_message.Message):
    __slots__ = ("framework_id", "executor_id", "data")
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    framework_id: str
    executor_id: str
    data: bytes
    def __init__(self, framework_id: _Optional[str] = ..., executor_id: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class ExecutorMessages(_message.Message):
    __slots__ = ("messages",)
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[ExecutorMessage]
    def __init__(self, messages: _Optional[_Iterable[_Union[ExecutorMessage, _Mapping]]] = ...) -> None: ...

class ExecutorExited(_message.Message):
    __slots__ = ("framework_id", "executor_id", "status")
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    framework_id: str
    executor_id: str
    status: int
    def __init__(self, framework_id: _Optional[str] = ..., executor_id: _Optional[str] = ..., status: _Optional[int] = ...) -> None: ...

class ShutdownExecutorRequest(_message.Message):
    __slots__ = ("framework_id", "executor_id")
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    framework_id: str
    executor_id: str
    def __init__(self, framework_id: _Optional[str] = ..., executor_id: _Optional[str] = ...) -> None: ...

class RunTasksRequest(_message.Message):
    __slots__ = ("framework_info", "tasks", "group")
    FRAMEWORK_INFO_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    framework_info: _common_pb2.FrameworkInfo
    tasks: _containers.RepeatedCompositeFieldContainer[_common_pb2.TaskInfo]
    group: bool
    def __init__(self, framework_info: _Optional[_Union[_common_pb2.FrameworkInfo, _Mapping]] = ..., tasks: _Optional[_Iterable[_Union[_common_pb2.TaskInfo, _Mapping]]] = ..., group: _Optional[bool] = ...) -> None: ...

class KillTaskRequest(_message.Message):
    __slots__ = ("framework_id", "task_id", "kill_policy")
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    KILL_POLICY_FIELD_NUMBER: _ClassVar[int]
    framework_id: str
    task_id: str
    kill_policy: _common_pb2.KillPolicy
    def __init__(self, framework_id: _Optional[str] = ..., task_id: _Optional[str] = ..., kill_policy: _Optional[_Union[_common_pb2.KillPolicy, _Mapping]] = ...) -> None: ...

class AcknowledgeUpdatesRequest(_message.Message):
    __slots__ = ("acks",)
    class Ack(_message.Message):
        __slots__ = ("framework_id", "task_id", "uuid")
        FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
        TASK_ID_FIELD_NUMBER: _ClassVar[int]
        UUID_FIELD_NUMBER: _ClassVar[int]
        framework_id: str
        task_id: str
        uuid: bytes
        def __init__(self, framework_id: _Optional[str] = ..., task_id: _Optional[str] = ..., uuid: _Optional[bytes] = ...) -> None: ...
    ACKS_FIELD_NUMBER: _ClassVar[int]
    acks: _containers.RepeatedCompositeFieldContainer[AcknowledgeUpdatesRequest.Ack]
    def __init__(self, acks: _Optional[_Iterable[_Union[AcknowledgeUpdatesRequest.Ack, _Mapping]]] = ...) -> None: ...

class ShutdownFrameworkRequest(_message.Message):
    __slots__ = ("framework_id",)
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    framework_id: str
    def __init__(self, framework_id: _Optional[str] = ...) -> None: ...

class AgentResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReadFileRequest(_message.Message):
    __slots__ = ("framework_id", "task_id", "path", "offset", "length")
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    framework_id: str
    task_id: str
    path: str
    offset: int
    length: int
    def __init__(self, framework_id: _Optional[str] = ..., task_id: _Optional[str] = ..., path: _Optional[str] = ..., offset: _Optional[int] = ..., length: _Optional[int] = ...) -> None: ...

class ReadFileResponse(_message.Message):
    __slots__ = ("data", "offset", "size", "task_terminal")
    DATA_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    TASK_TERMINAL_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    offset: int
    size: int
    task_terminal: bool
    def __init__(self, data: _Optional[bytes] = ..., offset: _Optional[int] = ..., size: _Optional[int] = ..., task_terminal: _Optional[bool] = ...) -> None: ...

class ListFilesRequest(_message.Message):
    __slots__ = ("framework_id", "task_id", "path")
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    framework_id: str
    task_id: str
    path: str
    def __init__(self, framework_id: _Optional[str] = ..., task_id: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class FileInfo(_message.Message):
    __slots__ = ("path", "size", "is_dir", "mtime", "mode")
    PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    IS_DIR_FIELD_NUMBER: _ClassVar[int]
    MTIME_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    path: str
    size: int
    is_dir: bool
    mtime: float
    mode: int
    def __init__(self, path: _Optional[str] = ..., size: _Optional[int] = ..., is_dir: _Optional[bool] = ..., mtime: _Optional[float] = ..., mode: _Optional[int] = ...) -> None: ...

class ListFilesResponse(_message.Message):
    __slots__ = ("files", "task_terminal")
    FILES_FIELD_NUMBER: _ClassVar[int]
    TASK_TERMINAL_FIELD_NUMBER: _ClassVar[int]
    files: _containers.RepeatedCompositeFieldContainer[FileInfo]
    task_terminal: bool
    def __init__(self, files: _Optional[_Iterable[_Union[FileInfo, _Mapping]]] = ..., task_terminal: _Optional[bool] = ...) -> None: ...
