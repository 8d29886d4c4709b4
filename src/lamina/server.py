"""The composition root: builds every part from Settings, starts them in order, stops them in reverse.

The only module that knows all the others. It wires control's change announcements to the
invoke cache and the engine, and hands the HTTP layer its typed services.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import uvicorn

from lamina import __version__, runtime_ids
from lamina import arn as arns
from lamina.admission import Admission
from lamina.api.app import CODE_PATH, Api, create_app
from lamina.api.pipeline import anonymous_callers
from lamina.config import Settings
from lamina.control.account import AccountSettings
from lamina.control.aliases import Aliases
from lamina.control.concurrency import ReservedConcurrency
from lamina.control.event_configs import EventConfigs
from lamina.control.functions import Account, Functions
from lamina.control.layers import Layers
from lamina.control.logs import Logs
from lamina.control.plane import ControlPlane
from lamina.control.provisioned import ProvisionedConcurrency
from lamina.control.tags import Tags
from lamina.control.usage import Usage
from lamina.engine import backends, interpreter
from lamina.engine.engine import Engine
from lamina.engine.spec import RunSpec
from lamina.errors import LambdaError
from lamina.invoke import Invoker
from lamina.model import LATEST, FunctionVersion
from lamina.queue.worker import EventQueue
from lamina.store.aliases import AliasStore
from lamina.store.blobs import BlobStore
from lamina.store.database import open_database, sqlite_url
from lamina.store.event_configs import EventConfigStore
from lamina.store.functions import FunctionStore
from lamina.store.layers import LayerStore
from lamina.store.logs import LogStore
from lamina.store.metrics import MetricStore
from lamina.store.provisioned import ProvisionedStore
from lamina.store.queue import QueueStore
from lamina.telemetry.logbuffer import LogBuffer
from lamina.telemetry.metrics import Metrics
from lamina.telemetry.tracing import Tracing

log = logging.getLogger("lamina")


NETWORK_TAG = "lamina:network"


class Runtimes:
    """Which runtimes this host can run, probed once per runtime id."""

    def __init__(self, configured: dict[str, str]) -> None:
        self._configured = configured
        self._found: dict[str, str | None] = {}

    def interpreter(self, runtime: str) -> str | None:
        """The host Python that runs the runtime: python3.X's own, or for runtimes served through the
        Runtime API (provided.*, nodejs*) the one that runs rapid."""
        if runtime not in self._found:
            version = runtime_ids.python_version(runtime)
            if version:
                self._found[runtime] = interpreter.find_python(version, self._configured.get(runtime))
            elif runtime in runtime_ids.CUSTOM or runtime_ids.node_major(runtime):
                self._found[runtime] = self._rapid_python()
            else:
                self._found[runtime] = None
        return self._found[runtime]

    def _rapid_python(self) -> str:
        """The newest Python 3.10+ of the supported python3.x runtimes found here, else lamina's own."""
        if "rapid" not in self._found:
            found = None
            for minor in range(14, 9, -1):
                found = interpreter.find_python(f"3.{minor}", self._configured.get(f"python3.{minor}"))
                if found:
                    break
            self._found["rapid"] = found or os.path.realpath(sys.executable)
        return self._found["rapid"]  # type: ignore[return-value]

    def executable(self, runtime: str) -> str | None:
        """The language executable rapid starts: `node` for nodejs*; None for other runtimes."""
        major = runtime_ids.node_major(runtime)
        if major is None:
            return None
        key = f"executable:{runtime}"
        if key not in self._found:
            self._found[key] = interpreter.find_node(major, self._configured.get(runtime))
        return self._found[key]

    def problem(self, runtime: str) -> str | None:
        """Why a function on `runtime` cannot run here, or None when it can."""
        if runtime in runtime_ids.CUSTOM:
            return None
        major = runtime_ids.node_major(runtime)
        if major is not None:
            return None if self.executable(runtime) else interpreter.missing_node_message(runtime, major)
        version = runtime_ids.python_version(runtime)
        if version is None:
            return (f"lamina cannot run the {runtime} runtime yet: it runs the managed Python (python3.x) and "
                    "Node.js (nodejs*) runtimes, and custom runtimes (provided.al2023, provided.al2).")
        if self.interpreter(runtime) is None:
            return interpreter.missing_python_message(runtime, version)
        return None


class _Uvicorn(uvicorn.Server):
    """uvicorn re-raises a caught SIGTERM/SIGINT after shutting down, which would kill the process
    before lamina's own shutdown (environments, buffers) runs; lamina stops itself instead."""

    def handle_exit(self, sig, frame) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()


