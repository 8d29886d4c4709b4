"""Container images for the tests, without Docker: Debian's `docker-registry` on a free loopback
port, a root file system assembled from host files (the OS's python3 with its stdlib and the
shared libraries it needs, plus awslambdaric pip-installed), built into an OCI image by `umoci`
and pushed with `skopeo`; and a raw pusher (the registry's upload API) for deliberately bad images.
The assembled tree is cached between runs under $LAMINA_TEST_CACHE (default /tmp/lamina-test-cache)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from support import free_port

TOOLS = ("docker-registry", "umoci", "skopeo")
CACHE = Path(os.environ.get("LAMINA_TEST_CACHE", "/tmp/lamina-test-cache"))
PYTHON = "/usr/bin/python3"
RIC = "awslambdaric==4.2.2"
APP = '''
import os
def handler(event, context):
    if event.get("fail"):
        raise ValueError("image says no")
    return {"event": event, "request_id": context.aws_request_id, "function": context.function_name,
            "memory": context.memory_limit_in_mb, "arn": context.invoked_function_arn,
            "uid": os.getuid(), "cwd": os.getcwd(), "from_image": os.environ.get("FROM_IMAGE"),
            "user_var": os.environ.get("USER_VAR"), "version": os.environ.get("APP_VERSION", "1"),
            "tmp_writable": os.access("/tmp", os.W_OK), "root_writable": os.access("/", os.W_OK),
            "mnt": sorted(os.listdir("/mnt/shared")) if os.path.isdir("/mnt/shared") else None}
'''


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


class RegistryProcess:
    """`docker-registry serve` with a temporary config on a free loopback port."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "config.yml"
        config.write_text(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: "
                          f"{directory / 'data'}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{self.port}\n")
        self.log = open(directory / "registry.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/v2/", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"docker-registry did not start: {(directory / 'registry.log').read_text()}")

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


def _libraries(paths: list[Path]) -> set[str]:
    found: set[str] = set()
    for path in paths:
        out = subprocess.run(["ldd", str(path)], capture_output=True, text=True)
        for line in out.stdout.splitlines():
            parts = line.split()
            for part in parts:
                if part.startswith("/") and os.path.exists(part):
                    found.add(part)
    return found


def _copy(source: str, root: Path) -> None:
    real = os.path.realpath(source)
    for path in dict.fromkeys([real, source]):
        target = root / path.lstrip("/")
        if target.exists() or target.is_symlink():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if path == real:
            shutil.copy2(real, target)
        else:
            os.symlink(real, target)


def python_rootfs() -> Path:
    """The cached tree: /usr/bin/python3 and its stdlib, the libraries they load, awslambdaric."""
    key = hashlib.sha256(f"{RIC}:{os.path.realpath(PYTHON)}:v5".encode()).hexdigest()[:12]
    return cached_tree(CACHE / f"pyimage-{key}", _build_tree)


def cached_tree(final: Path, build: Callable[[Path], None]) -> Path:
    """`final`/rootfs, made by `build(tree)` unless a complete one is there. Built in a directory
    of its own and renamed into place when complete, so runs that start together (checkouts share
    the cache) never use or delete each other's half-built tree; the first to finish wins."""
    if (final / ".complete").exists():
        return final / "rootfs"
    final.parent.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    root.chmod(0o755)
    try:
        build(root / "rootfs")
        (root / ".complete").write_text("")
        for attempt in range(2):
            try:
                root.rename(final)
                break
            except OSError:
                if (final / ".complete").exists():  # another run finished first: its tree is as good
                    break
                if attempt:
                    raise
                shutil.rmtree(final, ignore_errors=True)  # an unfinished leftover of an older layout
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return final / "rootfs"


