"""The SDK's state store on a directory: documents, children, deletes, limits, crashes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mesospy.scheduler import DocumentTooLarge, StateStore, open_store
from mesospy.scheduler.state import MAX_DOCUMENT_BYTES, DirectoryStore, ZooKeeperStore


def exercise(store: StateStore) -> None:
    """What every backend must do (also run against ZooKeeper in tests/ha)."""
    assert store.framework_id() == ""
    assert store.get("jobs/a") is None and store.children("jobs") == []
    store.save_framework_id("fw-1")
    store.put("jobs/a", {"x": 1})
    store.put("jobs/a", {"x": 2})  # replaced
    store.put("runs/a", {"runs": 2})  # a key with a document and children
    store.put("runs/a/r1", {"y": 1})
    store.put("runs/a/r2", [1, "two", None])
    store.put("runs/b/r1", "text")
    store.put("apps/shop%2Fweb", {"id": "shop/web"})
    assert store.framework_id() == "fw-1"
    assert store.get("jobs/a") == {"x": 2}
    assert store.get("runs/a") == {"runs": 2}
    assert store.children("runs") == ["a", "b"]
    assert store.children("runs/a") == ["r1", "r2"]
    assert store.get("runs/a/r2") == [1, "two", None]
    assert store.children("apps") == ["shop%2Fweb"]
    assert store.children("nothing/here") == []
    store.delete("runs/a")  # the document and everything under it
    assert store.get("runs/a") is None and store.get("runs/a/r1") is None
    assert store.children("runs") == ["b"]
    store.delete("runs/a")  # deleting what is not there is fine
    store.forget_framework_id()
    assert store.framework_id() == ""
    with pytest.raises(DocumentTooLarge, match="split it over several keys"):
        store.put("big", "x" * MAX_DOCUMENT_BYTES)
    assert store.get("big") is None
    for bad in ("", "a//b", "/a", "a/", "../up", "a/.hidden"):
        with pytest.raises(ValueError, match="bad state key"):
            store.put(bad, 1)


def test_directory_store(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "state"))
    assert isinstance(store, DirectoryStore)
    exercise(store)
    store.put("jobs/b", {"kept": True})
    store.close()
    # Another process on the same directory sees the same state.
    again = open_store(str(tmp_path / "state"))
    assert again.get("jobs/a") == {"x": 2} and again.get("jobs/b") == {"kept": True}
    assert again.children("jobs") == ["a", "b"]


def test_directory_store_ignores_what_a_crash_left(tmp_path: Path) -> None:
    """A crash mid-write leaves a temp file, mid-delete a hidden folder: neither is a key,
    and the old document is intact."""
    store = DirectoryStore(tmp_path)
    store.put("jobs/a", {"v": 1})
    (tmp_path / "jobs" / ".tmp-abc123").write_bytes(b'{"v": 2')  # half-written
    (tmp_path / "jobs" / ".deleted-0f0f").mkdir()
    assert store.children("jobs") == ["a"]
    assert store.get("jobs/a") == {"v": 1}
    # Writes leave nothing behind.
    store.put("jobs/a", {"v": 3})
    assert sorted(os.listdir(tmp_path / "jobs")) == [".deleted-0f0f", ".tmp-abc123", "a.json"]


def test_directory_store_write_is_atomic_when_it_fails(tmp_path: Path) -> None:
    """A value json cannot encode raises before anything is written."""
    store = DirectoryStore(tmp_path)
    store.put("k", {"v": 1})
    with pytest.raises(TypeError):
        store.put("k", {"v": object()})
    assert store.get("k") == {"v": 1}
    assert os.listdir(tmp_path) == ["k.json"]


def test_open_store_chooses_the_backend(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no state location"):
        open_store("")
    with pytest.raises(ValueError):
        open_store("zk://user:secret@127.0.0.1:1/x")  # credentials are refused
    assert isinstance(open_store(str(tmp_path)), DirectoryStore)
    assert ZooKeeperStore.__doc__
