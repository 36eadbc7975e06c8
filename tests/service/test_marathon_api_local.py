"""`mesospy local` serves the Marathon API on its service framework and prints its URL."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path


def test_local_prints_a_marathon_api_url_that_answers(tmp_path: Path) -> None:
    local = subprocess.Popen(
        [sys.executable, "-m", "mesospy", "local", "--port", "0", "--work-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert local.stdout is not None
        urls: list[str] = []
        for line in local.stdout:
            urls += re.findall(r"Marathon API at (http://\S+)", line)
            if "running;" in line:
                break
        assert len(urls) == 1, urls
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(urls[0] + "/ping", timeout=10) as answer:
            assert answer.read() == b"pong"
        with opener.open(urls[0] + "/v2/apps", timeout=10) as answer:
            assert json.loads(answer.read()) == {"apps": []}
    finally:
        local.send_signal(signal.SIGTERM)
        local.wait(timeout=30)
