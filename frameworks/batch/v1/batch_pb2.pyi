from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubmitJobRequest(_message.Message):
    __slots__ = ("spec", "no_run")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    NO_RUN_FIELD_NUMBER: _ClassVar[int]
    spec: str
    no_run: bool
    def __init__(self, spec: _Optional[str] = ..., no_run: _Optional[bool] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("name", "spec_json", "suspended", "schedule", "next_tick", "parents", "active_runs", "total_runs", "last_run", "created", "updated", "framework_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPEC_JSON_FIELD_NUMBER: _ClassVar[int]
    SUSPENDED_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    NEXT_TICK_FIELD_NUMBER: _ClassVar[int]
    PARENTS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_RUNS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_RUNS_FIELD_NUMBER: _ClassVar[int]
    LAST_RUN_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    spec_json: str
    suspended: bool
    schedule: str
    next_tick: float
    parents: _containers.RepeatedScalarFieldContainer[str]
    active_runs: int
    total_runs: int
    last_run: Run
    created: float
    updated: float
    framework_id: str
    def __init__(self, name: _Optional[str] = ..., spec_json: _Optional[str] = ..., suspended: _Optional[bool] = ..., schedule: _Optional[str] = ..., next_tick: _Optional[float] = ..., parents: _Optional[_Iterable[str]] = ..., active_runs: _Optional[int] = ..., total_runs: _Optional[int] = ..., last_run: _Optional[_Union[Run, _Mapping]] = ..., created: _Optional[float] = ..., updated: _Optional[float] = ..., framework_id: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteJobRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteJobResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetSuspendedRequest(_message.Message):
    __slots__ = ("name", "suspended")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUSPENDED_FIELD_NUMBER: _ClassVar[int]
    name: str
    suspended: bool
    def __init__(self, name: _Optional[str] = ..., suspended: _Optional[bool] = ...) -> None: ...

class RunJobRequest(_message.Message):
    __slots__ = ("name", "params")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    name: str
    params: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., params: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Instance(_message.Message):
    __slots__ = ("index", "state", "attempt", "failures", "task_id", "agent_id", "exit_code", "started", "finished", "message", "unplaced", "containers")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    UNPLACED_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    index: int
    state: str
    attempt: int
    failures: int
    task_id: str
    agent_id: str
    exit_code: int
    started: float
    finished: float
    message: str
    unplaced: str
    containers: _containers.RepeatedCompositeFieldContainer[ContainerResult]
    def __init__(self, index: _Optional[int] = ..., state: _Optional[str] = ..., attempt: _Optional[int] = ..., failures: _Optional[int] = ..., task_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., exit_code: _Optional[int] = ..., started: _Optional[float] = ..., finished: _Optional[float] = ..., message: _Optional[str] = ..., unplaced: _Optional[str] = ..., containers: _Optional[_Iterable[_Union[ContainerResult, _Mapping]]] = ...) -> None: ...

class ContainerResult(_message.Message):
    __slots__ = ("name", "state", "exit_code", "message")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: str
    exit_code: int
    message: str
    def __init__(self, name: _Optional[str] = ..., state: _Optional[str] = ..., exit_code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class Run(_message.Message):
    __slots__ = ("job", "id", "state", "trigger", "scheduled_time", "created", "started", "finished", "exit_code", "message", "params", "instances", "framework_id")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    JOB_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    job: str
    id: str
    state: str
    trigger: str
    scheduled_time: float
    created: float
    started: float
    finished: float
    exit_code: int
    message: str
    params: _containers.ScalarMap[str, str]
    instances: _containers.RepeatedCompositeFieldContainer[Instance]
    framework_id: str
    def __init__(self, job: _Optional[str] = ..., id: _Optional[str] = ..., state: _Optional[str] = ..., trigger: _Optional[str] = ..., scheduled_time: _Optional[float] = ..., created: _Optional[float] = ..., started: _Optional[float] = ..., finished: _Optional[float] = ..., exit_code: _Optional[int] = ..., message: _Optional[str] = ..., params: _Optional[_Mapping[str, str]] = ..., instances: _Optional[_Iterable[_Union[Instance, _Mapping]]] = ..., framework_id: _Optional[str] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ("runs",)
    RUNS_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[Run]
    def __init__(self, runs: _Optional[_Iterable[_Union[Run, _Mapping]]] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("name", "run_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    run_id: str
    def __init__(self, name: _Optional[str] = ..., run_id: _Optional[str] = ...) -> None: ...

class CancelRunRequest(_message.Message):
    __slots__ = ("name", "run_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    run_id: str
    def __init__(self, name: _Optional[str] = ..., run_id: _Optional[str] = ...) -> None: ...
