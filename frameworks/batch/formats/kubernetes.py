"""Kubernetes ``batch/v1`` Job and CronJob manifests as native job specs. Pure.

The pod's one container becomes the command, its ``env`` and its resource requests.
Without an ``image`` the argv is ``command`` + ``args`` (``command`` is required); with
one, the native ``container`` runs it: ``command`` replaces the image's Entrypoint (and
Cmd) as ``container.entrypoint`` with ``args`` after it, ``args`` alone replace its Cmd,
neither runs Entrypoint + Cmd; ``imagePullPolicy: Always`` (the default for a ``:latest``
or untagged image) is ``force_pull``. The Job's fields map onto the native ones:

    completions/parallelism     instances/parallelism (completions defaults to 1)
    completionMode: Indexed     index_env JOB_COMPLETION_INDEX (also MESOSPY_INSTANCE)
    backoffLimit (default 6)    retries {limit, per: run}: failed attempts of the whole run,
                                with Kubernetes' backoff (10s doubling, at most 6 minutes)
    podFailurePolicy            failure_policy: FailJob fail, Ignore restart, Count retry
    activeDeadlineSeconds       timeout
    ttlSecondsAfterFinished     history.ttl (a finished run is forgotten after it)
    CronJob schedule/timeZone/concurrencyPolicy/startingDeadlineSeconds/suspend
                                schedule (missed ticks: only the latest runs, as there)
    successful/failedJobsHistoryLimit (3/1)   history.succeeded/failed
"""

from __future__ import annotations

import re
from typing import Any

from frameworks.batch.formats.common import Conversion, job_name

__all__ = ["convert_kubernetes", "cpu_quantity", "memory_quantity"]

