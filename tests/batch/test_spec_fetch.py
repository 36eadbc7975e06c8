"""A job spec's ``fetch:`` list: strings or mappings, canonical form, problems by path."""

from __future__ import annotations

import json

import pytest

from frameworks.batch.spec import SpecError, load_spec, parse_spec
from mesospy.scheduler import Artifact

SUM = "sha256:" + "0f" * 32
JOB = f"""
name: with-tools
command: ./bin/tool
fetch:
  - https://example.com/tools.tgz
  - {{uri: /opt/tool, executable: true, extract: false, cache: true, output_file: bin/tool,
     checksum: "{SUM}"}}
"""


def test_fetch_entries_are_read_and_read_back() -> None:
    spec = load_spec(JOB)
    assert spec.fetch == (
        Artifact("https://example.com/tools.tgz"),
        Artifact("/opt/tool", True, False, True, "bin/tool", SUM),
    )
    assert spec.to_dict()["fetch"][0] == {"uri": "https://example.com/tools.tgz"}
    assert parse_spec(json.loads(json.dumps(spec.to_dict()))) == spec
    assert "fetch" not in load_spec("name: plain\ncommand: 'true'").to_dict()


def test_bad_fetch_entries_are_listed_by_path() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(
            {
                "name": "bad",
                "command": "true",
                "fetch": ["ftp://h/x", {"uri": "/x", "checksum": "sha256:1"}, {"path": "/x"}],
            }
        )
    paths = [path for path, _ in caught.value.problems]
    assert paths == ["fetch[0]", "fetch[1]", "fetch[2].path"]
    assert "64 hex digits" in caught.value.problems[1][1]
