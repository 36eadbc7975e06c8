"""``mesospy job convert`` and the refusals of ``mesospy job submit``, as a user runs
them (no cluster: neither needs one to refuse or convert)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from frameworks.batch.formats import load_job
from frameworks.batch.spec import parse_spec
from mesospy.testing.cli import run_mesospy

from .test_formats_kubernetes import CRONJOB
from .test_formats_mesos import CHRONOS


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_mesospy(*args, master="127.0.0.1:1")


def test_convert_prints_the_native_spec_with_what_changed_and_was_dropped(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cronjob.yaml"
    path.write_text(CRONJOB)
    result = cli("job", "convert", str(path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith(f"# {path}: kubernetes\n# changed:\n")
    assert "#   spec.jobTemplate.spec.template.spec.restartPolicy: OnFailure" in out
    assert "# dropped (no effect here):\n#   metadata.namespace: no namespaces here" in out
    # The output is a native spec as it is: the same job as the manifest.
    assert parse_spec(yaml.safe_load(out)) == load_job(CRONJOB).spec
    (tmp_path / "native.yaml").write_text(out)
    again = cli("job", "convert", str(tmp_path / "native.yaml"))
    assert again.returncode == 0
    assert again.stdout.startswith(f"# {tmp_path / 'native.yaml'}: native (already a native")


def test_convert_shows_a_kubernetes_image_as_the_native_container(tmp_path: Path) -> None:
    manifest = CRONJOB.replace(
        "imagePullPolicy: IfNotPresent",
        "image: reg:5000/hello:1\n            imagePullPolicy: Always",
    )
    path = tmp_path / "cronjob.yaml"
    path.write_text(manifest)
    result = cli("job", "convert", str(path))
    assert result.returncode == 0, result.stderr
    native = yaml.safe_load(result.stdout)
    assert native["container"] == {
        "image": "reg:5000/hello:1", "force_pull": True, "entrypoint": ["/bin/sh", "-c"],
    }  # fmt: skip
    assert native["command"] == ["date; echo Hello from the Kubernetes cluster"]
    assert parse_spec(native) == load_job(manifest).spec


def test_convert_json_lists_changes_and_drops_by_field(tmp_path: Path) -> None:
    path = tmp_path / "chronos.json"
    path.write_text(json.dumps(CHRONOS))
    result = cli("job", "convert", str(path), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["format"] == "chronos"
    assert report["spec"]["schedule"]["interval"] == "R/2014-03-08T20:00:00.000Z/PT2H"
    assert {"field": "name", "what": "'camus_kafka2hdfs' is the job 'camus-kafka2hdfs' here "
            "([a-z0-9-] only)"} in report["changed"]  # fmt: skip
    assert {"field": "owner", "why": "no failure mails are sent"} in report["dropped"]


def test_refused_fields_are_each_named_and_nothing_is_submitted(tmp_path: Path) -> None:
    job = {**CHRONOS, "async": True, "runAsUser": "hdfs"}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(job))
    for command in (("convert",), ("submit", "--batch", "127.0.0.1:1")):
        result = cli("job", *command, str(path))
        assert result.returncode == 1
        lines = result.stderr.splitlines()
        assert lines[0] == "mesospy: error: invalid job spec:"
        assert len(lines) == 3
        assert any(x.startswith("  chronos: async: asynchronous jobs report") for x in lines)
        assert any(x.startswith("  chronos: runAsUser: tasks run as the agent's") for x in lines)
        # submit refused before reaching for the framework (which is not there).
        assert "cannot reach" not in result.stderr and "Traceback" not in result.stderr


def test_an_unreadable_file_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("apiVersion: batch/v1\nkind: [Job\n")
    result = cli("job", "convert", str(path))
    assert result.returncode == 1
    assert "cannot parse the job file at line" in result.stderr
    assert "Traceback" not in result.stderr


FORMAT_EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "jobs" / "formats"


def test_the_format_examples_convert_without_refusals() -> None:
    paths = sorted(FORMAT_EXAMPLES.iterdir())
    formats = {}
    for path in paths:
        loaded = load_job(path.read_text())
        assert loaded.conversion is not None, path
        formats[path.name] = loaded.conversion.format
    assert formats == {
        "chronos-sync.json": "chronos",
        "indexed-job.yaml": "kubernetes",
        "metronome-backup.json": "metronome",
        "report-cronjob.yaml": "kubernetes",
    }