INDEX_VAR = "JOB_COMPLETION_INDEX"
INDEX_ANNOTATION = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
_QUANTITY_RE = re.compile(
    r"^\s*([0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE]([+-]?[0-9]+))?([A-Za-z]*)\s*$"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
_VAR_RE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")

_POD_NO_EFFECT = {
    "serviceAccountName": "no service accounts here",
    "serviceAccount": "no service accounts here",
    "automountServiceAccountToken": "no service accounts here",
    "tolerations": "agents have no taints",
    "terminationGracePeriodSeconds": "a killed task gets the agent's grace period",
    "dnsPolicy": "tasks use the agent's DNS",
    "dnsConfig": "tasks use the agent's DNS",
    "priorityClassName": "no priorities among tasks",
    "priority": "no priorities among tasks",
    "schedulerName": "the batch framework places its tasks",
    "enableServiceLinks": "no services are injected",
    "hostname": "tasks run on the agent's host",
    "subdomain": "tasks run on the agent's host",
    "setHostnameAsFQDN": "tasks run on the agent's host",
    "preemptionPolicy": "no preemption",
    "runtimeClassName": "tasks run as processes",
    "overhead": "tasks run as processes",
    "topologySpreadConstraints": "use native constraints (hostname UNIQUE) to spread",
    "readinessGates": "batch tasks have no readiness",
}
_POD_REFUSED = {
    "initContainers": "init containers are not supported: run the steps in the command, "
    "or as a parent job",
    "ephemeralContainers": "ephemeral containers are not supported",
    "volumes": "volumes are not supported: tasks write to their sandbox",
    "affinity": "affinity is not supported: use nodeSelector (agent attributes)",
    "securityContext": "tasks run as the agent's user: leave securityContext out",
    "hostNetwork": "tasks always share the agent's network",
    "hostPID": "the host's PID namespace is not shared (a task in an image has its own)",
    "hostIPC": "tasks always run in the agent's IPC namespace",
    "nodeName": "use nodeSelector with kubernetes.io/hostname",
    "activeDeadlineSeconds": "give it on the Job (spec.activeDeadlineSeconds) instead",
    "resourceClaims": "resource claims are not supported",
    "os": "tasks run on the agents' own operating system",
    "shareProcessNamespace": "one container per task: nothing to share",
    "hostAliases": "tasks use the agent's /etc/hosts",
    "hostUsers": "tasks run as the agent's user",
    "schedulingGates": "scheduling gates are not supported",
}
_CONTAINER_NO_EFFECT = {
    "name": "one container: it needs no name",
    "ports": "a batch task gets no fixed ports; use resources.ports natively",
    "livenessProbe": "batch tasks are not probed",
    "readinessProbe": "batch tasks are not probed",
    "startupProbe": "batch tasks are not probed",
    "terminationMessagePath": "the task's message comes from the agent",
    "terminationMessagePolicy": "the task's message comes from the agent",
    "stdin": "tasks have no stdin",
    "stdinOnce": "tasks have no stdin",
    "tty": "tasks have no terminal",
    "resizePolicy": "resources are fixed per task",
}
_CONTAINER_REFUSED = {
    "envFrom": "config maps and secrets do not exist here: list the variables in env",
    "workingDir": "tasks start in their sandbox: cd in the command instead",
    "volumeMounts": "volumes are not supported: tasks write to their sandbox",
    "volumeDevices": "volumes are not supported",
    "securityContext": "tasks run as the agent's user: leave securityContext out",
    "lifecycle": "lifecycle hooks are not supported: put them in the command",
    "restartPolicy": "sidecar containers are not supported",
}
_JOB_NO_EFFECT = {
    "podReplacementPolicy": "a failed task is replaced once it has ended",
    "manualSelector": "no pod selectors here",
    "selector": "no pod selectors here",
    "managedBy": "the batch framework runs the job",
}
_JOB_REFUSED = {
    "backoffLimitPerIndex": "a per-index limit is not supported with backoffLimit: use one",
    "maxFailedIndexes": "needs backoffLimitPerIndex, which is not supported",
    "successPolicy": "a run succeeds when every completion has: successPolicy is not supported",
}
_META_NO_EFFECT = {
    "namespace": "no namespaces here",
    "annotations": "annotations are not kept",
    "uid": "status data",
    "resourceVersion": "status data",
    "generation": "status data",
    "creationTimestamp": "status data",
    "managedFields": "status data",
    "selfLink": "status data",
    "finalizers": "no finalizers here",
    "ownerReferences": "no owners here",
}


def cpu_quantity(value: object) -> float:
    """CPUs from a Kubernetes quantity: ``500m`` 0.5, ``2`` 2, ``1.5`` 1.5."""
    return _quantity(value, _DECIMAL)


def memory_quantity(value: object) -> float:
    """Megabytes (MiB, as the native ``mem``) from a quantity: ``128Mi`` 128, ``1G``."""
    return _quantity(value, {**_DECIMAL, **_BINARY}) / 2**20


def _quantity(value: object, units: dict[str, float]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"must be a quantity such as 500m, 2, 128Mi or 1G, not {value!r}")
    match = _QUANTITY_RE.match(str(value))
    if not match or match.group(3) not in units:
        raise ValueError(f"{value!r} is not a quantity such as 500m, 2, 128Mi or 1G")
    number = float(match.group(1)) * 10.0 ** int(match.group(2) or 0)
    return float(number * units[match.group(3)])


def convert_kubernetes(data: dict[str, Any]) -> Conversion:
    """A ``batch/v1`` Job or CronJob manifest as native spec data (see the module)."""
    c = Conversion("kubernetes")
    kind, version = data.get("kind"), data.get("apiVersion")
    if kind not in ("Job", "CronJob"):
        c.refuse("kind", f"{kind!r} is not a job: give a batch/v1 Job or CronJob")
        return c
    if version != "batch/v1":
        c.refuse("apiVersion", f"{version!r}: give batch/v1 (Job and CronJob)")
    c.fields(data, "", ("apiVersion", "kind", "metadata", "spec"), {"status": "status data"}, {})
    native = c.native
    meta = c.mapping(data.get("metadata"), "metadata")
    labels = _metadata(c, meta, "metadata", named=True)
    spec = c.mapping(data.get("spec"), "spec")
    if kind == "CronJob":
        job = _cron_job(c, spec)
        job_meta = c.mapping(job.get("metadata"), "spec.jobTemplate.metadata")
        labels |= _metadata(c, job_meta, "spec.jobTemplate.metadata")
        path = "spec.jobTemplate.spec"
    else:
        job, path = spec, "spec"
    labels |= _job(c, job, path)
    if labels:
        native["labels"] = labels
    return c


def _metadata(
    c: Conversion, meta: dict[str, Any], path: str, named: bool = False
) -> dict[str, str]:
    used = ("name", "labels") if named else ("labels",)
    no_effect = dict(_META_NO_EFFECT)
    if not named:
        no_effect["name"] = "the job's name is the manifest's metadata.name"
    refused = {"generateName": "give the job a name (metadata.name)"} if named else {}
    c.fields(meta, path, used, no_effect, refused)
    if named:
        c.native["name"] = job_name(c, meta.get("name"), f"{path}.name")
    labels = c.mapping(meta.get("labels"), f"{path}.labels")
    return {str(k): str(v) for k, v in labels.items()}


def _cron_job(c: Conversion, spec: dict[str, Any]) -> dict[str, Any]:
    used = (
        "schedule",
        "timeZone",
        "concurrencyPolicy",
        "startingDeadlineSeconds",
        "suspend",
        "successfulJobsHistoryLimit",
        "failedJobsHistoryLimit",
        "jobTemplate",
    )
    c.fields(spec, "spec", used, {}, {})
    schedule: dict[str, Any] = {"cron": spec.get("schedule"), "catch_up": "latest"}
    if spec.get("schedule") is None:
        c.refuse("spec.schedule", "is required: a cron expression")
    if spec.get("timeZone") is not None:
        schedule["timezone"] = spec["timeZone"]
    policy = spec.get("concurrencyPolicy")
    if policy is not None:
        if policy not in ("Allow", "Forbid", "Replace"):
            c.refuse("spec.concurrencyPolicy", f"must be Allow, Forbid or Replace, not {policy!r}")
        schedule["concurrency"] = policy
    deadline = c.whole(spec, "startingDeadlineSeconds", "spec")
    if deadline is not None:
        schedule["starting_deadline"] = deadline
    suspend = c.flag(spec, "suspend", "spec")
    if suspend is not None:
        schedule["suspend"] = suspend
    c.native["schedule"] = schedule
    history = c.native.setdefault("history", {})
    succeeded = c.whole(spec, "successfulJobsHistoryLimit", "spec")
    failed = c.whole(spec, "failedJobsHistoryLimit", "spec")
    history["succeeded"] = 3 if succeeded is None else succeeded
    history["failed"] = 1 if failed is None else failed
    template = c.mapping(spec.get("jobTemplate"), "spec.jobTemplate")
    if not template:
        c.refuse("spec.jobTemplate", "is required: the Job to run at each tick")
    c.fields(template, "spec.jobTemplate", ("metadata", "spec"), {}, {})
    return c.mapping(template.get("spec"), "spec.jobTemplate.spec")


def _job(c: Conversion, spec: dict[str, Any], path: str) -> dict[str, str]:
    native = c.native
    used = (
        "parallelism",
        "completions",
        "completionMode",
        "backoffLimit",
        "activeDeadlineSeconds",
        "ttlSecondsAfterFinished",
        "podFailurePolicy",
        "suspend",
        "template",
    )
    c.fields(spec, path, used, _JOB_NO_EFFECT, _JOB_REFUSED)
    completions = c.whole(spec, "completions", path, lo=1)
    parallelism = c.whole(spec, "parallelism", path, lo=0)
    if parallelism == 0:
        c.refuse(f"{path}.parallelism", "0 never runs anything: leave the job out instead")
    if completions is None and parallelism not in (None, 1):
        c.refuse(
            f"{path}.completions",
            "a work queue (parallelism without completions) is not supported: give "
            "completions, the number of instances that must succeed",
        )
    instances = completions or 1
    native["instances"] = instances
    native["parallelism"] = min(parallelism or 1, instances)
    if parallelism is not None and parallelism > instances:
        c.change(f"{path}.parallelism", f"at most {instances} (the completions) run at once")
    mode = spec.get("completionMode", "NonIndexed")
    if mode == "Indexed":
        native["index_env"] = [INDEX_VAR]
    elif mode != "NonIndexed":
        c.refuse(f"{path}.completionMode", f"must be NonIndexed or Indexed, not {mode!r}")
    limit = c.whole(spec, "backoffLimit", path)
    native["retries"] = {
        "limit": 6 if limit is None else limit, "per": "run", "backoff": 10, "max_backoff": 360,
    }  # fmt: skip
    deadline = c.whole(spec, "activeDeadlineSeconds", path, lo=1)
    if deadline is not None:
        native["timeout"] = deadline
    ttl = c.whole(spec, "ttlSecondsAfterFinished", path)
    if ttl is not None:
        native.setdefault("history", {})["ttl"] = ttl
        c.change(
            f"{path}.ttlSecondsAfterFinished",
            "a finished run is forgotten after it; the job itself is kept",
        )
    if c.flag(spec, "suspend", path):
        c.refuse(
            f"{path}.suspend",
            "a Job cannot start suspended here: suspend the CronJob (spec.suspend) instead"
            if "schedule" in native
            else "a Job without a schedule cannot start suspended here: submit it with "
            "--no-run and start it with `mesospy job run`",
        )
    rules = _failure_policy(
        c,
        c.mapping(spec.get("podFailurePolicy"), f"{path}.podFailurePolicy"),
        f"{path}.podFailurePolicy",
    )
    if rules:
        native["failure_policy"] = rules
    template = c.mapping(spec.get("template"), f"{path}.template")
    if not template:
        c.refuse(f"{path}.template", "is required: the pod to run")
        return {}
    c.fields(template, f"{path}.template", ("metadata", "spec"), {}, {})
    labels = _metadata(
        c,
        c.mapping(template.get("metadata"), f"{path}.template.metadata"),
        f"{path}.template.metadata",
    )
    _pod(
        c,
        c.mapping(template.get("spec"), f"{path}.template.spec"),
        f"{path}.template.spec",
        has_failure_policy=bool(spec.get("podFailurePolicy")),
    )
    return labels


def _failure_policy(c: Conversion, policy: dict[str, Any], path: str) -> list[dict[str, Any]]:
    c.fields(policy, path, ("rules",), {}, {})
    rules = []
    actions = {"FailJob": "fail", "Ignore": "restart", "Count": "retry"}
    for index, item in enumerate(c.sequence(policy.get("rules"), f"{path}.rules")):
        where = f"{path}.rules[{index}]"
        rule = c.mapping(item, where)
        c.fields(
            rule,
            where,
            ("action", "onExitCodes"),
            {"onPodConditions": "pod conditions (disruptions) do not occur here"},
            {},
        )
        action = rule.get("action")
        if action == "FailIndex":
            c.refuse(f"{where}.action", "FailIndex needs backoffLimitPerIndex (not supported)")
            continue
        if action not in actions:
            c.refuse(f"{where}.action", f"must be FailJob, Ignore or Count, not {action!r}")
            continue
        if rule.get("onExitCodes") is None:
            continue  # only pod conditions: listed as having no effect
        codes = c.mapping(rule.get("onExitCodes"), f"{where}.onExitCodes")
        c.fields(
            codes,
            f"{where}.onExitCodes",
            ("operator", "values"),
            {"containerName": "one container: every exit code is its"},
            {},
        )
        operator = codes.get("operator")
        if operator not in ("In", "NotIn"):
            c.refuse(f"{where}.onExitCodes.operator", f"must be In or NotIn, not {operator!r}")
            continue
        values = codes.get("values")
        rules.append(
            {
                "exit_codes": values,
                "operator": "in" if operator == "In" else "not_in",
                "action": actions[action],
            }
        )
    return rules


def _pod(c: Conversion, pod: dict[str, Any], path: str, has_failure_policy: bool) -> None:
    native = c.native
    used = ("containers", "restartPolicy", "nodeSelector", "imagePullSecrets")
    c.fields(pod, path, used, _POD_NO_EFFECT, _POD_REFUSED)
    if pod.get("imagePullSecrets"):
        c.refuse(
            f"{path}.imagePullSecrets",
            "registry credentials are not supported yet: use an image the agents can pull "
            "without them",
        )
    restart = pod.get("restartPolicy")
    if restart == "OnFailure":
        if has_failure_policy:
            c.refuse(f"{path}.restartPolicy", "podFailurePolicy needs restartPolicy Never")
        c.change(
            f"{path}.restartPolicy",
            "OnFailure: a failed container is started again as a new task (in a new "
            "sandbox), counted against backoffLimit",
        )
    elif restart != "Never":
        c.refuse(
            f"{path}.restartPolicy",
            f"a Job's pod needs restartPolicy Never or OnFailure, not {restart!r}",
        )
    selector = c.mapping(pod.get("nodeSelector"), f"{path}.nodeSelector")
    constraints = []
    for key, value in selector.items():
        attribute = "hostname" if key == "kubernetes.io/hostname" else str(key)
        constraints.append({"attribute": attribute, "operator": "EQUALS", "value": str(value)})
    if constraints:
        native["constraints"] = constraints
        c.change(f"{path}.nodeSelector", "node labels are the agents' attributes")
    containers = c.sequence(pod.get("containers"), f"{path}.containers")
    if len(containers) != 1:
        c.refuse(
            f"{path}.containers",
            f"a task runs one command: give exactly one container, not {len(containers)} "
            "(run the others as jobs of their own)",
        )
        return
    _container(c, c.mapping(containers[0], f"{path}.containers[0]"), f"{path}.containers[0]")


def _container(c: Conversion, container: dict[str, Any], path: str) -> None:
    native = c.native
    c.fields(
        container,
        path,
        ("command", "args", "env", "resources", "image", "imagePullPolicy"),
        _CONTAINER_NO_EFFECT,
        _CONTAINER_REFUSED,
    )
    env: dict[str, str] = {}
    for index, item in enumerate(c.sequence(container.get("env"), f"{path}.env")):
        where = f"{path}.env[{index}]"
        var = c.mapping(item, where)
        name = var.get("name")
        if not isinstance(name, str):
            c.refuse(f"{where}.name", "is required: the variable's name")
            continue
        source = var.get("valueFrom")
        if source is not None:
            field_ref = source.get("fieldRef", {}) if isinstance(source, dict) else {}
            if isinstance(field_ref, dict) and field_ref.get("fieldPath") == INDEX_ANNOTATION:
                native.setdefault("index_env", [INDEX_VAR])
                if name not in native["index_env"]:
                    native["index_env"].append(name)
                continue
            c.refuse(
                f"{where}.valueFrom",
                "only plain values exist here (no config maps, secrets or field references "
                "but the completion index): give value",
            )
            continue
        value = var.get("value", "")
        env[name] = value if isinstance(value, str) else str(value)
    if env:
        native["env"] = env
    image = _image(c, container, path)
    command = c.sequence(container.get("command"), f"{path}.command")
    args = c.sequence(container.get("args"), f"{path}.args")
    if not command and image is None:
        c.refuse(
            f"{path}.command",
            "is required: without an image there is no entrypoint, so give the command "
            "(args follow it)",
        )
    argv = [str(part) for part in [*command, *args]]
    expanded = [_expand(part, env, native.get("index_env", [])) for part in argv]
    for index, value in enumerate(expanded):
        if value is None:
            where = "command" if index < len(command) else "args"
            c.refuse(
                f"{path}.{where}",
                f"$({INDEX_VAR}) is set per task: read it through a shell instead, as in "
                f'["sh", "-c", "echo ${INDEX_VAR}"]',
            )
            break
    else:
        if expanded != argv:
            c.change(f"{path}.command", "$(VAR) references to env are replaced by their values")
    parts = [e if e is not None else "" for e in expanded]
    if image is not None and command:
        image["entrypoint"] = parts[: len(command)]  # replaces the image's Entrypoint
        parts = parts[len(command) :]
    if parts:
        native["command"] = parts
    _resources(c, c.mapping(container.get("resources"), f"{path}.resources"), f"{path}.resources")


def _image(c: Conversion, container: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The native ``container`` for the container's image (None without one)."""
    image = container.get("image")
    if image is None:
        if "imagePullPolicy" in container:
            c.ignore(f"{path}.imagePullPolicy", "no image")
        return None
    if not isinstance(image, str) or not image.strip():
        c.refuse(f"{path}.image", f"must be an image name, not {image!r}")
        return None
    policy = container.get("imagePullPolicy")
    if policy is None:  # Kubernetes' default: Always for :latest or no tag
        last = image.strip().rsplit("/", 1)[-1]
        untagged = "@" not in last and ":" not in last
        policy = "Always" if untagged or last.endswith(":latest") else "IfNotPresent"
    if policy not in ("Always", "IfNotPresent", "Never"):
        c.refuse(
            f"{path}.imagePullPolicy", f"must be Always, IfNotPresent or Never, not {policy!r}"
        )
    if policy == "Never":
        c.change(
            f"{path}.imagePullPolicy",
            "Never: an agent that does not have the image pulls it (as IfNotPresent)",
        )
    native: dict[str, Any] = {"image": image.strip()}
    if policy == "Always":
        native["force_pull"] = True
    c.native["container"] = native
    return native


def _expand(text: str, env: dict[str, str], per_task: list[str]) -> str | None:
    """Kubernetes' ``$(VAR)`` expansion (``$$`` is ``$``); None if it names a per-task
    variable. An unknown name stays as written, as in Kubernetes."""
    stuck = False

    def one(match: re.Match[str]) -> str:
        nonlocal stuck
        name = match.group(1)
        if name is None:
            return "$"
        if name in per_task:
            stuck = True
        return env.get(name, match.group(0))

    result = _VAR_RE.sub(one, text)
    return None if stuck else result


def _resources(c: Conversion, resources: dict[str, Any], path: str) -> None:
    c.fields(
        resources, path, ("requests", "limits"), {}, {"claims": "resource claims are not supported"}
    )
    requests = c.mapping(resources.get("requests"), f"{path}.requests")
    limits = c.mapping(resources.get("limits"), f"{path}.limits")
    native = c.native.setdefault("resources", {})
    names = {"cpu": ("cpus", cpu_quantity), "memory": ("mem", memory_quantity),
             "ephemeral-storage": ("disk", memory_quantity)}  # fmt: skip
    for part, values in (("limits", limits), ("requests", requests)):
        for key, value in values.items():
            where = f"{path}.{part}.{key}"
            if key not in names:
                c.refuse(where, f"only cpu, memory and ephemeral-storage exist here, not {key!r}")
                continue
            target, read = names[key]
            try:
                amount = read(value)
            except ValueError as exc:
                c.refuse(where, str(exc))
                continue
            native[target] = amount  # requests (read last) win over limits
        if part == "limits" and values and requests:
            c.change(
                f"{path}.limits",
                "a task is given its requests; limits above them are not granted",
            )
    if not native:
        del c.native["resources"]
