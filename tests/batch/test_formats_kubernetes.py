"""Kubernetes batch/v1 Job and CronJob manifests read as native job specs (pure)."""

from __future__ import annotations

import pytest

from frameworks.batch.formats import convert, detect, load_job
from frameworks.batch.formats.kubernetes import cpu_quantity, memory_quantity
from frameworks.batch.runs import Run
from frameworks.batch.spec import SpecError

# The shape of the "hello" CronJob of the Kubernetes docs, without its image.
CRONJOB = """
apiVersion: batch/v1
kind: CronJob
metadata:
  name: hello
  namespace: default
spec:
  schedule: "* * * * *"
  timeZone: Etc/UTC
  concurrencyPolicy: Forbid
  startingDeadlineSeconds: 200
  successfulJobsHistoryLimit: 5
  failedJobsHistoryLimit: 2
  suspend: false
  jobTemplate:
    spec:
      backoffLimit: 2
      activeDeadlineSeconds: 100
      ttlSecondsAfterFinished: 3600
      template:
        metadata:
          labels: {app: hello}
        spec:
          containers:
          - name: hello
            imagePullPolicy: IfNotPresent
            command: [/bin/sh, -c]
            args: ["date; echo Hello from the Kubernetes cluster"]
            env:
            - {name: GREETING, value: hi}
            resources:
              requests: {cpu: 250m, memory: 64Mi}
              limits: {cpu: 500m, memory: 128Mi}
          restartPolicy: OnFailure
"""

# The Indexed Job of the docs' "Indexed Job for parallel processing" shape.
INDEXED = """
apiVersion: batch/v1
kind: Job
metadata:
  name: indexed-job
spec:
  completions: 5
  parallelism: 3
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: worker
        command: ["sh", "-c", "echo item $JOB_COMPLETION_INDEX of $(TOTAL)"]
        env:
        - name: TOTAL
          value: "5"
        - name: INPUT
          valueFrom:
            fieldRef:
              fieldPath: metadata.annotations['batch.kubernetes.io/job-completion-index']
"""

# The docs' podFailurePolicy example (exit code 42 fails the job, disruptions ignored).
FAILURE_POLICY = """
apiVersion: batch/v1
kind: Job
metadata:
  name: job-pod-failure-policy-example
spec:
  completions: 12
  parallelism: 3
  backoffLimit: 6
  podFailurePolicy:
    rules:
    - action: FailJob
      onExitCodes:
        containerName: main
        operator: In
        values: [42]
    - action: Ignore
      onPodConditions:
      - type: DisruptionTarget
    - action: Ignore
      onExitCodes: {operator: In, values: [3]}
    - action: Count
      onExitCodes: {operator: NotIn, values: [0, 1]}
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        command: ["bash"]
        args: ["-c", "echo 'Hello world!' && sleep 5 && exit 42"]
"""


def refused(text: str) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as caught:
        load_job(text)
    return caught.value.problems


def test_a_cronjob_maps_onto_the_native_schedule_history_and_retries() -> None:
    loaded = load_job(CRONJOB)
    spec = loaded.spec
    assert spec.name == "hello"
    assert spec.command == ("/bin/sh", "-c", "date; echo Hello from the Kubernetes cluster")
    assert spec.env == {"GREETING": "hi"}
    assert (spec.cpus, spec.mem) == (0.25, 64.0)  # the requests
    assert spec.labels == {"app": "hello"}
    assert spec.schedule is not None
    s = spec.schedule
    assert (s.cron, s.timezone, s.concurrency) == ("* * * * *", "Etc/UTC", "Forbid")
    assert (s.starting_deadline, s.catch_up, s.suspend) == (200.0, "latest", False)
    assert (spec.history.succeeded, spec.history.failed, spec.history.ttl) == (5, 2, 3600.0)
    assert (spec.retries.limit, spec.retries.per) == (2, "run")
    assert spec.timeout == 100.0
    conversion = loaded.conversion
    assert conversion is not None and conversion.format == "kubernetes"
    changed = dict(conversion.changed)
    assert "spec.jobTemplate.spec.template.spec.restartPolicy" in changed
    assert "spec.jobTemplate.spec.ttlSecondsAfterFinished" in changed
    warning = conversion.warning()
    assert "metadata.namespace (no namespaces here)" in warning
    assert "containers[0].name" in warning and "imagePullPolicy" in warning


def test_history_limits_default_to_kubernetes_and_backoff_limit_to_six() -> None:
    text = CRONJOB.replace("  successfulJobsHistoryLimit: 5\n", "").replace(
        "  failedJobsHistoryLimit: 2\n", ""
    )
    text = text.replace("      backoffLimit: 2\n", "")
    spec = load_job(text).spec
    assert (spec.history.succeeded, spec.history.failed) == (3, 1)
    assert spec.retries.limit == 6
    assert (spec.retries.backoff, spec.retries.max_backoff) == (10.0, 360.0)


