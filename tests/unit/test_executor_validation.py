"""The master's checks of an ExecutorInfo's image (plain data)."""

from mesospy.master.executors import executor_problem, same_executor
from mesospy.scheduler import default_executor, executor


def test_a_custom_executor_may_run_in_an_image() -> None:
    info = executor("e", "./run", "cpus:0.1", image="registry:5000/tools:1")
    assert executor_problem(info, "task 't'") is None
    # In an image, the image's Entrypoint/Cmd may stand for the command.
    info.command.ClearField("shell")
    assert executor_problem(info, "task 't'") is None


def test_bad_executor_images_are_refused() -> None:
    bad = executor("e", "./run", image="Not A Name!")
    problem = executor_problem(bad, "task 't'")
    assert problem is not None and "executor 'e'" in problem and "image" in problem
    default = default_executor("pod")
    default.container.mesos.image.docker.name = "registry:5000/tools:1"
    problem = executor_problem(default, "task 't'")
    assert problem is not None and "give the image to a CUSTOM executor" in problem


def test_the_same_executor_id_with_another_image_is_another_executor() -> None:
    one = executor("e", "./run", image="registry:5000/tools:1")
    assert same_executor(one, executor("e", "./run", image="registry:5000/tools:1"))
    assert not same_executor(one, executor("e", "./run", image="registry:5000/tools:2"))
    assert not same_executor(one, executor("e", "./run"))
