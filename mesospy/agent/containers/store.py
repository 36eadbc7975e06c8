"""The agent's image store: blobs kept by digest, one unpacked root file system per image.

Layout under the store's directory (default ``WORK_DIR/images``)::

    blobs/sha256/<hex>        every layer and config blob, verified, shared by images
    images/<config hex>/      an image: rootfs/ (its layers applied in order), config.json
    refs/<sha256 of name>     the config digest an image name resolved to when last pulled

``get`` pulls an image at most once at a time: a second task asking for the same image (or
a blob another pull is downloading) waits for the first and takes what it made. An image
pulled before is used without asking the registry again unless the task asks for a fresh
pull (``Image.cached: false``, Marathon's forcePullImage). Blocking: worker threads.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import logging
import os
import platform
import re
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mesospy.agent.containers.launch import working_dir
from mesospy.agent.containers.layers import LayerError, apply_layer
from mesospy.agent.containers.local_images import read_image
from mesospy.agent.containers.registry import RegistryClient, RegistryError, check_digest
from mesospy.agent.containers.rootfs import RootfsError, make_mount_points
from mesospy.agent.fetcher import Cancellation, FetchCancelled
from mesospy.image_reference import DEFAULT_REGISTRY, ImageReference, parse_reference

log = logging.getLogger(__name__)

INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
LAYER_TYPES = (
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
)
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


class ImageError(Exception):
    """The image cannot be had: bad name, registry down, unknown image, bad content."""


@dataclass
class Image:
    """A pulled image: its identity (the config digest), root file system and config."""

    digest: str
    rootfs: Path
    config: dict[str, Any] = field(default_factory=dict)  # the config's "config" object


def host_architecture() -> str:
    machine = platform.machine()
    return _ARCHITECTURES.get(machine, machine)


class ImageStore:
    def __init__(self, root: Path, *, mirror: str | None = None, max_size: int = 8 << 30) -> None:
        self.root = root
        self.mirror = mirror.rstrip("/") if mirror else None
        self.max_size = max_size
        self.blobs = root / "blobs" / "sha256"
        self.images = root / "images"
        self.refs = root / "refs"
        for path in (self.blobs, self.images, self.refs):
            path.mkdir(parents=True, exist_ok=True)
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        # Images found or pulled since the agent started, by registry URL and name.
        self._known: dict[str, Image] = {}
        self.downloads = 0  # blobs downloaded (a metric, and for tests)
        self.pulls = 0  # manifests asked for
        self._clean_partial()

    def _clean_partial(self) -> None:
        """Half-made images and blobs of a pull an agent stop cut short."""
        for parent in (self.images, self.blobs):
            for entry in parent.iterdir():
                if entry.name.startswith(".tmp-"):
                    if entry.is_dir():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _single(self, key: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            yield

    # ------------------------------------------------------------------ naming

    def registry_url(self, ref: ImageReference) -> str:
        if not ref.registry:
            return self.mirror or f"https://{DEFAULT_REGISTRY}"
        host = ref.registry.rsplit(":", 1)[0].strip("[]")
        loopback = host == "localhost"
        with contextlib.suppress(ValueError):
            loopback = loopback or ipaddress.ip_address(host).is_loopback
        return f"{'http' if loopback else 'https'}://{ref.registry}"

    def _ref_file(self, name: str) -> Path:
        return self.refs / hashlib.sha256(name.encode()).hexdigest()

    def _load(self, digest: str) -> Image | None:
        path = self.images / digest.removeprefix("sha256:")
        try:
            config = json.loads((path / "config.json").read_text())
        except (OSError, ValueError):
            return None
        section = config.get("config") if isinstance(config, dict) else None
        return Image(digest, path / "rootfs", section if isinstance(section, dict) else {})

    # ------------------------------------------------------------------ pulling

    def get(
        self, name: str, cancel: Cancellation, *, cached: bool = True, offline: bool = False
    ) -> Image:
        """The image ``name``, pulled if need be (never with ``offline``). Raises
        ImageError, or FetchCancelled."""
        if name.startswith("file://"):
            return self._get_file(name, cancel, cached)  # a local file: offline anyway
        try:
            ref = parse_reference(name)
        except ValueError as exc:
            raise ImageError(str(exc)) from exc
        url = self.registry_url(ref)
        key = f"{url}/{ref}"
        if cached and (known := self._known.get(key)) is not None:
            return known
        with self._single(key):
            cancel.check()
            if cached:
                with contextlib.suppress(OSError):
                    digest = self._ref_file(key).read_text().strip()
                    image = self._load(digest)
                    if image is not None:
                        self._known[key] = image
                        return image
            if offline:
                raise ImageError(f"image {name!r} is not on this agent")
            try:
                image = self._pull(ref, url, cancel)
            except RegistryError as exc:
                cancel.check()
                raise ImageError(f"cannot pull image {name!r} from {url}: {exc}") from exc
            except (LayerError, RootfsError) as exc:
                cancel.check()
                raise ImageError(f"cannot unpack image {name!r}: {exc}") from exc
            self._write(self._ref_file(key), image.digest.encode())
            self._known[key] = image
            return image

    def _file_key(self, name: str) -> str:
        """A file image's key: its path and the file's identity (a new file, a new key)."""
        try:
            st = os.stat(name[len("file://") :])
        except OSError:
            return name
        return f"{name}@{st.st_ino}:{st.st_mtime_ns}:{st.st_size}"

    def _get_file(self, name: str, cancel: Cancellation, cached: bool) -> Image:
        key = self._file_key(name)
        if cached and (known := self._known.get(key)) is not None:
            return known
        with self._single(key):
            cancel.check()
            try:
                config_digest, config, layers = read_image(
                    Path(name[len("file://") :]),
                    lambda write, digest: self._keep_blob(write, digest),
                    self._pick_platform,
                    self.max_size,
                    cancel.is_set,
                )
                image = self._load(config_digest) or self._assemble(
                    config_digest, config, layers, cancel
                )
            except (RegistryError, LayerError, RootfsError) as exc:
                cancel.check()
                raise ImageError(f"cannot load image {name!r}: {exc}") from exc
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise ImageError(f"cannot load image {name!r}: malformed ({exc!r})") from exc
            self._known[key] = image
            return image

    def _keep_blob(self, write: Callable[[Path], str], digest: str | None) -> Path:
        """A blob copied in by ``write`` (which returns its digest), kept by digest."""
        if digest is not None:
            if not _DIGEST.match(digest):
                raise RegistryError(f"digest {digest!r} is not sha256:<64 hex digits>")
            known = self.blobs / digest.removeprefix("sha256:")
            if known.exists():
                return known
        tmp = self.blobs / f".tmp-{uuid.uuid4().hex}"
        try:
            actual = write(tmp)
            if digest is not None and actual != digest:
                raise RegistryError(f"blob {digest} does not match its digest (got {actual})")
            final = self.blobs / actual.removeprefix("sha256:")
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return final

    def known(self, name: str) -> bool:
        """Whether ``name`` is an image this store has at hand (no pull needed)."""
        if name.startswith("file://"):
            return self._file_key(name) in self._known
        try:
            ref = parse_reference(name)
        except ValueError:
            return False
        return f"{self.registry_url(ref)}/{ref}" in self._known

    def _pull(self, ref: ImageReference, url: str, cancel: Cancellation) -> Image:
        client = RegistryClient(url, cancel)
        self.pulls += 1
        try:
            body, media_type = client.manifest(ref.repository, ref.reference)
        except RegistryError as exc:
            if "HTTP 404" in str(exc):
                raise RegistryError(
                    f"manifest {ref.reference!r} of {ref.repository!r} not found (HTTP 404)"
                ) from exc
            raise
        manifest = _json(body, "manifest")
        media_type = manifest.get("mediaType") or media_type
        if media_type in INDEX_TYPES or "manifests" in manifest:
            digest = self._pick_platform(manifest, str(ref))
            body, media_type = client.manifest(ref.repository, digest)
            check_digest(body, digest, f"manifest {digest}")
            manifest = _json(body, "manifest")
            media_type = manifest.get("mediaType") or media_type
        if media_type not in MANIFEST_TYPES:
            raise RegistryError(
                f"unsupported manifest type {media_type!r} (schema 1 is not supported)"
            )
        config_digest = _descriptor(manifest.get("config"), "config")[0]
        existing = self._load(config_digest)
        if existing is not None:
            return existing
        config_path = self._blob(client, ref.repository, config_digest, cancel)
        config = _json(config_path.read_bytes(), "image config")
        layers = []
        for entry in manifest.get("layers") or []:
            digest, layer_type = _descriptor(entry, "layer")
            if layer_type and layer_type not in LAYER_TYPES:
                raise RegistryError(f"layer {digest} has unsupported media type {layer_type!r}")
            layers.append(self._blob(client, ref.repository, digest, cancel))
        return self._assemble(config_digest, config, layers, cancel)

    def _pick_platform(self, index: dict[str, Any], name: str) -> str:
        arch = host_architecture()
        seen = []
        for entry in index.get("manifests") or []:
            plat = entry.get("platform") or {} if isinstance(entry, dict) else {}
            seen.append(f"{plat.get('os')}/{plat.get('architecture')}")
            if plat.get("os") == "linux" and plat.get("architecture") == arch:
                return _descriptor(entry, "manifest")[0]
        raise RegistryError(f"no linux/{arch} image in {name} (it has {', '.join(seen) or 'none'})")

    def _blob(
        self, client: RegistryClient, repository: str, digest: str, cancel: Cancellation
    ) -> Path:
        path = self.blobs / digest.removeprefix("sha256:")
        with self._single(digest):
            if path.exists():
                return path
            cancel.check()
            tmp = self.blobs / f".tmp-{uuid.uuid4().hex}"
            try:
                client.blob(repository, digest, tmp, self.max_size)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
            self.downloads += 1
            log.info("downloaded blob %s of %s", digest, repository)
        return path

    def _assemble(
        self, digest: str, config: dict[str, Any], layers: list[Path], cancel: Cancellation
    ) -> Image:
        final = self.images / digest.removeprefix("sha256:")
        with self._single(f"image:{digest}"):
            existing = self._load(digest)
            if existing is not None:
                return existing
            tmp = self.images / f".tmp-{uuid.uuid4().hex}"
            rootfs = tmp / "rootfs"
            try:
                rootfs.mkdir(parents=True)
                os.chmod(rootfs, 0o755)
                budget = self.max_size
                for layer in layers:
                    budget -= apply_layer(layer, rootfs, budget, cancel.is_set)
                section = config.get("config")
                make_mount_points(rootfs, working_dir(section if isinstance(section, dict) else {}))
                cancel.check()
                (tmp / "config.json").write_text(json.dumps(config))
                os.replace(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                if cancel.is_set():
                    raise FetchCancelled("killed while its image was pulled") from None
                raise
        image = self._load(digest)
        assert image is not None
        return image

    def _write(self, path: Path, data: bytes) -> None:
        tmp = path.with_name(f".tmp-{uuid.uuid4().hex}")
        tmp.write_bytes(data)
        os.replace(tmp, path)


def _json(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise RegistryError(f"the {what} is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise RegistryError(f"the {what} is not a JSON object")
    return value


def _descriptor(entry: Any, what: str) -> tuple[str, str]:
    if not isinstance(entry, dict) or not isinstance(entry.get("digest"), str):
        raise RegistryError(f"a {what} descriptor has no digest")
    digest = entry["digest"]
    if not _DIGEST.match(digest):
        raise RegistryError(f"{what} digest {digest!r} is not sha256:<64 hex digits>")
    return digest, str(entry.get("mediaType") or "")