class Server:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        data_dir = Path(settings.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.database = open_database(sqlite_url(data_dir))
        self.store = FunctionStore(self.database)
        self.alias_store = AliasStore(self.database)
        self.blobs = BlobStore(data_dir / "blobs")
        self.runtimes = Runtimes(settings.runtime_paths)
        self._deferred = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="lamina-settle")
        self._listeners: list[Callable[[str], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.layers = Layers(LayerStore(self.database), self.store, self.blobs, settings.region, settings.account_id)
        self.functions = Functions(
            self.store, self.blobs, self.alias_store, Account(settings.region, settings.account_id),
            runtime_problem=self.runtimes.problem,
            layer_lookup=self.layers.lookup,
            on_change=self._announce,
            defer=self._defer,
            allow_deprecated_runtimes=settings.allow_deprecated_runtimes,
        )
        event_config_store = EventConfigStore(self.database)
        self.event_configs = EventConfigs(event_config_store, self.store, self.alias_store, settings.region,
                                          settings.account_id)
        self.admission = Admission(settings.concurrency_limit)
        self.concurrency = ReservedConcurrency(
            event_config_store, self.store, settings.region, settings.account_id, settings.concurrency_limit,
            on_change=lambda: self.admission.set_reserved(self.concurrency.all()),
        )
        self.admission.set_reserved(self.concurrency.all())
        self.provisioned = ProvisionedConcurrency(
            ProvisionedStore(self.database), self.store, self.alias_store, settings.region, settings.account_id,
            reserved=lambda name: self.concurrency.all().get(name),
            ready=lambda name, version: self.engine.provisioned_ready(name, version), on_change=self._announce,
        )
        control = ControlPlane(
            functions=self.functions,
            aliases=Aliases(self.alias_store, self.store, settings.region, settings.account_id, self._announce),
            layers=self.layers,
            event_configs=self.event_configs,
            concurrency=self.concurrency,
            provisioned=self.provisioned,
            tags=Tags(self.store, settings.region, settings.account_id),
            account=AccountSettings(self.store, settings.concurrency_limit, self.concurrency.all),
            region=settings.region,
            code_url=lambda code_hex: settings.base_url + CODE_PATH.format(code_hex=code_hex),
        )

        # The data plane: log buffer → engine → invoker, and the durable async queue.
        self.metric_store = MetricStore(self.database)
        self.metrics = Metrics(write_minutes=self.metric_store.add_minutes, expire=self.metric_store.expire,
                               retention_days=settings.metrics_retention_days)
        self.tracing = Tracing.from_env(os.environ)  # spans over OTLP when OTEL_EXPORTER_OTLP_* is set
        self.logs = LogStore(self.database)
        self.logs_api = Logs(self.logs, settings.region, settings.account_id)
        self.log_buffer = LogBuffer(self.logs.append)
        self.backend = backends.select(settings.sandbox, data_dir / "sandbox", settings.isolation)
        self.engine = Engine(
            backend=self.backend, concurrency_limit=settings.concurrency_limit, idle_timeout=settings.idle_timeout,
            endpoint_url=settings.base_url, region=settings.region, account_id=settings.account_id,
            scratch_dir=data_dir / "sandboxes", log_sink=self.log_buffer, runtime_site_dir=data_dir / "runtime",
        )
        self.queue = EventQueue(
            QueueStore(self.database), run=self._run_event, config_for=self.event_configs.retry_config,
            deliver=self._deliver, arn_for=lambda name, q: self.functions.arn(name, q or LATEST),
            scale=settings.async_backoff_scale,
            before_remove=self._logs_stored, on_drop=self.metrics.dropped,
        )
        self.invoker = Invoker(
            region=settings.region, account_id=settings.account_id, lookup=self._version,
            alias_of=self.alias_store.get, spec_for=self._spec_for, run=self.engine.invoke,
            admission=self.admission, enqueue=self.queue.enqueue, metrics=self.metrics,
            tracing=self.tracing,
        )
        self._listeners += [self.invoker.forget, self._forget_deleted, self._retire, self._provision]
        self.app = create_app(Api(control=control, max_timeout=settings.max_timeout, health=self.health,
                                  authenticate=anonymous_callers(settings.account_id),
                                  invoker=self.invoker, logs=self.logs_api,
                                  usage=Usage(self.metrics, self.metric_store)))

    # -- data-plane wiring ------------------------------------------------------------------
    def _version(self, name: str, version: str) -> FunctionVersion | None:
        if version == LATEST:
            function = self.store.get(name)
            return function.latest if function else None
        return self.store.get_version(name, version)

    def _spec_for(self, version: FunctionVersion) -> RunSpec:
        return RunSpec(
            function_name=version.name, version=version.version, function_arn=self.functions.arn(version.name),
            revision_id=version.revision_id, runtime=version.runtime or "", handler=version.handler or "",
            code_dir=self.blobs.unpacked(version.code_hex),
            interpreter=self.runtimes.interpreter(version.runtime or ""),
            executable=self.runtimes.executable(version.runtime or ""),
            layer_dirs=tuple(self.blobs.unpacked(layer["CodeHex"]) for layer in version.layers),
            environment=dict(version.environment), memory_mb=version.memory_size, timeout_s=version.timeout,
            ephemeral_mb=version.ephemeral_storage, architecture=version.architectures[0],
            log_group=version.effective_log_group, log_format=version.log_format, tracing_mode=version.tracing_mode,
            application_log_level=version.application_log_level, system_log_level=version.system_log_level,
            network=self._network(version.name),
        )

    def _network(self, name: str) -> bool:
        """A function asks for no network with the tag lamina:network=none (an empty network
        namespace on the isolating backends; environments started after the change see it)."""
        function = self.store.get(name)
        return not (function and function.tags.get(NETWORK_TAG, "").lower() == "none")

    async def _logs_stored(self) -> None:
        """Wait, without holding a thread, until the log lines written so far are stored."""
        loop = asyncio.get_running_loop()
        stored = loop.create_future()
        self.log_buffer.after_flush(lambda: loop.call_soon_threadsafe(
            lambda: stored.done() or stored.set_result(None)))
        await stored

    async def _run_event(self, event):
        return await self.invoker.run_event(event)

    async def _deliver(self, destination: str, record: bytes) -> None:
        """Send a destination record to a lamina function, as an asynchronous invocation of it."""
        try:
            ref = arns.parse_function_name(destination, self.settings.region, self.settings.account_id)
        except LambdaError:
            log.warning("destination %s is not a function of this lamina; record dropped", destination)
            return
        await self.queue.enqueue(request_id=str(uuid.uuid4()), function_name=ref.name, qualifier=ref.qualifier,
                                 payload=record)

    async def _sample_queue(self) -> None:
        """The async queue's depth and oldest event age, for the metrics, every few seconds."""
        while True:
            try:
                depth = await asyncio.to_thread(self.queue.depth)
                oldest = await asyncio.to_thread(self.queue.oldest)
                self.metrics.queue(depth, time.time() - oldest if oldest else 0.0)
            except Exception:
                log.exception("sampling the async queue failed")
            await asyncio.sleep(5)

    async def _expire_logs(self) -> None:
        """Retention policies really delete old events: checked every few minutes."""
        while True:
            try:
                await asyncio.to_thread(self.logs_api.expire)
            except Exception:
                log.exception("log retention expiry failed")
            await asyncio.sleep(self.settings.log_expiry_interval)

    def _retire(self, function_name: str) -> None:
        """$LATEST's environments end when the function changes; everything ends when it is deleted.
        (Published versions never change; a changed revision is also caught at the next invoke.)"""
        deleted = self.store.get(function_name) is None
        self.engine.retire(function_name, None if deleted else LATEST)

    def _provision(self, _: str) -> None:
        """Bring the engine's provisioned environments in line with the configs."""
        targets = {}
        for (name, version), count in self.provisioned.targets().items():
            record = self.store.get_version(name, version)
            if record is not None and record.state == "Active":
                targets[(name, version)] = (self._spec_for(record), count)
        self.engine.provision(targets)

    def _forget_deleted(self, function_name: str) -> None:
        self.event_configs.forget(function_name)
        if self.store.get(function_name) is None:
            self.concurrency.forget(function_name)
            self.event_configs.delete_all(function_name)
            self.provisioned.forget(function_name)

    def _defer(self, job: Callable[[], None]) -> None:
        def run() -> None:
            try:
                job()
            except Exception:
                log.exception("deferred control-plane step failed")
        self._deferred.submit(run)

    def _announce(self, function_name: str) -> None:
        """Tell every listener that a function changed. Control calls this from worker threads; the
        listeners (invoke cache, engine) live on the event loop, so the call is handed to it."""
        loop = self._loop
        if loop is not None and loop.is_running():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is not loop:
                loop.call_soon_threadsafe(self._notify, function_name)
                return
        self._notify(function_name)

    def _notify(self, function_name: str) -> None:
        for listener in self._listeners:
            listener(function_name)

    def health(self) -> dict:
        count, size = self.store.usage()
        return {
            "status": "ok",
            "version": __version__,
            "dataDir": str(self.settings.data_dir),
            "endpoint": self.settings.base_url,
            "sandbox": {"backend": self.backend.name, "notEnforced": list(self.backend.not_enforced)},
            "counts": {"functions": count, "codeBytes": size,
                       **{k: v for k, v in self.engine.stats().items() if k != "backend"},
                       "queuedEvents": self.queue.depth()},
        }

    def close(self) -> None:
        self._deferred.shutdown(wait=True)
        self.log_buffer.close()
        self.metrics.close()
        self.tracing.close()
        self.database.dispose()

    async def serve(self, ready: Callable[[Server], None] | None = None) -> None:
        config = uvicorn.Config(self.app, host=self.settings.host, port=self.settings.port, log_level="warning",
                                access_log=False, lifespan="off", timeout_graceful_shutdown=5)
        server = _Uvicorn(config)

        async def announce_when_started() -> None:
            while not server.started:
                if server.should_exit:
                    return
                await asyncio.sleep(0.01)
            if ready:
                ready(self)

        self._loop = asyncio.get_running_loop()
        await self.engine.start()
        self._provision("")
        self.metrics.start()
        await self.queue.start()
        watcher = asyncio.create_task(announce_when_started())
        expiry = asyncio.create_task(self._expire_logs())
        sampler = asyncio.create_task(self._sample_queue())
        try:
            await server.serve()
        finally:
            watcher.cancel()
            expiry.cancel()
            sampler.cancel()
            await self.queue.close()
            await self.engine.close()
            self.close()
        if not server.started:
            sys.exit(1)
