"""A real image registry on loopback, and test images built from busybox-static.

``Registry`` runs Debian's ``docker-registry`` (the Distribution registry) on a free
127.0.0.1 port with its storage in a temporary directory; ``RegistryProxy`` stands in front
of it, counting requests by path and able to hold blob downloads (for "one download" and
"killed while pulling" tests). ``busybox_image`` builds an image from the host's
``/bin/busybox`` (a layer tarball, an image config, a manifest v2 schema 2), which
``Registry.push`` uploads with the registry's HTTP API v2 (monolithic blob upload: POST
then PUT; manifest PUT). ``python -m mesospy.testing.registry HOST:PORT NAME:TAG`` pushes
one to a running registry (for the examples)::

    with Registry(tmp_path) as registry:
        image = busybox_image(os_id="mesospy-test")
        registry.push("test/busybox", "1", image)
        name = f"{registry.host}/test/busybox:1"
"""

from __future__ import annotations

import base64
import collections
import contextlib
import datetime
import gzip
import hashlib
import http.client
import io
import json
import subprocess
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from mesospy.cluster import free_port

__all__ = [
    "INDEX",
    "MANIFEST",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "Registry",
    "RegistryImages",
    "RegistryProxy",
    "TestImage",
    "TokenServer",
    "busybox_image",
    "index_for",
    "write_docker_archive",
    "write_oci_layout",
]

REGISTRY_BINARY = "/usr/bin/docker-registry"
BUSYBOX = "/bin/busybox"
MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.docker.container.image.v1+json"
LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
# The applets the test image links to busybox.
APPLETS = tuple(
    [
        "sh",
        "ps",
        "cat",
        "id",
        "ls",
        "sleep",
        "echo",
        "env",
        "pwd",
        "true",
        "false",
        "test",
        "printenv",
        "wc",
        "grep",
        "whoami",
        "kill",
        "stat",
        "touch",
        "mkdir",
        "readlink",
        "head",
        "tail",
        "httpd",
        "wget",
        "date",
        "uname",
        "hostname",
    ]
)


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class TestImage:
    """An image as pushed: its layers (gzipped tars), config and manifest (bytes)."""

    layers: list[bytes]
    config: bytes
    manifest: bytes = b""
    media_type: str = MANIFEST
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.manifest:
            self.manifest = _manifest(self.config, self.layers, self.media_type)

    @property
    def config_digest(self) -> str:
        """The config's digest: the image's identity on the agent."""
        return digest_of(self.config)

    @property
    def digest(self) -> str:
        """The manifest's digest (what ``name@sha256:...`` refers to)."""
        return digest_of(self.manifest)


def _manifest(config: bytes, layers: list[bytes], media_type: str) -> bytes:
    oci = media_type == OCI_MANIFEST
    body = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json" if oci else CONFIG,
            "size": len(config),
            "digest": digest_of(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip" if oci else LAYER,
                "size": len(layer),
                "digest": digest_of(layer),
            }
            for layer in layers
        ],
    }
    return json.dumps(body, indent=2).encode()


def index_for(images: dict[str, TestImage], oci: bool = True) -> bytes:
    """A multi-arch index (OCI image index, or Docker manifest list) of ``images`` keyed
    by "os/architecture"."""
    manifests = []
    for platform, image in images.items():
        os_name, _, arch = platform.partition("/")
        manifests.append(
            {
                "mediaType": image.media_type,
                "size": len(image.manifest),
                "digest": image.digest,
                "platform": {"os": os_name, "architecture": arch},
            }
        )
    body = {"schemaVersion": 2, "mediaType": OCI_INDEX if oci else INDEX, "manifests": manifests}
    return json.dumps(body, indent=2).encode()


