"""Images from files on the agent, for clusters without a registry: ``file:///path``.

Two formats: an OCI image layout (a directory, or a tar of one: ``oci-layout``,
``index.json``, ``blobs/sha256/...``), and a ``docker save`` archive (a tar with a
``manifest.json`` naming the config and layer files). Every blob named by a digest is
checked against it; a docker save archive's config is identified by its own sha256, as
Docker does. Blocking: worker threads.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from mesospy.agent.containers.registry import RegistryError, check_digest

CHUNK = 1 << 20
MAX_JSON = 4 << 20


class _Source:
    """Reads named files from a directory or a tar."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tar: tarfile.TarFile | None = None
        if not path.is_dir():
            try:
                self.tar = tarfile.open(path, "r:*")  # noqa: SIM115 (closed by close())
            except (OSError, tarfile.TarError) as exc:
                raise RegistryError(
                    f"{path} is neither a directory nor a readable tar: {exc}"
                ) from exc
            self.names = {
                posixpath.normpath(m.name): m for m in self.tar.getmembers() if m.isfile()
            }

    def close(self) -> None:
        if self.tar is not None:
            self.tar.close()

    def has(self, name: str) -> bool:
        if self.tar is None:
            return (self.path / name).is_file()
        return posixpath.normpath(name) in self.names

    @contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        normal = posixpath.normpath(name)
        if normal.startswith(("/", "../")) or normal == "..":
            raise RegistryError(f"{name!r} points outside the image file")
        if self.tar is None:
            real = os.path.realpath(self.path / normal)
            if os.path.commonpath([real, os.path.realpath(self.path)]) != os.path.realpath(
                self.path
            ):
                raise RegistryError(f"{name!r} points outside the image directory")
            try:
                with open(real, "rb") as f:
                    yield f
            except FileNotFoundError:
                raise RegistryError(f"{self.path} has no {name}") from None
            return
        member = self.names.get(normal)
        extracted = self.tar.extractfile(member) if member is not None else None
        if extracted is None:
            raise RegistryError(f"{self.path} has no {name}")
        with extracted:
            yield extracted

    def read_json(self, name: str) -> Any:
        with self.open(name) as f:
            data = f.read(MAX_JSON + 1)
        try:
            return json.loads(data)
        except ValueError as exc:
            raise RegistryError(f"{name} in {self.path} is not JSON: {exc}") from exc

    def read(self, name: str) -> bytes:
        with self.open(name) as f:
            return f.read(MAX_JSON + 1)


def _copy(
    source: _Source, name: str, dest: Path, max_size: int, cancelled: Callable[[], bool]
) -> str:
    """Copy ``name`` to ``dest``; its sha256 digest."""
    hasher = hashlib.sha256()
    size = 0
    with source.open(name) as src, open(dest, "wb") as out:
        while chunk := src.read(CHUNK):
            if cancelled():
                raise RegistryError("cancelled")
            size += len(chunk)
            if size > max_size:
                raise RegistryError(f"{name} is larger than {max_size} bytes")
            hasher.update(chunk)
            out.write(chunk)
    return "sha256:" + hasher.hexdigest()


def read_image(
    path: Path,
    store_blob: Callable[[Callable[[Path], str], str | None], Path],
    pick: Callable[[dict[str, Any], str], str],
    max_size: int,
    cancelled: Callable[[], bool],
) -> tuple[str, dict[str, Any], list[Path]]:
    """The config digest, config and layer blobs (in the store) of the image at ``path``.
    ``store_blob(write, digest)`` keeps a blob: ``write(tmp)`` copies it and returns its
    digest (checked against ``digest`` when it is known); ``pick`` chooses a platform's
    manifest from an index."""
    source = _Source(path)
    try:
        if source.has("index.json"):
            return _oci(source, store_blob, pick, max_size, cancelled)
        if source.has("manifest.json"):
            return _docker(source, store_blob, max_size, cancelled)
        raise RegistryError(
            f"{path} has neither index.json (OCI layout) nor manifest.json (docker save)"
        )
    finally:
        source.close()


def _blob_name(digest: str) -> str:
    return "blobs/sha256/" + digest.removeprefix("sha256:")


def _oci(
    source: _Source, store_blob: Any, pick: Any, max_size: int, cancelled: Any
) -> tuple[str, dict[str, Any], list[Path]]:
    index = source.read_json("index.json")
    if not isinstance(index, dict):
        raise RegistryError("index.json is not a JSON object")
    digest = (
        pick(index, str(source.path))
        if len(index.get("manifests") or []) != 1
        else index["manifests"][0]["digest"]
    )
    for _ in range(3):  # an index may point at another index
        body = source.read(_blob_name(digest))
        check_digest(body, digest, f"manifest {digest}")
        manifest = json.loads(body)
        if "manifests" not in manifest:
            break
        digest = pick(manifest, str(source.path))
    config_digest = manifest["config"]["digest"]
    config_body = source.read(_blob_name(config_digest))
    check_digest(config_body, config_digest, f"config {config_digest}")
    layers = []
    for entry in manifest.get("layers") or []:
        layer_digest = entry["digest"]
        name = _blob_name(layer_digest)
        layers.append(
            store_blob(lambda tmp, n=name: _copy(source, n, tmp, max_size, cancelled), layer_digest)
        )
    return config_digest, json.loads(config_body), layers


def _docker(
    source: _Source, store_blob: Any, max_size: int, cancelled: Any
) -> tuple[str, dict[str, Any], list[Path]]:
    entries = source.read_json("manifest.json")
    if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
        raise RegistryError("manifest.json lists no image")
    entry = entries[0]
    config_body = source.read(str(entry.get("Config", "")))
    config_digest = "sha256:" + hashlib.sha256(config_body).hexdigest()
    layers = []
    for name in entry.get("Layers") or []:
        layers.append(
            store_blob(lambda tmp, n=str(name): _copy(source, n, tmp, max_size, cancelled), None)
        )
    return config_digest, json.loads(config_body), layers
