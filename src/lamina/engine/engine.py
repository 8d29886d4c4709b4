"""The execution engine: the one object the rest of lamina calls to run an event.

Owns the pools (one per function version), the concurrency count (429 when over), creating
environments (launch description, environment variables, log stream), the ticker that flushes
logs written between invocations and reaps idle environments, retiring environments when a
function changes, and ending everything on close. Imports lamina.engine.*, lamina.errors and
lamina.runtime_ids (which runtimes go through rapid); never the store, the control plane, the
invoke layer or the HTTP layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from lamina import runtime_ids
from lamina.engine import envvars, policy, report, runtime_site
from lamina.engine.environment import Environment, Halted
from lamina.engine.gate import StartGate, default_slots
from lamina.engine.logstream import LogStream
from lamina.engine.piped import Serial
from lamina.engine.pool import Pool
from lamina.engine.sandbox import Launch, Mounts, SandboxBackend
from lamina.engine.spec import InvokeRequest, InvokeResult, LogBatch, RunSpec
from lamina.engine.states import State
from lamina.errors import EFSMountFailureException, ServiceException, TooManyRequestsException

log = logging.getLogger("lamina.engine")

RUNTIME_DIR = Path(__file__).resolve().parent.parent / "runtimes" / "python"
# Every other runtime reaches the engine through rapid, the in-sandbox Runtime API server.
RAPID_DIR = RUNTIME_DIR.parent / "rapid"
NODE_VARIABLE = "_LAMINA_NODE"  # the node executable rapid starts for nodejs* runtimes


IMAGE_ARGV_VARIABLE = "_LAMINA_IMAGE_ARGV"  # read (and removed) by rapid
IMAGE_CWD_VARIABLE = "_LAMINA_IMAGE_CWD"


def _installed(spec: RunSpec) -> bool:
    """Whether this host has what `spec`'s runtime needs: its interpreter, and for Node.js a node."""
    return spec.interpreter is not None and (spec.executable is not None or not runtime_ids.is_node(spec.runtime))


