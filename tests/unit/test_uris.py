"""URI checks (master and agent), the SDK's artifact helpers and the spec's fetch list."""

from __future__ import annotations

from mesospy.master.validation import task_problem
from mesospy.scheduler import Artifact, parse_fetch, task, uri
from mesospy.uris import archive_kind, destination, uri_problem

SUM = "sha256:" + "ab" * 32


def test_good_uris_pass() -> None:
    for value in (
        "http://127.0.0.1:8080/app.tgz",
        "https://example.com/a/b/tool?x=1",
        "file:///opt/artifacts/app.zip",
        "file://localhost/opt/app.tar",
        "/opt/artifacts/app.tar.xz",
    ):
        assert uri_problem(uri(value, checksum=SUM)) is None, value


def test_bad_uris_name_the_problem() -> None:
    cases = [
        (uri(""), "must not be empty"),
        (uri("ftp://host/x"), "scheme 'ftp'"),
        (uri("relative/path"), "scheme 'none'"),
        (uri("http:///x"), "names no host"),
        (uri("file://otherhost/x"), "file:// URIs are local"),
        (uri("/x", checksum="sha256:12"), "64 hex digits"),
        (uri("/x", checksum="md5:" + "a" * 32), "expected 'sha256:'"),
        (uri("/x", output_file="/etc/passwd"), "relative to the sandbox"),
        (uri("/x", output_file="a/../../b"), "'..'"),
        (uri("http://h/"), "ends in no file name"),
        (uri("http://[::1/x"), "not a valid URI"),
        (uri("http://h:99999/x"), "not a valid URI"),
    ]
    for given, needle in cases:
        problem = uri_problem(given)
        assert problem is not None and needle in problem, (given.value, problem)


def test_destination_and_archive_kind() -> None:
    assert destination(uri("http://h/dir/app.tar.gz?sig=1")) == "app.tar.gz"
    assert destination(uri("/a/b", output_file="bin/./tool")) == "bin/tool"
    names = ("a.TGZ", "a.tar.bz2", "a.zip", "a.gz", "a.txt")
    assert [archive_kind(n) for n in names] == ["tar", "tar", "zip", None, None]


def test_master_refuses_a_task_with_a_bad_uri() -> None:
    info = task("t", "true", "cpus:0.1;mem:32", uris=["gopher://h/x"])
    problem, _ = task_problem(info, "")
    assert problem is not None and "command.uris[0]" in problem and "'gopher'" in problem
    ok = task("t", "true", "cpus:0.1;mem:32", uris=["/bin/true", uri("/x", cache=True)])
    assert task_problem(ok, "")[0] is None
    assert [u.value for u in ok.command.uris] == ["/bin/true", "/x"]
    assert ok.command.uris[1].cache


def test_parse_fetch_takes_strings_and_mappings() -> None:
    artifacts, problems = parse_fetch(
        ["http://h/a.tgz", {"uri": "/b", "executable": True, "extract": False, "checksum": SUM}]
    )
    assert problems == []
    assert artifacts == (
        Artifact("http://h/a.tgz"),
        Artifact("/b", executable=True, extract=False, checksum=SUM),
    )
    assert artifacts[1].to_dict() == {
        "uri": "/b",
        "executable": True,
        "extract": False,
        "checksum": SUM,
    }
    proto = artifacts[1].to_proto()
    assert proto.HasField("extract") and not proto.extract and proto.executable


def test_parse_fetch_lists_every_problem() -> None:
    _, problems = parse_fetch(
        [
            "ftp://h/x",
            {"uri": "/x", "cache": "yes"},
            {"url": "/x"},
            {"executable": True},
            42,
            {"uri": "/x", "checksum": "sha1:00"},
        ]
    )
    paths = [path for path, _ in problems]
    assert paths == ["fetch[0]", "fetch[1].cache", "fetch[2].url", "fetch[3].uri", "fetch[4]",
                     "fetch[5]"]  # fmt: skip
    assert "'ftp'" in problems[0][1]
    assert problems[1][1] == "must be true or false"
    assert problems[2][1].startswith("unknown field")
    assert problems[3][1] == "is required: a URI string"
    assert "sha256" in problems[5][1]
    assert parse_fetch("http://h/x")[1] == [
        ("fetch", "must be a list of URIs or of mappings with 'uri'")
    ]
