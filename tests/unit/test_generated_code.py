"""The committed generated protobuf code is exactly what the protos produce."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_regenerating_the_protos_changes_nothing(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "protos" / "generate.py"), str(tmp_path)], check=True
    )
    generated = sorted(p.name for p in (tmp_path / "mesospy" / "v1").iterdir())
    committed = sorted(
        p.name
        for p in (ROOT / "mesospy" / "v1").iterdir()
        if p.name.startswith(tuple(n.split("_pb2")[0] for n in generated))
    )
    assert generated == committed
    _, mismatch, errors = filecmp.cmpfiles(
        tmp_path / "mesospy" / "v1", ROOT / "mesospy" / "v1", generated, shallow=False
    )
    assert not mismatch and not errors, f"regenerate with protos/generate.py: {mismatch}"