def layer(
    files: dict[str, bytes | str | None],
    *,
    symlinks: dict[str, str] | None = None,
    modes: dict[str, int] | None = None,
    raw: list[tarfile.TarInfo] | None = None,
) -> bytes:
    """A gzipped layer tarball: ``files`` (None makes a directory), ``symlinks``
    (name -> target), and ``raw`` entries as given (for escape tests)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = (modes or {}).get(name, 0o755)
                tar.addfile(info)
                continue
            content = data.encode() if isinstance(data, str) else data
            info.size = len(content)
            info.mode = (modes or {}).get(name, 0o644)
            tar.addfile(info, io.BytesIO(content))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            info.mode = 0o777
            tar.addfile(info)
        for info in raw or []:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.size else None)
    return gzip.compress(buffer.getvalue(), mtime=0)


def busybox_image(
    *,
    os_id: str = "mesospy-test",
    env: list[str] | None = None,
    entrypoint: list[str] | None = None,
    cmd: list[str] | None = None,
    working_dir: str = "/srv/app",
    user: str = "",
    extra_layers: list[bytes] | None = None,
    architecture: str = "amd64",
    media_type: str = MANIFEST,
) -> TestImage:
    """A small image: the host's busybox-static with links for common applets, an
    /etc/os-release of its own (``ID=<os_id>``), a non-root user ``app`` (uid 1000), and a
    config with the given Env/Entrypoint/Cmd/WorkingDir/User."""
    busybox = Path(BUSYBOX).read_bytes()
    base = layer(
        {
            "bin": None,
            "bin/busybox": busybox,
            "etc": None,
            "etc/os-release": f'ID={os_id}\nNAME="mesospy test image"\nPRETTY_NAME="{os_id}"\n',
            "etc/passwd": "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
            "etc/group": "root:x:0:\napp:x:1000:\n",
            "home": None,
            "home/app": None,
            "root": None,
            "tmp": None,
            "proc": None,
            "dev": None,
            "srv": None,
            "srv/app": None,
            "srv/app/hello.txt": "hello from the image\n",
        },
        symlinks={f"bin/{applet}": "busybox" for applet in APPLETS},
        modes={"bin/busybox": 0o755, "tmp": 0o1777},
    )
    config = {
        "architecture": architecture,
        "os": "linux",
        "config": {
            "Env": env if env is not None else ["PATH=/usr/local/bin:/bin", "IMAGE_VAR=from-image"],
            "Entrypoint": entrypoint,
            "Cmd": cmd if cmd is not None else ["/bin/sh"],
            "WorkingDir": working_dir,
            "User": user,
        },
        "rootfs": {"type": "layers", "diff_ids": []},
    }
    layers = [base, *(extra_layers or [])]
    config["rootfs"]["diff_ids"] = [  # type: ignore[index]
        digest_of(gzip.decompress(blob)) for blob in layers
    ]
    return TestImage(layers, json.dumps(config).encode(), media_type=media_type)


@dataclass
class RegistryImages:
    """A registry and the image pushed to it as ``test/busybox:1`` (and ``:latest``)."""

    registry: Registry
    image: TestImage

    def name(self, repository: str = "test/busybox", tag: str = "1") -> str:
        return f"{self.registry.host}/{repository}:{tag}"


class Registry:
    """``docker-registry serve`` on a free loopback port, storage in ``work_dir``."""

    def __init__(
        self, work_dir: Path, port: int | None = None, tokens: TokenServer | None = None
    ) -> None:
        """``tokens``: require bearer tokens from this token server (token auth)."""
        self.work_dir = work_dir
        self.tokens = tokens
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def start(self) -> Registry:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        config = self.work_dir / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.work_dir / 'data'}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.host}\n  secret: mesospy-tests\n"
        )
        if self.tokens is not None:
            bundle = self.work_dir / "token-ca.pem"
            bundle.write_bytes(self.tokens.certificate_pem)
            with config.open("a") as f:
                f.write(
                    "auth:\n  token:\n"
                    f"    realm: {self.tokens.url}\n"
                    f"    service: {TokenServer.SERVICE}\n"
                    f"    issuer: {TokenServer.ISSUER}\n"
                    f"    rootcertbundle: {bundle}\n"
                )
        log = open(self.work_dir / "registry.log", "ab")  # noqa: SIM115 (the child keeps it)
        with log:
            self._proc = subprocess.Popen(
                [REGISTRY_BINARY, "serve", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + 20
        while True:
            try:
                with self._opener.open(self.url + "/v2/", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except urllib.error.HTTPError as exc:
                if exc.code == 401 and self.tokens is not None:
                    return self  # up, and asking for a token
            except (urllib.error.URLError, OSError):
                pass
            if self._proc.poll() is not None or time.monotonic() > deadline:
                text = (self.work_dir / "registry.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"docker-registry did not start: {text}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def __enter__(self) -> Registry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ pushing

    def _call(
        self, method: str, url: str, data: bytes = b"", headers: dict[str, str] | None = None
    ) -> Any:
        headers = dict(headers or {})
        if self.tokens is not None:
            path = urllib.parse.urlsplit(url).path
            repository = path.removeprefix("/v2/").split("/blobs/")[0].split("/manifests/")[0]
            headers["Authorization"] = "Bearer " + self.tokens.issue(repository, ["pull", "push"])
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        return self._opener.open(request, timeout=30)

    def push_blob(self, repository: str, data: bytes) -> str:
        """A monolithic upload (POST, then PUT with the digest); the blob's digest."""
        digest = digest_of(data)
        with self._call("POST", f"{self.url}/v2/{repository}/blobs/uploads/") as answer:
            location = answer.headers["Location"]
        if location.startswith("/"):
            location = self.url + location
        separator = "&" if "?" in location else "?"
        headers = {"Content-Type": "application/octet-stream"}
        with self._call("PUT", f"{location}{separator}digest={digest}", data, headers) as answer:
            assert answer.status == 201, answer.status
        return digest

    def push_manifest(self, repository: str, reference: str, body: bytes, media_type: str) -> str:
        headers = {"Content-Type": media_type}
        url = f"{self.url}/v2/{repository}/manifests/{reference}"
        with self._call("PUT", url, body, headers) as answer:
            assert answer.status == 201, answer.status
        return digest_of(body)

    def push(self, repository: str, tag: str, image: TestImage) -> str:
        """Push ``image``'s blobs and manifest as ``repository:tag``; the manifest digest."""
        for blob in (*image.layers, image.config):
            self.push_blob(repository, blob)
        return self.push_manifest(repository, tag, image.manifest, image.media_type)

    def push_index(
        self, repository: str, tag: str, images: dict[str, TestImage], oci: bool = True
    ) -> str:
        """Push each image by digest and an index of them as ``repository:tag``."""
        for image in images.values():
            for blob in (*image.layers, image.config):
                self.push_blob(repository, blob)
            self.push_manifest(repository, image.digest, image.manifest, image.media_type)
        body = index_for(images, oci)
        return self.push_manifest(repository, tag, body, OCI_INDEX if oci else INDEX)


