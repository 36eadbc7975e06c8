"""The fetcher cache: LRU bookkeeping (plain data), size accounting and one download
for concurrent requests (real files, real threads)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from mesospy.agent.fetch_cache import CacheIndex, Entry, FetchCancelled, FetcherCache


def _entry(key: str, size: int, pins: int = 0) -> Entry:
    return Entry(key, size, Path(key), pins)


def test_least_recently_used_entries_are_evicted_first() -> None:
    index = CacheIndex(capacity=100)
    assert index.admit(_entry("a", 40)) == []
    assert index.admit(_entry("b", 40)) == []
    assert index.get("a") is not None  # a is now newer than b
    victims = index.admit(_entry("c", 40))
    assert [v.key for v in victims or []] == ["b"]
    assert list(index.entries) == ["a", "c"]
    assert index.size == 80


def test_several_evicted_to_fit_one_and_pinned_ones_stay() -> None:
    index = CacheIndex(capacity=100)
    for key in "abcd":
        index.admit(_entry(key, 25))
    index.entries["a"].pins = 1  # being linked into a sandbox
    victims = index.admit(_entry("e", 50))
    assert [v.key for v in victims or []] == ["b", "c"]
    assert list(index.entries) == ["a", "d", "e"]
    assert index.size == 100


def test_an_entry_that_cannot_fit_changes_nothing() -> None:
    index = CacheIndex(capacity=100)
    index.admit(_entry("a", 60, pins=1))
    assert index.admit(_entry("huge", 101)) is None
    assert index.admit(_entry("b", 50)) is None  # a is pinned: no room
    assert list(index.entries) == ["a"]
    assert index.size == 60
    assert index.remove("a") is not None
    assert index.size == 0


def _writer(data: bytes, calls: list[int]):  # type: ignore[no-untyped-def]
    def download(path: Path) -> None:
        calls.append(1)
        path.write_bytes(data)

    return download


def test_cache_accounting_eviction_and_links(tmp_path: Path) -> None:
    cache = FetcherCache(tmp_path / "cache", capacity=250)
    calls: list[int] = []
    never = lambda: False  # noqa: E731
    for index, key in enumerate(["a", "b", "a", "c"]):
        hit = cache.fetch_into(key, tmp_path / f"out{index}", _writer(b"x" * 100, calls), never)
        assert hit == (index == 2)
    assert len(calls) == 3  # the second "a" came from the cache
    # 300 bytes asked for, 250 allowed: "b" was the least recently used and went.
    assert list(cache.index.entries) == ["a", "c"]
    assert cache.index.size == 200
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(
        e.path.name for e in cache.index.entries.values()
    )
    # Sandboxes hold hard links: still whole after their entry was evicted.
    assert (tmp_path / "out1").read_bytes() == b"x" * 100
    assert (tmp_path / "out0").stat().st_ino == cache.index.entries["a"].path.stat().st_ino
    # Larger than the whole cache: delivered, not kept.
    assert not cache.fetch_into("big", tmp_path / "big", _writer(b"y" * 300, calls), never)
    assert (tmp_path / "big").read_bytes() == b"y" * 300
    assert "big" not in cache.index.entries
    assert cache.index.size == 200


def test_concurrent_requests_make_one_download(tmp_path: Path) -> None:
    cache = FetcherCache(tmp_path / "cache", capacity=1 << 20)
    release = threading.Event()
    calls: list[int] = []

    def slow(path: Path) -> None:
        calls.append(1)
        release.wait(30)
        path.write_bytes(b"artifact")

    hits: list[bool] = []
    threads = [
        threading.Thread(
            target=lambda i=i: hits.append(  # type: ignore[misc]
                cache.fetch_into("k", tmp_path / f"s{i}", slow, lambda: False)
            )
        )
        for i in range(5)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while cache.waiters < 4:  # poll until the other four wait for the one download
        assert time.monotonic() < deadline, f"{cache.waiters} waiting"
        threading.Event().wait(0.01)
    release.set()
    for thread in threads:
        thread.join(30)
    assert len(calls) == 1
    assert sorted(hits) == [False, True, True, True, True]
    assert all((tmp_path / f"s{i}").read_bytes() == b"artifact" for i in range(5))


def test_a_failed_download_fails_its_waiters_and_is_not_kept(tmp_path: Path) -> None:
    cache = FetcherCache(tmp_path / "cache", capacity=1 << 20)

    def broken(path: Path) -> None:
        path.write_bytes(b"partial")
        raise OSError("connection reset")

    with pytest.raises(OSError, match="connection reset"):
        cache.fetch_into("k", tmp_path / "s", broken, lambda: False)
    assert cache.index.size == 0
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_cancelled_waiter_stops_waiting(tmp_path: Path) -> None:
    cache = FetcherCache(tmp_path / "cache", capacity=1 << 20)
    started, release = threading.Event(), threading.Event()

    def slow(path: Path) -> None:
        started.set()
        release.wait(30)
        path.write_bytes(b"a")

    downloader = threading.Thread(
        target=lambda: cache.fetch_into("k", tmp_path / "a", slow, lambda: False)
    )
    downloader.start()
    started.wait(30)
    with pytest.raises(FetchCancelled):
        cache.fetch_into("k", tmp_path / "b", slow, lambda: True)
    release.set()
    downloader.join(30)
    assert (tmp_path / "a").read_bytes() == b"a"


def test_a_restarted_cache_starts_empty_and_removes_only_its_own_files(tmp_path: Path) -> None:
    directory = tmp_path / "shared"
    cache = FetcherCache(directory, capacity=1 << 20)
    cache.fetch_into("k", tmp_path / "s", _writer(b"data", []), lambda: False)
    (directory / "someone-elses.txt").write_text("keep me")
    again = FetcherCache(directory, capacity=1 << 20)
    assert again.index.size == 0
    assert [p.name for p in directory.iterdir()] == ["someone-elses.txt"]
    assert (tmp_path / "s").read_bytes() == b"data"  # a sandbox's link outlives the entry
