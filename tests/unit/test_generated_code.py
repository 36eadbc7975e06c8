"""The committed generated protobuf code is exactly what the protos produce."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def _generated_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.name.endswith(GENERATED) and ".venv" not in p.parts
    }


def test_regenerating_the_protos_changes_nothing(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "protos" / "generate.py"), str(tmp_path)], check=True
    )
    fresh = _generated_files(tmp_path)
    assert "mesospy/v1/scheduler_pb2.py" in fresh
    committed = {
        name: data
        for name, data in _generated_files(ROOT).items()
        if name.split("/")[0] in {"mesospy", "frameworks"}
    }
    assert sorted(committed) == sorted(fresh), "generated files missing or left over"
    changed = [name for name in fresh if fresh[name] != committed[name]]
    assert not changed, f"regenerate with protos/generate.py: {changed}"