class RegistryProxy:
    """An HTTP proxy in front of a registry that counts requests by path (without the
    query) and can hold blob downloads until ``release``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream  # "127.0.0.1:port"
        self.requests: collections.Counter[str] = collections.Counter()
        self.changed = threading.Condition()
        self._held: threading.Event | None = None
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _proxy_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def blob_requests(self) -> int:
        """GETs of blobs so far (a layer or config download each)."""
        return sum(n for path, n in self.requests.items() if "/blobs/sha256:" in path)

    def hold_blobs(self) -> None:
        self._held = threading.Event()

    def release(self) -> None:
        if self._held is not None:
            self._held.set()

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: predicate(self), timeout):
                raise TimeoutError(f"proxy saw only {dict(self.requests)}")

    def start(self) -> RegistryProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def __enter__(self) -> RegistryProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        with self.changed:
            self.requests[f"{handler.command} {path}"] += 1
            self.changed.notify_all()
        held = self._held if "/blobs/sha256:" in path else None
        if held is not None:
            held.wait(60)
        upstream = http.client.HTTPConnection(self.upstream, timeout=30)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() != "host"}
            upstream.request(handler.command, handler.path, headers=headers)
            answer = upstream.getresponse()
            body = answer.read()
            handler.send_response(answer.status, answer.reason)
            for key, value in answer.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(body)
        finally:
            upstream.close()


def _proxy_handler(proxy: RegistryProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                proxy._forward(self)

        do_HEAD = do_GET

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class TokenServer:
    """A token service for a registry's token auth: hands out signed JWTs (ES256, the
    signing certificate in the ``x5c`` header) to anyone, for the scope asked, and counts
    them (``issued``)."""

    SERVICE = "mesospy-test-registry"
    ISSUER = "mesospy-test-issuer"

    def __init__(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mesospy test tokens")])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.certificate_pem = certificate.public_bytes(serialization.Encoding.PEM)
        self._x5c = base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()
        self.issued = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _token_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def issue(self, repository: str, actions: list[str]) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        with self._lock:
            self.issued += 1
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "x5c": [self._x5c]}
        claims = {
            "iss": self.ISSUER,
            "sub": "anonymous",
            "aud": self.SERVICE,
            "exp": now + 600,
            "nbf": now - 60,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": [{"type": "repository", "name": repository, "actions": actions}],
        }
        signing_input = f"{_b64url(json.dumps(header))}.{_b64url(json.dumps(claims))}"
        der = self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{signing_input}.{_b64url(signature)}"

    def start(self) -> TokenServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def __enter__(self) -> TokenServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _b64url(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _token_handler(tokens: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            scope = (query.get("scope") or ["repository::pull"])[0]
            _, repository, actions = [*scope.split(":"), "", ""][:3]
            token = tokens.issue(repository, [a for a in actions.split(",") if a == "pull"])
            body = json.dumps({"token": token, "expires_in": 600}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def push_busybox(host: str, name: str) -> str:
    """Push the busybox test image to the registry at ``host`` as ``name`` ("repo:tag")."""
    registry = Registry(Path("."))
    registry.host, registry.url = host, f"http://{host}"
    repository, _, tag = name.partition(":")
    return registry.push(repository, tag or "latest", busybox_image())


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 3:
        sys.exit("usage: python -m mesospy.testing.registry HOST:PORT REPOSITORY:TAG")
    print(push_busybox(sys.argv[1], sys.argv[2]))


def write_oci_layout(images: dict[str, TestImage], directory: Path) -> Path:
    """An OCI image layout of ``images`` (by "os/arch"; one entry is listed directly, more
    through a nested index), as ``skopeo copy ... oci:DIR`` would write it."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')

    def put(data: bytes) -> str:
        digest = digest_of(data)
        (blobs / digest.removeprefix("sha256:")).write_bytes(data)
        return digest

    for image in images.values():
        for blob in (*image.layers, image.config, image.manifest):
            put(blob)
    if len(images) == 1:
        (image,) = images.values()
        entry = {"mediaType": image.media_type, "digest": image.digest, "size": len(image.manifest)}
        index = {"schemaVersion": 2, "manifests": [entry]}
    else:
        nested = index_for(images)
        entry = {"mediaType": OCI_INDEX, "digest": put(nested), "size": len(nested)}
        index = {"schemaVersion": 2, "manifests": [entry]}
    (directory / "index.json").write_text(json.dumps(index))
    return directory


def write_docker_archive(image: TestImage, path: Path, tag: str = "test/image:1") -> Path:
    """A ``docker save`` archive of ``image`` (uncompressed layers under <id>/layer.tar)."""
    with tarfile.open(path, "w") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        config_name = digest_of(image.config).removeprefix("sha256:") + ".json"
        add(config_name, image.config)
        layers = []
        for number, blob in enumerate(image.layers):
            name = f"layer{number}/layer.tar"
            add(name, gzip.decompress(blob))
            layers.append(name)
        manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": layers}]
        add("manifest.json", json.dumps(manifest).encode())
    return path
