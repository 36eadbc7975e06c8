"""App dependencies with plain data: what may be deployed, and when a deployment waits."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from frameworks.service import deployment
from frameworks.service.dependencies import problem, waiting_for
from frameworks.service.model import AppRecord, Instance
from frameworks.service.spec import parse_spec


def app(app_id: str, *deps: str, instances: int = 1, **more: Any) -> AppRecord:
    spec = parse_spec(
        {"id": app_id, "cmd": "serve", "instances": instances, "dependencies": list(deps), **more}
    )
    return deployment.new_app(spec, now=0.0)


def done(a: AppRecord) -> AppRecord:
    return deployment.succeed(a, now=1.0)


def running(a: AppRecord, n: int, **fields: Any) -> list[Instance]:
    return [
        Instance(f"{a.id}.v1.{k}", a.id, "v1", state="running", healthy=None, **fields)
        for k in range(n)
    ]


def test_a_dependency_must_exist_and_make_no_cycle() -> None:
    db = app("prod/db", "/prod/web")
    apps = {"prod/db": db}
    assert problem("prod/web", ["prod/cache"], apps) == (
        "dependency 'prod/cache' is not an app: deploy it first"
    )
    assert problem("prod/web", ["prod/web"], apps) == "app 'prod/web' cannot depend on itself"
    assert problem("prod/web", ["prod/db"], apps) == (
        "dependencies would make a cycle: prod/web -> prod/db -> prod/web"
    )
    assert problem("prod/web", ["prod/db"], {"prod/db": app("prod/db")}) is None


def test_a_deployment_waits_until_its_dependencies_are_available() -> None:
    db = app("prod/db", instances=2)
    web = app("prod/web", "/prod/db")
    apps = {"prod/db": db, "prod/web": web}
    # The dependency's own deployment is under way: wait.
    assert waiting_for(web, apps, []) == "waiting for dependency 'prod/db' (0/2 available)"
    apps["prod/db"] = db = done(db)
    one = running(db, 1)
    assert waiting_for(web, apps, one) == "waiting for dependency 'prod/db' (1/2 available)"
    assert waiting_for(web, apps, running(db, 2)) is None
    # Once deployed, the app's instances are replaced whatever its dependencies do.
    assert waiting_for(done(web), apps, []) is None
    # Killing and not-ready instances do not count.
    busy = [replace(i, killing=True) for i in running(db, 2)]
    assert waiting_for(web, apps, busy) is not None