def _running_in(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


_HALTED = "The service is shutting down: the invocation was stopped."


class Engine:
    def __init__(self, *, backend: SandboxBackend, concurrency_limit: int, idle_timeout: float,
                 endpoint_url: str, region: str, account_id: str, scratch_dir: Path,
                 log_sink: Callable[[LogBatch], None], runtime_site_dir: Path | None = None,
                 runtime_site_fallback: Path | None = None,
                 init_timeout: float = 10.0, stop_grace: float = 0.5, start_concurrency: int = 0) -> None:
        """`start_concurrency`: how many environments initialise at once (0: lamina.engine.gate's
        default for this host's processors); the others wait their turn. The runtime image is
        kept under `runtime_site_dir`, or `runtime_site_fallback` where that cannot be written."""
        self.backend = backend
        self._limit = concurrency_limit
        self._idle_timeout = idle_timeout
        self._endpoint_url = endpoint_url
        self._region = region
        self._account_id = account_id
        self._scratch = Path(scratch_dir)
        self._log_sink = log_sink
        self._site_path = Path(runtime_site_dir) if runtime_site_dir else self._scratch / "runtime-site"
        self._site_fallback = runtime_site_fallback
        self._site_dir: Path | None = None
        self._init_timeout = init_timeout
        self._grace = stop_grace
        self._gate = StartGate(start_concurrency or default_slots())
        self._pools: dict[tuple[str, str], Pool] = {}
        self._in_flight = 0
        self._warm_runs = 0  # invokes `run_warm` took (the warm lane), for /health
        self._dirty: set[LogStream] = set()
        self._tasks: set[asyncio.Task] = set()
        self._scratch_removals = Serial("lamina-scratch-remove")  # ended environments' scratch dirs
        self._ticker: asyncio.Task | None = None
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reap_interval = min(5.0, max(0.01, idle_timeout / 10))
        self._last_reap = 0.0

    async def start(self) -> None:
        """Prepare the runtime site directory and start the ticker (log flushing, idle reaper)."""
        self._loop = asyncio.get_running_loop()
        self._scratch.mkdir(parents=True, exist_ok=True)
        self._site_dir = await asyncio.to_thread(runtime_site.build, self._site_path, self._site_fallback)
        self._ticker = asyncio.create_task(self._tick_forever(), name="lamina-engine-ticker")

    # ---- the hot path --------------------------------------------------------------------------

    async def invoke(self, spec: RunSpec, request: InvokeRequest) -> InvokeResult:
        if self._closing:
            raise ServiceException("The execution engine is shutting down.")
        reason = policy.throttle_reason(self._in_flight, self._limit)
        if reason is not None:
            raise TooManyRequestsException(reason)
        pool = self._pools.get(spec.pool_key)
        if pool is None or pool.vetted is not spec:  # the same spec (the invoker's cached one) passed them before
            if spec.image is None and not (runtime_ids.runnable(spec.runtime) and _installed(spec)):
                return self._cannot_run(spec, request)
            if "\0" in spec.handler and runtime_ids.is_python(spec.runtime):
                return self._unpassable_handler(spec)
            if spec.file_systems:
                self._check_mountable(spec)
        self._in_flight += 1
        try:
            if pool is None:
                pool = self._pools[spec.pool_key] = Pool(spec.pool_key, spec.revision_id)
            elif pool.revision != spec.revision_id:
                self._stop_all(pool.retire(spec.revision_id))
            pool.vetted = spec
            env = pool.take()
            if env is None:
                env = self._create(spec, pool)
            try:
                return await env.run(request)
            except Halted:
                raise ServiceException(_HALTED) from None
            finally:
                retired = pool.release(env, time.monotonic(), self._closing)
                if retired is not None:
                    self._stop_all([retired])
        finally:
            self._in_flight -= 1

    def run_warm(self, spec: RunSpec, request: InvokeRequest,
                 done: Callable[[InvokeResult | None, BaseException | None], None]) -> bool:
        """`invoke` without a coroutine when an idle environment of `spec` is warm (the warm lane,
        docs/architecture.md): the event is sent now and `done(result, error)` called once it
        ended, with what `invoke` would return or raise. False, with nothing done, when the invoke
        is not that plain case (no warm environment, a spec not yet vetted or of another revision,
        the limit reached, the engine closing): `invoke` then takes it."""
        pool = self._pools.get(spec.pool_key)
        if (pool is None or pool.vetted is not spec or pool.revision != spec.revision_id or self._closing
                or policy.throttle_reason(self._in_flight, self._limit) is not None):
            return False
        env = pool.take()
        if env is None:
            return False
        self._in_flight += 1
        self._warm_runs += 1
        try:
            env.run_warm(request, functools.partial(self._warm_done, pool, env, done))
        except BaseException:
            self._warm_done(pool, env, None, None, None)
            raise
        return True

    def _warm_done(self, pool: Pool, env: Environment,
                   done: Callable[[InvokeResult | None, BaseException | None], None] | None,
                   result: InvokeResult | None, error: BaseException | None) -> None:
        """The end of `invoke`'s try, for `run_warm`: the environment back to its pool, the error
        `invoke` would raise."""
        retired = pool.release(env, time.monotonic(), self._closing)
        if retired is not None:
            self._stop_all([retired])
        self._in_flight -= 1
        if done is None:
            return
        if isinstance(error, Halted):
            error = ServiceException(_HALTED)
        done(result, error)

    def _check_mountable(self, spec: RunSpec) -> None:
        """AWS answers an invoke whose file system cannot be mounted with EFSMountFailureException:
        an access point no longer mapped on this host, or a backend that cannot mount."""
        for fs in spec.file_systems:
            if fs.host_dir is None:
                raise EFSMountFailureException(
                    f"The function could not mount the Amazon EFS access point {fs.arn}: it is not mapped to a "
                    "host directory on this lamina host (lamina serve --file-system ARN=PATH).")
        if self.backend.name == "process":
            raise EFSMountFailureException(
                "The function could not mount its Amazon EFS file system: lamina's process sandbox backend cannot "
                "mount file systems (run lamina as root for the namespaces backend, or with bubblewrap).")

    def _cannot_run(self, spec: RunSpec, request: InvokeRequest) -> InvokeResult:
        detail = (f"the {spec.runtime} runtime is not installed on this lamina host"
                  if runtime_ids.runnable(spec.runtime) and not _installed(spec)
                  else f"lamina cannot run the {spec.runtime} runtime")
        return InvokeResult(payload=report.invalid_entrypoint(request.request_id, detail),
                            executed_version=spec.version, function_error="Unhandled",
                            error_type="Runtime.InvalidEntrypoint")

    @staticmethod
    def _unpassable_handler(spec: RunSpec) -> InvokeResult:
        error_type, payload = report.unpassable_handler(spec.handler)  # type: ignore[misc]
        return InvokeResult(payload=payload, executed_version=spec.version, function_error="Unhandled",
                            error_type=error_type)

    def _runtime_image(self, rapid: bool) -> Path:
        """What /var/runtime holds (runtime_site): the built image, or lamina's own directory
        when the engine was not started (unit tests that drive _create directly)."""
        if self._site_dir is None:
            return RAPID_DIR if rapid else RUNTIME_DIR
        return self._site_dir / ("rapid" if rapid else "python")

    def _create(self, spec: RunSpec, pool: Pool, *, provisioned: bool = False) -> Environment:
        env_id = uuid.uuid4().hex
        group = spec.log_group or f"/aws/lambda/{spec.function_name}"
        stream = report.stream_name(spec.version, env_id, time.time())
        image = spec.image
        rapid = image is not None or runtime_ids.uses_runtime_api(spec.runtime)
        if image is not None:  # a file system's mount point in the (otherwise read-only) image root
            for fs in spec.file_systems:
                (image.root / fs.local_mount_path.lstrip("/")).mkdir(parents=True, exist_ok=True)
        mounts = Mounts(code_dir=Path(spec.code_dir), layer_dirs=tuple(Path(d) for d in spec.layer_dirs),
                        image_root=image.root if image is not None else None,
                        runtime_dir=self._runtime_image(rapid), site_dir=None,
                        tmp_dir=self._scratch / "environments" / env_id / "tmp",
                        file_systems=tuple((fs.host_dir, fs.local_mount_path) for fs in spec.file_systems
                                           if fs.host_dir is not None))
        interpreter = spec.interpreter or ""
        layout = self.backend.layout(mounts, interpreter)
        variables = envvars.build(spec, layout, region=self._region, endpoint_url=self._endpoint_url,
                                  log_group=group, log_stream=stream, credentials=envvars.local_credentials(),
                                  initialization_type="provisioned-concurrency" if provisioned else "on-demand")
        if image is not None:  # rapid starts the image's command line in its directory
            variables[IMAGE_ARGV_VARIABLE] = json.dumps(list(image.argv))
            variables[IMAGE_CWD_VARIABLE] = image.working_dir
        if spec.executable and runtime_ids.is_node(spec.runtime):
            variables[NODE_VARIABLE] = spec.executable
        launch = Launch(env_id=env_id, interpreter=interpreter, bootstrap=mounts.runtime_dir / "bootstrap.py",
                        mounts=mounts,
                        env=variables, memory_mb=spec.memory_mb, ephemeral_mb=spec.ephemeral_mb,
                        network=spec.network)
        env = Environment(env_id=env_id, spec=spec, generation=pool.generation, backend=self.backend,
                          launch=launch, log_stream=LogStream(group, stream, self._log_sink, self._dirty.add),
                          region=self._region, init_timeout=self._init_timeout, on_gone=self._gone,
                          gate=self._gate)
        env.provisioned = provisioned
        pool.add(env)
        return env

    # ---- ahead of the first environment ----------------------------------------------------------

    def prepare_runtime(self, runtime: str, interpreter: str | None, *, image: bool = False) -> None:
        """A function on `runtime` (`image`: a container image function) was created or changed, or
        is deployed at the server's start: the backend starts, in the background, what the first
        environment of the runtime would otherwise start on its request path (the namespaces
        backend: the interpreter's zygote). Nothing for a runtime this host cannot run, nothing
        before start() or once closing. May be called from any thread; never raises or waits."""
        if self._closing or self._site_dir is None or not interpreter:
            return
        if not image and not runtime_ids.runnable(runtime):
            return
        prepare = functools.partial(self.backend.prepare, interpreter,
                                    self._runtime_image(image or runtime_ids.uses_runtime_api(runtime)))
        loop = self._loop
        if loop is not None and not _running_in(loop):
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(prepare)
        else:
            prepare()

    # ---- provisioned concurrency ---------------------------------------------------------------

    def provision(self, targets: dict[tuple[str, str], tuple[RunSpec, int]]) -> None:
        """Keep `count` environments of each (function, version) initialised ahead; versions not
        named go back to on-demand environments only (their provisioned ones age out as idle)."""
        for key, pool in self._pools.items():
            if key not in targets and pool.provisioned:
                pool.provision(0)
        for key, (spec, count) in targets.items():
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = Pool(key, spec.revision_id)
            elif pool.revision != spec.revision_id:
                self._stop_all(pool.retire(spec.revision_id))
            pool.provision(count, spec)
        self._top_up()

    def _top_up(self) -> None:
        if self._closing:
            return
        for pool in self._pools.values():
            for _ in range(pool.missing()):
                env = self._create(pool.provisioned_spec, pool, provisioned=True)  # type: ignore[arg-type]
                self._spawn(self._prepare(pool, env))

    async def _prepare(self, pool: Pool, env: Environment) -> None:
        try:
            ready = await env.prepare()
        except Halted:
            return
        if ready:
            retired = pool.release(env, time.monotonic(), self._closing)
            if retired is not None:
                self._stop_all([retired])

    def provisioned_ready(self, function_name: str, version: str) -> int:
        """Provisioned environments of a version that are initialised (READY, or BUSY with an event)."""
        pool = self._pools.get((function_name, version))
        return pool.provisioned_count((State.READY, State.BUSY)) if pool else 0

    # ---- environments ending ---------------------------------------------------------------------

    def _gone(self, env: Environment) -> None:
        pool = self._pools.get(env.spec.pool_key)
        if pool is not None:
            pool.discard(env)
        scratch = self._scratch / "environments" / env.id
        self._scratch_removals.add(functools.partial(shutil.rmtree, scratch, True))

    def _spawn(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _stop_all(self, environments: list[Environment]) -> None:
        for env in environments:
            self._spawn(env.stop(self._grace))

    def retire(self, function_name: str, version: str | None = None) -> None:
        """Environments of that function (version) take no new event: idle ones end now, busy ones
        when their event is done. Called when code or configuration changes or it is deleted; may
        be called from any thread (control-plane work often runs in one)."""
        loop = self._loop
        if loop is not None and not _running_in(loop):
            loop.call_soon_threadsafe(self._retire, function_name, version)
        else:
            self._retire(function_name, version)

    def _retire(self, function_name: str, version: str | None) -> None:
        for (name, pool_version), pool in list(self._pools.items()):
            if name == function_name and (version is None or version == pool_version):
                self._stop_all(pool.retire())

    # ---- the ticker ----------------------------------------------------------------------------

    async def _tick_forever(self) -> None:
        interval = min(0.25, self._reap_interval)
        while True:
            await asyncio.sleep(interval)
            try:
                self.tick(time.monotonic())
            except Exception:
                log.exception("engine tick failed")

    def tick(self, now: float) -> None:
        """Flush logs written between invocations; every reap interval, end idle environments past
        the idle timeout and forget empty pools."""
        # Streams hold `self._dirty.add`: the set is emptied in place, never replaced.
        dirty = list(self._dirty)
        self._dirty.clear()
        for stream in dirty:
            stream.flush()
        if now - self._last_reap < self._reap_interval:
            return
        self._last_reap = now
        for key, pool in list(self._pools.items()):
            self._stop_all(pool.reap(now, self._idle_timeout))
            if not pool.environments and not pool.provisioned and now - pool.last_used >= self._idle_timeout:
                del self._pools[key]
        self._top_up()  # replace provisioned environments that ended (timeout, crash)

    # ---- shutting down -------------------------------------------------------------------------

    def halt(self) -> None:
        """Refuse new invokes and answer every invoke in flight with ServiceException now (the
        server is stopping and their grace ended); their environments end."""
        self._closing = True
        for pool in self._pools.values():
            for env in pool.environments:
                env.halt()

    async def close(self) -> None:
        """Answer the invokes still in flight with ServiceException (`halt`), end every environment
        (SIGTERM to all of them first, then SIGKILL to each after the grace) and wait until all are
        reaped."""
        self.halt()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        everyone = [env for pool in self._pools.values() for env in pool.environments]
        for env in everyone:  # every signal goes out before any stop waits
            env.signal_stop(self._grace)
        await asyncio.gather(*(env.stop(self._grace) for env in everyone), return_exceptions=True)
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._scratch_removals.finish()
        for stream in list(self._dirty):
            stream.flush()
        self._dirty.clear()
        await self.backend.close()

    def processes(self, function_name: str, version: str | None = None) -> list[tuple[str, str, int]]:
        """(environment id, version, host pid) of a function's live, started environments: what the
        profiler samples from outside the sandbox. Called on the event loop."""
        found = []
        for (name, pool_version), pool in list(self._pools.items()):
            if name != function_name or (version is not None and pool_version != version):
                continue
            for env in list(pool.environments):
                sandbox = env.sandbox
                if env.live and sandbox is not None:
                    found.append((env.id, pool_version, sandbox.pid))
        return found

    def versions(self) -> dict[tuple[str, str], tuple[int, int]]:
        """(idle environments, initialised provisioned ones) per (function, version): what a cluster
        worker's heartbeat tells the fronts (warm affinity, provisioned readiness)."""
        return {key: (pool.counts().get(State.READY, 0), pool.provisioned_count((State.READY, State.BUSY)))
                for key, pool in list(self._pools.items())}

    def image_roots(self) -> set[str]:
        """The image roots (their directory names: manifest digests) that environments not yet
        gone run on: none of them may be reclaimed. Safe to call from any thread."""
        for _ in range(5):  # the loop may change the pools meanwhile: read again
            try:
                return {env.spec.image.root.name for pool in list(self._pools.values())
                        for env in list(pool.environments) if env.spec.image is not None}
            except RuntimeError:
                continue
        return {"*"}  # could not tell: nothing is reclaimed this time

    def stats(self) -> dict:
        counts: dict[State, int] = {}
        for pool in self._pools.values():
            for state, n in pool.counts().items():
                counts[state] = counts.get(state, 0) + n
        return {
            "backend": self.backend.name,
            "pools": len(self._pools),
            "environments": sum(counts.values()),
            "busy": counts.get(State.BUSY, 0),
            "idle": counts.get(State.READY, 0),
            "starting": counts.get(State.STARTING, 0),
            "waitingToStart": self._gate.waiting,
            "inFlight": self._in_flight,
            "warmLaneInvokes": self._warm_runs,
        }
