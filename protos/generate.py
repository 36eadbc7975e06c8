"""Regenerate the committed protobuf/gRPC code: ``python protos/generate.py [OUT_DIR]``.

The output goes to the repository root by default, so ``protos/mesospy/v1/x.proto``
becomes ``mesospy/v1/x_pb2.py`` (with ``_pb2_grpc.py`` and ``.pyi`` beside it), and the
bundled frameworks' APIs (``protos/frameworks/batch/v1/batch.proto``) land in
``frameworks/batch/v1/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

PROTOS = Path(__file__).resolve().parent
ROOT = PROTOS.parent


def generate(out: Path) -> None:
    sources = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.glob("*/**/v1/*.proto"))
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{Path(protoc.__file__).parent / '_proto'}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--pyi_out={out}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT)