def _build_tree(tree: Path) -> None:
    for directory in ("usr/bin", "usr/lib", "usr/lib64", "usr/sbin"):
        (tree / directory).mkdir(parents=True)
    for link, target in (("bin", "usr/bin"), ("lib", "usr/lib"), ("lib64", "usr/lib64"), ("sbin", "usr/sbin")):
        os.symlink(target, tree / link)
    real_python = os.path.realpath(PYTHON)
    version = f"python{subprocess.run([PYTHON, '-c', 'import sys; print(*sys.version_info[:2], sep=chr(46))'], capture_output=True, text=True).stdout.strip()}"  # noqa: E501
    shutil.copytree(f"/usr/lib/{version}", tree / "usr" / "lib" / version, symlinks=True,
                    ignore=shutil.ignore_patterns("test", "tests", "idlelib", "tkinter", "turtledemo", "__pycache__",
                                                  "ensurepip", "lib2to3"))
    (tree / "usr" / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(real_python, tree / "usr" / "bin" / os.path.basename(real_python))
    for name in ("python3", "python"):
        os.symlink(os.path.basename(real_python), tree / "usr" / "bin" / name)
    site = tree / "usr" / "lib" / "python3" / "dist-packages"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-compile", "--target", str(site), RIC],
                   check=True, capture_output=True)
    objects = [Path(real_python), *tree.rglob("*.so"), *tree.rglob("*.so.*")]
    for library in _libraries([p for p in objects if not p.is_symlink()]):
        _copy(library, tree)
    loader = "/lib64/ld-linux-x86-64.so.2"
    if os.path.exists(loader):
        _copy(os.path.realpath(loader), tree)
        (tree / "usr" / "lib64").mkdir(exist_ok=True)
        target = tree / "usr" / "lib64" / "ld-linux-x86-64.so.2"
        if not target.exists():
            os.symlink(os.path.realpath(loader), target)
    (tree / "etc").mkdir(exist_ok=True)
    (tree / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    # Whole-second modification times, as a Docker build's layers record them (it truncates): umoci
    # rounds a fractional time up, which would leave every .pyc compiled below stale in the image
    # (recompiled at each cold start, as its root is read-only).
    for path in [tree, *tree.rglob("*")]:
        if not path.is_symlink():
            stat = path.stat()
            os.utime(path, (int(stat.st_atime), int(stat.st_mtime)))
    # byte-code, as an image built by `pip install` in a Dockerfile and AWS's base images have it (the
    # root is read-only at run time: without it every cold start would compile the stdlib and awslambdaric)
    subprocess.run(["chroot", str(tree), f"/usr/bin/{os.path.basename(real_python)}", "-m", "compileall", "-q",
                    f"/usr/lib/{version}", "/usr/lib/python3/dist-packages"], check=True, capture_output=True)


def build_and_push(registry: RegistryProcess, work: Path, repo: str, tag: str, *, app: str = APP,
                   env: tuple[str, ...] = ("FROM_IMAGE=yes",), architecture: str | None = None,
                   extra: dict[str, bytes] | None = None) -> str:
    """An image of the cached python tree plus /var/task/app.py, entrypoint `python -m awslambdaric`,
    command `app.handler`, built with umoci and pushed with skopeo; returns its ImageUri."""
    layout = work / f"oci-{repo.replace('/', '-')}-{tag}"
    bundle = work / f"bundle-{repo.replace('/', '-')}-{tag}"
    shutil.rmtree(layout, ignore_errors=True)
    shutil.rmtree(bundle, ignore_errors=True)
    image = f"{layout}:{tag}"

    def umoci(*args: str) -> None:
        subprocess.run(["umoci", *args], check=True, capture_output=True)

    umoci("init", "--layout", str(layout))
    umoci("new", "--image", image)
    umoci("unpack", "--image", image, str(bundle))
    rootfs = bundle / "rootfs"
    shutil.copytree(python_rootfs(), rootfs, symlinks=True, dirs_exist_ok=True)
    task = rootfs / "var" / "task"
    task.mkdir(parents=True, exist_ok=True)
    (task / "app.py").write_text(app)
    for name, content in (extra or {}).items():
        path = rootfs / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    umoci("repack", "--image", image, str(bundle))
    config = ["config", "--image", image, "--config.entrypoint", "/usr/bin/python3", "--config.entrypoint", "-m",
              "--config.entrypoint", "awslambdaric", "--config.cmd", "app.handler", "--config.workingdir",
              "/var/task", "--config.user", "1000"]
    for entry in env:
        config += ["--config.env", entry]
    if architecture:
        config += ["--architecture", architecture]
    umoci(*config)
    shutil.rmtree(bundle, ignore_errors=True)
    subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{image}",
                    f"docker://{registry.host}/{repo}:{tag}"], check=True, capture_output=True)
    return f"{registry.host}/{repo}:{tag}"


