"""Every job and app file in examples/ passes the frameworks' spec validators (pure, fast),
so the examples cannot rot silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from frameworks.batch.spec import load_spec as load_job
from frameworks.service.spec import load_spec_text as load_app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
JOBS = sorted((EXAMPLES / "jobs").glob("*.yaml"))
APPS = sorted((EXAMPLES / "apps").glob("*.yaml"))


def test_the_examples_are_there() -> None:
    assert {p.name for p in JOBS} >= {"hello-job.yaml", "nightly.yaml", "dag-report.yaml"}
    assert {p.name for p in APPS} >= {"web.yaml"}


@pytest.mark.parametrize("path", JOBS, ids=[p.name for p in JOBS])
def test_every_example_job_is_valid(path: Path) -> None:
    spec = load_job(path.read_text())
    assert spec.name == path.stem  # the file is named after its job
    names = {p.stem for p in JOBS}
    assert set(spec.parents) <= names  # a DAG's parents are examples too


def test_the_example_jobs_show_what_they_say() -> None:
    hello = load_job((EXAMPLES / "jobs" / "hello-job.yaml").read_text())
    assert hello.instances > hello.parallelism > 1 and hello.retries.limit > 0
    nightly = load_job((EXAMPLES / "jobs" / "nightly.yaml").read_text())
    assert nightly.schedule is not None and nightly.schedule.timezone != "UTC"
    assert nightly.schedule.concurrency == "Forbid"


@pytest.mark.parametrize("path", APPS, ids=[p.name for p in APPS])
def test_every_example_app_is_valid(path: Path) -> None:
    spec = load_app(path.read_text(), str(path))
    assert spec.id == path.stem


def test_the_web_example_is_a_checked_app_behind_a_vip() -> None:
    web = load_app((EXAMPLES / "apps" / "web.yaml").read_text())
    assert web.instances == 3 and web.ports and web.vip is not None
    assert web.health_check is not None and web.health_check.protocol == "HTTP"
