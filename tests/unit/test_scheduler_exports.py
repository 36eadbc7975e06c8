"""The SDK's public names are exactly the intended ones."""

import mesospy.scheduler as sdk

PUBLIC = {
    "TERMINAL_STATES",
    "Artifact",
    "Backoff",
    "CallRejected",
    "ContainerSpec",
    "DocumentTooLarge",
    "DriverStopped",
    "FrameworkRemoved",
    "InvalidCall",
    "MasterUnavailable",
    "MaybeAwaitable",
    "MesospyError",
    "NotFound",
    "PreconditionFailed",
    "Scheduler",
    "SchedulerDriver",
    "StateStore",
    "calls",
    "default_executor",
    "executor",
    "executor_task",
    "how_many_fit",
    "is_terminal",
    "offer_resources",
    "open_store",
    "parse_container",
    "parse_fetch",
    "state_name",
    "task",
    "uri",
}


def test_exported_names() -> None:
    assert set(sdk.__all__) == PUBLIC
    for name in sdk.__all__:
        assert hasattr(sdk, name)


def test_every_public_callable_has_a_docstring() -> None:
    for name in sdk.__all__:
        obj = getattr(sdk, name)
        if callable(obj) and isinstance(obj, type):
            assert obj.__doc__, name
            for attr, member in vars(obj).items():
                if callable(member) and not attr.startswith("_"):
                    assert member.__doc__, f"{name}.{attr}"
        elif callable(obj):
            assert obj.__doc__, name
