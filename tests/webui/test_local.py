"""`mesospy local` serves the dashboard and prints where."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from mesospy.testing.cli import run_mesospy


def test_local_prints_the_dashboard_url_and_it_serves(tmp_path: Path) -> None:
    local = subprocess.Popen(
        [sys.executable, "-m", "mesospy", "local", "--port", "0", "--work-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert local.stdout is not None
    urls: list[str] = []
    try:
        for line in local.stdout:
            urls += re.findall(r"dashboard at (http://\S+/)", line)
            if "running;" in line:
                break
        assert len(urls) == 1, urls
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(urls[0], timeout=10) as page:
            assert "<title>mesospy</title>" in page.read().decode()
        with opener.open(urls[0] + "api/state", timeout=10) as answer:
            state = json.loads(answer.read())
        assert len(state["agents"]) == 2
        names = {f["framework_info"]["name"] for f in state["frameworks"]}
        assert names == {"mesospy-batch", "mesospy-service"}
    finally:
        local.send_signal(signal.SIGTERM)
        local.wait(timeout=30)


def test_a_dashboard_port_that_is_taken_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        master = run_mesospy(
            "master", "--port", "0", "--webui-port", str(port), "--work-dir", str(tmp_path)
        )
    assert master.returncode == 1
    lines = master.stderr.strip().splitlines()
    assert lines[-1] == (
        f"mesospy: error: cannot serve the dashboard on 127.0.0.1:{port}: Address already in use"
    )
    assert "Traceback" not in master.stderr