def test_an_indexed_job_gives_each_instance_its_index() -> None:
    spec = load_job(INDEXED).spec
    assert (spec.instances, spec.parallelism) == (5, 3)
    assert spec.index_env == ("JOB_COMPLETION_INDEX", "INPUT")
    # $(TOTAL) is Kubernetes' own expansion of env; $JOB_COMPLETION_INDEX is the shell's.
    assert spec.command == ("sh", "-c", "echo item $JOB_COMPLETION_INDEX of 5")
    assert spec.schedule is None


def test_pod_failure_policy_rules_become_the_failure_policy() -> None:
    loaded = load_job(FAILURE_POLICY)
    spec = loaded.spec
    assert spec.action_for(42) == "fail"
    assert spec.action_for(3) == "restart"
    assert spec.action_for(1) == "retry"  # no rule: counted
    assert spec.action_for(7) == "retry"  # NotIn [0, 1]: Count
    assert loaded.conversion is not None
    assert "onPodConditions" in loaded.conversion.warning()


def test_backoff_limit_counts_failed_attempts_across_the_run() -> None:
    spec = load_job(FAILURE_POLICY.replace("backoffLimit: 6", "backoffLimit: 1")).spec
    run = Run.new(spec, "r1", "manual", now=0.0)
    for instance in run.launchable(0.0):
        run.launching(instance, "a1", 0.0)
    run.task_update(spec, 0, 0, "TASK_FAILED", 1.0, exit_code=1)
    assert run.state == "RUNNING"  # one failure: within the limit of 1
    run.task_update(spec, 2, 0, "TASK_FAILED", 2.0, exit_code=3)  # Ignore: not counted
    assert run.state == "RUNNING" and run.instances[2].failures == 0
    kills = run.task_update(spec, 1, 0, "TASK_FAILED", 3.0, exit_code=1)
    assert run.state == "FAILED"  # a second failure of another instance: over the limit
    assert "2 failed attempts" in run.message
    assert kills == []  # the others wait for their retry: nothing runs
    assert [i.state for i in run.instances[:3]] == ["CANCELLED", "FAILED", "CANCELLED"]


@pytest.mark.parametrize(
    ("value", "cpus"), [("500m", 0.5), ("2", 2.0), (1.5, 1.5), ("100m", 0.1), ("1e3m", 1.0)]
)
def test_cpu_quantities(value: object, cpus: float) -> None:
    assert cpu_quantity(value) == pytest.approx(cpus)


@pytest.mark.parametrize(
    ("value", "mem"), [("128Mi", 128.0), ("1Gi", 1024.0), ("1G", 1e9 / 2**20), ("64M", 61.035)]
)
def test_memory_quantities(value: object, mem: float) -> None:
    assert memory_quantity(value) == pytest.approx(mem, rel=1e-4)


def test_several_containers_and_unknown_fields_are_refused_by_name() -> None:
    two = INDEXED + "      - name: sidecar\n        command: [sleep, '1']\n"
    problems = dict(refused(two))
    assert "exactly one container, not 2" in problems["kubernetes: spec.template.spec.containers"]
    odd = INDEXED.replace("  completions: 5\n", "  completions: 5\n  colour: blue\n")
    assert dict(refused(odd))["kubernetes: spec.colour"].startswith("unknown field")


def with_image(*lines: str, command: bool = True) -> str:
    """INDEXED with these lines in its container (and without its command if not ``command``)."""
    worker = "      - name: worker\n"
    text = INDEXED.replace(worker, worker + "".join(f"        {line}\n" for line in lines))
    if not command:
        text = text.replace(
            '        command: ["sh", "-c", "echo item $JOB_COMPLETION_INDEX of $(TOTAL)"]\n', ""
        )
    return text


def test_an_image_with_a_command_replaces_its_entrypoint_and_args_follow() -> None:
    text = with_image("image: registry:5000/tools:1.2", "args: [extra]")
    spec = load_job(text).spec
    assert spec.container is not None
    assert spec.container.image == "registry:5000/tools:1.2"
    assert spec.container.entrypoint == ("sh", "-c", "echo item $JOB_COMPLETION_INDEX of 5")
    assert spec.command == ("extra",)
    assert not spec.container.force_pull  # IfNotPresent: the default for a tagged image
    conversion = load_job(text).conversion
    assert conversion is not None
    assert conversion.native["container"] == {
        "image": "registry:5000/tools:1.2",
        "entrypoint": ["sh", "-c", "echo item $JOB_COMPLETION_INDEX of 5"],
    }


def test_args_alone_replace_the_images_cmd_and_neither_runs_its_own() -> None:
    spec = load_job(with_image("image: busybox:1.36", "args: [echo, hi]", command=False)).spec
    assert spec.container is not None and spec.container.entrypoint is None
    assert spec.command == ("echo", "hi")  # after the image's Entrypoint, in place of Cmd
    bare = load_job(with_image("image: busybox:1.36", command=False)).spec
    assert bare.command == "" and bare.container is not None
    assert "command" not in bare.to_dict()  # the image's Entrypoint and Cmd run