def tar_layer(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return gzip.compress(buffer.getvalue())


GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ZSTD_LAYER = "application/vnd.oci.image.layer.v1.tar+zstd"


def copy_image(registry: RegistryProcess, work: Path, source_repo: str, source_tag: str, repo: str, tag: str, *,
               zstd: bool = False, env: tuple[str, ...] = ()) -> str:
    """The image build_and_push made (read from its OCI layout under `work`) pushed again: with
    every layer recompressed as zstd (in pieces, as a streaming encoder writes) when `zstd`, and
    `env` added to its config (a new digest without a rebuild)."""
    import zstandard

    layout = work / f"oci-{source_repo.replace('/', '-')}-{source_tag}"

    def blob(digest: str) -> bytes:
        return (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()

    index = json.loads((layout / "index.json").read_text())
    entry = next(m for m in index["manifests"]
                 if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == source_tag)
    manifest = json.loads(blob(entry["digest"]))
    layers: list[bytes | tuple[bytes, str]] = []
    for layer in manifest["layers"]:
        if not zstd:
            layers.append(blob(layer["digest"]))
            continue
        plain = gzip.decompress(blob(layer["digest"]))
        compressor = zstandard.ZstdCompressor(level=3).compressobj()
        layers.append((b"".join([compressor.compress(plain[i:i + (1 << 20)]) for i in range(0, len(plain), 1 << 20)])
                       + compressor.flush(), ZSTD_LAYER))
    config = json.loads(blob(manifest["config"]["digest"]))
    config.setdefault("config", {}).setdefault("Env", []).extend(env)
    return push_raw(registry, repo, tag, layers, config)


def push_raw(registry: RegistryProcess, repo: str, tag: str, layers: list[bytes | tuple[bytes, str]],
             config: dict) -> str:
    """Push an image made of `layers` (gzip, or (bytes, media type)) and `config` through the
    registry's upload API."""
    base = f"http://{registry.host}/v2/{repo}"

    def blob(data: bytes) -> dict:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        start = httpx.post(f"{base}/blobs/uploads/")
        location = start.headers["location"]
        url = location if location.startswith("http") else f"http://{registry.host}{location}"
        joiner = "&" if "?" in url else "?"
        done = httpx.put(f"{url}{joiner}digest={digest}", content=data,
                         headers={"Content-Type": "application/octet-stream"})
        assert done.status_code == 201, done.text
        return {"digest": digest, "size": len(data)}

    config_bytes = json.dumps(config).encode()
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **blob(config_bytes)},
                "layers": [{"mediaType": layer[1], **blob(layer[0])} if isinstance(layer, tuple)
                           else {"mediaType": GZIP_LAYER, **blob(layer)} for layer in layers]}
    put = httpx.put(f"{base}/manifests/{tag}", content=json.dumps(manifest).encode(),
                    headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert put.status_code == 201, put.text
    return f"{registry.host}/{repo}:{tag}"


class ScopedFront:
    """A token-auth front for the registry (Docker's token protocol) that asks for more as a pull
    goes on: a manifest first challenges for `pull`, then, with that token, for `pull` plus
    `metadata_read` (insufficient_scope); a blob wants yet another scope. Requests are forwarded
    to the registry once the token names what is asked. `tokens` lists the scopes tokens were
    issued for."""

    def __init__(self, registry: RegistryProcess) -> None:
        import http.server
        import threading

        self.tokens: list[str] = []
        front = self
        upstream = f"http://{registry.host}"

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _challenge(self, scope: str, insufficient: bool) -> None:
                error = ',error="insufficient_scope"' if insufficient else ""
                self.send_response(401)
                self.send_header("WWW-Authenticate", f'Bearer realm="http://{front.host}/token",'
                                                     f'service="front",scope="{scope}"{error}')
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                import urllib.parse

                url = urllib.parse.urlsplit(self.path)
                if url.path == "/token":
                    scopes = urllib.parse.parse_qs(url.query).get("scope", [])
                    front.tokens.append(" ".join(scopes))
                    body = json.dumps({"token": "T " + " ".join(scopes)}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                parts = url.path.split("/")
                repo = "/".join(parts[2:-2])
                held = (self.headers.get("Authorization") or "").removeprefix("Bearer T ")
                if parts[-2] == "manifests":
                    if not held:
                        return self._challenge(f"repository:{repo}:pull", False)
                    wanted = f"repository:{repo}:pull repository:{repo}:metadata_read"
                else:
                    wanted = f"repository:{repo}:pull repository:{repo}:blob_read"
                if held != wanted:
                    return self._challenge(wanted, True)
                with httpx.stream("GET", upstream + self.path, headers={"Accept": self.headers.get("Accept", "*/*")},
                                  follow_redirects=True) as response:
                    self.send_response(response.status_code)
                    for name in ("Content-Type", "Content-Length", "Docker-Content-Digest"):
                        if name in response.headers:
                            self.send_header(name, response.headers[name])
                    self.end_headers()
                    for chunk in response.iter_raw():
                        self.wfile.write(chunk)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
