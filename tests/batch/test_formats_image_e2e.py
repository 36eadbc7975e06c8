"""Kubernetes Jobs with an image on a real cluster: ``command`` replaces the image's
Entrypoint, ``args`` alone follow it (in place of its Cmd), as in Kubernetes."""

from __future__ import annotations

from pathlib import Path

from mesospy.testing.registry import Registry, busybox_image

from .support import BatchApi

JOB = """
apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: {image}
{lines}
"""


def _stdout(api: BatchApi, name: str) -> str:
    assert api.cluster.work_dir is not None
    outputs = [
        path.read_text()
        for path in api.cluster.work_dir.glob("agent-*/frameworks/*/tasks/*/stdout")
        if name in path.read_text()
    ]
    assert len(outputs) == 1, outputs
    return outputs[0]


def test_kubernetes_command_and_args_run_in_the_image_as_kubernetes_means(
    api: BatchApi, tmp_path: Path
) -> None:
    image = busybox_image(os_id="k8s-image", entrypoint=["/bin/echo", "entry"], cmd=["default"])
    with Registry(tmp_path / "registry") as registry:
        registry.push("mesospy/k8s", "1", image)
        name = f"{registry.host}/mesospy/k8s:1"
        replaced = (
            "        command: [/bin/sh, -c]\n"
            "        args: ['echo replaced-run; cat /etc/os-release']"
        )
        job = api.submit(JOB.format(name="k8s-command", image=name, lines=replaced))
        run = api.wait_run("k8s-command", job.last_run.id, timeout=90)
        assert run.state == "SUCCEEDED", run.message
        out = _stdout(api, "replaced-run")
        assert "ID=k8s-image" in out and "entry" not in out  # the Entrypoint was replaced
        job = api.submit(JOB.format(name="k8s-args", image=name, lines="        args: [given-arg]"))
        run = api.wait_run("k8s-args", job.last_run.id, timeout=90)
        assert run.state == "SUCCEEDED", run.message
        assert _stdout(api, "given-arg").strip().endswith("entry given-arg")  # Entrypoint + args