@pytest.mark.parametrize(
    ("image", "policy", "force"),
    [
        ("busybox", None, True),  # no tag: Always
        ("reg:5000/app:latest", None, True),
        ("reg:5000/app:2", None, False),
        ("reg:5000/app@sha256:" + "a" * 64, None, False),
        ("reg:5000/app:2", "Always", True),
        ("reg:5000/app:latest", "IfNotPresent", False),
    ],
)
def test_image_pull_policy_is_force_pull_with_kubernetes_defaults(
    image: str, policy: str | None, force: bool
) -> None:
    lines = [f'image: "{image}"'] + ([f"imagePullPolicy: {policy}"] if policy else [])
    spec = load_job(with_image(*lines)).spec
    assert spec.container is not None and spec.container.force_pull is force


def test_pull_policy_never_is_noted_and_pull_secrets_are_refused() -> None:
    loaded = load_job(with_image("image: reg:5000/app:2", "imagePullPolicy: Never")).conversion
    assert loaded is not None and any("pulls it" in what for _, what in loaded.changed)
    secrets = with_image("image: reg:5000/app:2").replace(
        "      restartPolicy: Never\n",
        "      restartPolicy: Never\n      imagePullSecrets: [{name: reg}]\n",
    )
    problems = dict(refused(secrets))
    assert "registry credentials" in problems["kubernetes: spec.template.spec.imagePullSecrets"]
    assert (
        "required"
        in dict(refused(with_image(command=False)))[
            "kubernetes: spec.template.spec.containers[0].command"
        ]
    )  # no image, no command: nothing to run


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (("value: \"5\"", "valueFrom: {secretKeyRef: {name: s, key: k}}"),
         "spec.template.spec.containers[0].env[0].valueFrom", "only plain values"),
        (("restartPolicy: Never", "restartPolicy: Always"),
         "spec.template.spec.restartPolicy", "Never or OnFailure"),
        (("completionMode: Indexed", "completionMode: Indexed\n  backoffLimitPerIndex: 1"),
         "spec.backoffLimitPerIndex", "not supported"),
        (("      containers:", "      volumes: [{name: data, emptyDir: {}}]\n      containers:"),
         "spec.template.spec.volumes", "volumes are not supported"),
        (("  completions: 5\n", ""), "spec.completions", "work queue"),
        (("apiVersion: batch/v1", "apiVersion: batch/v1beta1"), "apiVersion", "batch/v1"),
        (("        command:", "        resources: {limits: {nvidia.com/gpu: 1}}\n        command:"),
         "spec.template.spec.containers[0].resources.limits.nvidia.com/gpu", "only cpu"),
    ],
)  # fmt: skip
def test_fields_that_cannot_apply_name_themselves_and_why(
    change: tuple[str, str], field: str, words: str
) -> None:
    text = INDEXED.replace(*change)
    assert text != INDEXED
    problems = dict(refused(text))
    assert words in problems[f"kubernetes: {field}"], problems


def test_a_suspended_job_without_a_schedule_is_refused_with_what_to_do() -> None:
    text = INDEXED.replace("  completions: 5\n", "  completions: 5\n  suspend: true\n")
    problems = dict(refused(text))
    assert "--no-run" in problems["kubernetes: spec.suspend"]


def test_detection_by_shape() -> None:
    assert detect({"apiVersion": "batch/v1", "kind": "Job"}) == "kubernetes"
    assert detect({"name": "x", "command": "true"}) == "native"
    assert convert({"name": "x", "command": "true"}) is None
    assert dict(refused("apiVersion: v1\nkind: Pod\n"))["kubernetes: kind"].startswith("'Pod'")


def test_a_suspended_job_template_and_a_per_task_expansion_are_refused() -> None:
    text = CRONJOB.replace(
        "      backoffLimit: 2\n", "      backoffLimit: 2\n      suspend: true\n"
    )
    problems = dict(refused(text))
    assert "suspend the CronJob" in problems["kubernetes: spec.jobTemplate.spec.suspend"]
    text = INDEXED.replace("$JOB_COMPLETION_INDEX", "$(JOB_COMPLETION_INDEX)")
    problems = dict(refused(text))
    assert (
        "read it through a shell"
        in problems["kubernetes: spec.template.spec.containers[0].command"]
    )


def test_parallelism_above_completions_is_reported_as_changed() -> None:
    loaded = load_job(INDEXED.replace("parallelism: 3", "parallelism: 8"))
    assert loaded.spec.parallelism == 5
    assert loaded.conversion is not None
    assert (
        dict(loaded.conversion.changed)["spec.parallelism"]
        == "at most 5 (the completions) run at once"
    )
