"""The fetcher's cache: one artifact (100 MB by default) into N sandboxes (100).

The agent's fetcher (``mesospy.agent.fetcher.Fetcher``, as the agent runs it, in a
thread) fetches a cached URI into each of N fresh sandboxes, writing its progress to each
sandbox's stderr file. The artifact is served over HTTP on 127.0.0.1 by the test
FileServer; the first fetch downloads it (the cold figure), every one after comes from the
cache as a hard link. Beside it, in the same run: ``cp`` of the same file into N other
fresh directories (the anchor: what a fetcher that copies, as Mesos's does, costs at
least), and the fetcher with ``executable`` set (which copies: a chmod of a link would
change the cached file).

    python bench/fetch.py                     # 100 MB into 100 sandboxes
    python bench/fetch.py --mb 20 --sandboxes 50

Exits non-zero if a sandbox's file is not the artifact or the cache downloaded it twice.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from machine import describe, file_system

from mesospy.agent.fetcher import Cancellation, Fetcher
from mesospy.scheduler import uri
from mesospy.testing import FileServer

MB = 1 << 20
TARGET = 0.2  # seconds per sandbox


def _fetch_into(fetcher: Fetcher, url: str, sandboxes: list[Path], executable: bool) -> list[float]:
    times = []
    for sandbox in sandboxes:
        sandbox.mkdir(parents=True)
        started = time.perf_counter()
        fd = os.open(sandbox / "stderr", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            fetcher.fetch_all(
                [uri(url, cache=True, executable=executable)], sandbox, fd, Cancellation()
            )
        finally:
            os.close(fd)
        times.append(time.perf_counter() - started)
    return times


def _cp_into(source: Path, directories: list[Path]) -> list[float]:
    times = []
    for directory in directories:
        directory.mkdir(parents=True)
        started = time.perf_counter()
        subprocess.run(["cp", str(source), str(directory / source.name)], check=True)
        times.append(time.perf_counter() - started)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=100, help="artifact size in MB")
    parser.add_argument("--sandboxes", type=int, default=100)
    parser.add_argument("--work-dir", default=None, help="where sandboxes go (default: a temp dir)")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-fetch-", dir=args.work_dir))
    try:
        artifact = root / "artifact.bin"
        with open(artifact, "wb") as f:
            for _ in range(args.mb):
                f.write(os.urandom(MB))
        data_size = artifact.stat().st_size
        with FileServer() as server:
            url = server.put("/artifact.bin", artifact.read_bytes())
            fetcher = Fetcher(root / "cache", 4 * data_size, 2 * data_size)
            try:
                cold = _fetch_into(fetcher, url, [root / "cold"], executable=False)[0]
                n = args.sandboxes
                linked = _fetch_into(
                    fetcher, url, [root / "linked" / str(i) for i in range(n)], False
                )
                copied = _fetch_into(
                    fetcher, url, [root / "copied" / str(i) for i in range(n)], True
                )
            finally:
                fetcher.close()
            requests = server.requests["/artifact.bin"]
        cp = _cp_into(artifact, [root / "cp" / str(i) for i in range(args.sandboxes)])

        ok = requests == 1 and fetcher.cache.downloads == 1
        for kind in ("linked", "copied"):
            for i in (0, args.sandboxes - 1):
                ok = ok and (root / kind / str(i) / "artifact.bin").stat().st_size == data_size
        ok = (
            ok
            and subprocess.run(
                ["cmp", "-s", str(artifact), str(root / "linked" / "0" / "artifact.bin")]
            ).returncode
            == 0
        )

        def row(name: str, times: list[float]) -> str:
            mean = sum(times) / len(times)
            return (
                f"{name:<38} {mean * 1000:9.2f} ms {max(times) * 1000:9.2f} ms {sum(times):8.2f} s"
            )

        print(f"{args.mb} MB artifact into {args.sandboxes} sandboxes ({file_system(str(root))})")
        print(f"{'':<38} {'mean':>12} {'worst':>12} {'total':>10}")
        print(row("fetcher, cold (download, 1 sandbox)", [cold]))
        print(row("fetcher, from the cache (hard link)", linked))
        print(row("fetcher, cached + executable (copy)", copied))
        print(row("anchor: cp of the same file", cp))
        mean_linked = sum(linked) / len(linked)
        verdict = "met" if mean_linked <= TARGET else "missed"
        print(f"target <= {TARGET} s per sandbox from the cache: {verdict}")
        print(describe())
        print(
            json.dumps(
                {
                    "mb": args.mb,
                    "sandboxes": args.sandboxes,
                    "cold_s": round(cold, 4),
                    "cached_link_mean_s": round(mean_linked, 5),
                    "cached_link_worst_s": round(max(linked), 5),
                    "cached_copy_mean_s": round(sum(copied) / len(copied), 5),
                    "cp_mean_s": round(sum(cp) / len(cp), 5),
                    "downloads": requests,
                    "ok": ok,
                }
            )
        )
        return 0 if ok else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
