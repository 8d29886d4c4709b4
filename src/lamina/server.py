"""The composition root: builds every part from Settings, starts them in order, stops them in reverse.

The only module that knows all the others, and only wiring: each part is built after the parts it
is handed (bound methods of parts already built), the typed events of lamina.events are routed to
their subscribers here, and the HTTP layer gets its typed services. What a part does lives in the
module named for it (runtime catalog, run specs, supervisor, environments, cascade, health,
the HTTP server and its graceful stop).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lamina import events
from lamina.admission import Admission
from lamina.api.app import CODE_PATH, Api, create_app
from lamina.api.pipeline import anonymous_callers
from lamina.config import Settings
from lamina.control.account import AccountSettings
from lamina.control.aliases import Aliases
from lamina.control.cascade import Cascade
from lamina.control.code_signing import CodeSigning
from lamina.control.concurrency import ReservedConcurrency
from lamina.control.event_configs import EventConfigs
from lamina.control.functions import Account, Functions
from lamina.control.layers import Layers
from lamina.control.logs import Logs
from lamina.control.plane import ControlPlane
from lamina.control.provisioned import ProvisionedConcurrency
from lamina.control.signing_profiles import SigningProfiles
from lamina.control.tags import Tags
from lamina.control.usage import Usage
from lamina.destinations import Destinations
from lamina.engine import backends
from lamina.engine.catalog import Runtimes
from lamina.engine.engine import Engine
from lamina.engine.file_systems import FileSystems
from lamina.environments import Environments
from lamina.health import Health
from lamina.http_server import HttpServer
from lamina.images.store import ImageStore
from lamina.invoke import Invoker
from lamina.model import LATEST
from lamina.queue.sql import SqlQueue
from lamina.queue.worker import EventQueue
from lamina.run_specs import RunSpecs
from lamina.store.aliases import AliasStore
from lamina.store.blobs import BlobStore
from lamina.store.code_signing import CodeSigningStore
from lamina.store.database import open_database, sqlite_url
from lamina.store.event_configs import EventConfigStore
from lamina.store.functions import FunctionStore
from lamina.store.layers import LayerStore
from lamina.store.logs import LogStore
from lamina.store.metrics import MetricStore
from lamina.store.provisioned import ProvisionedStore
from lamina.store.queue import QueueStore
from lamina.supervisor import Supervisor
from lamina.telemetry.logbuffer import LogBuffer
from lamina.telemetry.metrics import Metrics
from lamina.telemetry.tracing import Tracing

IMAGE_BACKENDS_PROBLEM = ("lamina's {backend} sandbox backend cannot run container image functions (PackageType "
                          "Image): they need the namespaces or bubblewrap backend.")


class Server:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        region, account_id = settings.region, settings.account_id
        data_dir = Path(settings.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.bus = bus = events.Bus()
        self.supervisor = Supervisor()

        # Persistence and what the host can run.
        self.database = open_database(sqlite_url(data_dir))
        self.store = FunctionStore(self.database)
        alias_store = AliasStore(self.database)
        event_config_store = EventConfigStore(self.database)
        self.blobs = BlobStore(data_dir / "blobs")
        self.runtimes = Runtimes(settings.runtime_paths)

        # Telemetry and the engine.
        self.metric_store = MetricStore(self.database)
        self.metrics = Metrics(write_minutes=self.metric_store.add_minutes, expire=self.metric_store.expire,
                               retention_days=settings.metrics_retention_days)
        self.tracing = Tracing.from_env(os.environ)  # spans over OTLP when OTEL_EXPORTER_OTLP_* is set
        self.logs = LogStore(self.database)
        self.log_buffer = LogBuffer(self.logs.append)
        self.backend = backends.select(settings.sandbox, data_dir / "sandbox", settings.isolation)
        self.file_systems = FileSystems(settings.file_systems, self.backend.name)
        self.file_systems.prepare()
        self.images = ImageStore(data_dir / "images", insecure=frozenset(settings.insecure_registries),
                                 credentials=settings.registry_credentials)
        self.run_specs = RunSpecs(self.store, self.blobs, self.runtimes, region=region, account_id=account_id,
                                  file_system_dir=self.file_systems.host_dir, images=self.images)
        self.engine = Engine(
            backend=self.backend, concurrency_limit=settings.concurrency_limit, idle_timeout=settings.idle_timeout,
            endpoint_url=settings.base_url, region=region, account_id=account_id,
            scratch_dir=data_dir / "sandboxes", log_sink=self.log_buffer, runtime_site_dir=data_dir / "runtime",
        )

        # The control plane: one object per group of operations, announcing changes on the bus.
        self.layers = Layers(LayerStore(self.database), self.store, self.blobs, region, account_id)
        code_signing_store = CodeSigningStore(self.database)
        self.signing_profiles = SigningProfiles(code_signing_store, region, account_id)
        self.code_signing = CodeSigning(
            code_signing_store, region, account_id, profile=self.signing_profiles.profile,
            function_exists=lambda name: self.store.get(name) is not None, read_blob=self.blobs.read,
            warn=self.metrics.signature_validation_error,
            is_image=self._is_image,
        )
        self.functions = Functions(
            self.store, self.blobs, alias_store, Account(region, account_id),
            runtime_problem=self.runtimes.problem, layer_lookup=self.layers.lookup, publish=bus.publish,
            defer=self.supervisor.defer, allow_deprecated_runtimes=settings.allow_deprecated_runtimes,
            file_system_problem=self.file_systems.problem, code_check=self.code_signing.check,
            bind_code_signing=self.code_signing.bind,
            pull_image=self.images.pull if self.backend.name in ("namespaces", "bubblewrap") else None,
            image_problem=IMAGE_BACKENDS_PROBLEM.format(backend=self.backend.name),
        )
        self.event_configs = EventConfigs(event_config_store, self.store, alias_store, region, account_id)
        self.concurrency = ReservedConcurrency(event_config_store, self.store, region, account_id,
                                               settings.concurrency_limit, publish=bus.publish)
        reserved = self.concurrency.all
        self.provisioned = ProvisionedConcurrency(
            ProvisionedStore(self.database), self.store, alias_store, region, account_id,
            reserved=lambda name: reserved().get(name), unreserved=self.concurrency.unreserved,
            ready=self.engine.provisioned_ready, publish=bus.publish,
        )
        self.logs_api = Logs(self.logs, region, account_id)
        control = ControlPlane(
            functions=self.functions, aliases=Aliases(alias_store, self.store, region, account_id, bus.publish),
            layers=self.layers, event_configs=self.event_configs, concurrency=self.concurrency,
            provisioned=self.provisioned, tags=Tags(self.store, region, account_id),
            account=AccountSettings(self.store, settings.concurrency_limit, reserved), region=region,
            code_url=lambda code_hex: settings.base_url + CODE_PATH.format(code_hex=code_hex),
            code_signing=self.code_signing, signing_profiles=self.signing_profiles,
        )

        # The data plane: admission → invoker → engine, and the durable async queue. Accepting an event
        # (an Event invoke, a destination record) is the Queue's; running it is the workers', through
        # the invoker.
        self.admission = Admission(settings.concurrency_limit)
        self.admission.set_reserved(reserved())
        accepted = SqlQueue(QueueStore(self.database))
        self.invoker = Invoker(
            region=region, account_id=account_id, lookup=self.store.get_version, alias_of=alias_store.get,
            spec_for=self.run_specs.for_version, run=self.engine.invoke, admission=self.admission,
            enqueue=accepted.enqueue, metrics=self.metrics, tracing=self.tracing,
        )
        self.queue = EventQueue(
            accepted, run=self.invoker.run_event, config_for=self.event_configs.retry_config,
            deliver=Destinations(region, account_id, accepted.enqueue).deliver,
            arn_for=lambda name, q: self.functions.arn(name, q or LATEST), scale=settings.async_backoff_scale,
            before_remove=self.log_buffer.stored, on_drop=self.metrics.dropped,
        )

        # Who keeps in step with what: subscribers in delivery order.
        self.environments = Environments(
            retire=self.engine.retire, provision=self.engine.provision, targets=self.provisioned.targets,
            version=self.store.get_version, spec_for=self.run_specs.for_version,
        )
        cascade = Cascade(self.event_configs, self.concurrency, self.provisioned)
        for kind in (events.FunctionChanged, events.FunctionDeleted, events.AliasChanged):
            bus.subscribe(kind, self.invoker.changed)
        for kind in (events.FunctionChanged, events.AliasChanged, events.ProvisionedConcurrencyChanged):
            bus.subscribe(kind, cascade.changed)
        bus.subscribe(events.FunctionDeleted, cascade.deleted)
        bus.subscribe(events.FunctionDeleted, lambda event: self.code_signing.function_deleted(event.function))
        for kind in (events.FunctionChanged, events.FunctionDeleted):
            bus.subscribe(kind, self.environments.retire)
        for kind in (events.FunctionChanged, events.FunctionDeleted, events.AliasChanged,
                     events.ProvisionedConcurrencyChanged):
            bus.subscribe(kind, self.environments.provision)
        bus.subscribe(events.ReservedConcurrencyChanged, lambda _: self.admission.set_reserved(reserved()))

        # Background jobs, /health and the HTTP app.
        self.supervisor.every("log retention expiry", settings.log_expiry_interval, self.logs_api.expire)
        self.supervisor.every("sampling the async queue", 5.0, self._sample_queue)
        self.health = Health(
            data_dir=str(settings.data_dir), endpoint=settings.base_url, backend=self.backend.name,
            not_enforced=lambda: self.backend.not_enforced, usage=self.store.usage, engine_stats=self.engine.stats,
            queued_events=self.queue.depth,
        ).document
        self.app = create_app(Api(control=control, max_timeout=settings.max_timeout, health=self.health,
                                  authenticate=anonymous_callers(settings.account_id),
                                  invoker=self.invoker, logs=self.logs_api,
                                  usage=Usage(self.metrics, self.metric_store)))

    def _is_image(self, name: str) -> bool:
        function = self.store.get(name)
        return function is not None and function.latest.package_type == "Image"

    def _sample_queue(self) -> None:
        """The async queue's depth and oldest event age, for the metrics."""
        oldest = self.queue.oldest()
        self.metrics.queue(self.queue.depth(), time.time() - oldest if oldest else 0.0)

    async def serve(self, ready: Callable[[Server], None] | None = None) -> None:
        http = HttpServer(self.app, host=self.settings.host, port=self.settings.port,
                          grace_s=self.settings.stop_grace, environments=lambda: self.engine.stats()["environments"],
                          end_of_grace=self._end_of_grace)
        self.bus.bind(asyncio.get_running_loop())
        await self.engine.start()
        self.environments.provision()
        self.metrics.start()
        await self.queue.start()
        self.supervisor.start()
        try:
            started = await http.run(on_started=lambda: ready(self) if ready else None)
        finally:
            self.supervisor.stop()
            if not await http.settle():  # the end of the grace closes the queue itself
                await self.queue.close()
            await self.engine.close()
            self.close()
        if not started:
            sys.exit(1)

    async def _end_of_grace(self) -> None:
        """The stop's grace for invokes in flight is over: running async attempts are given back
        to the queue (they run after the next start), then every invoke still running is answered
        with ServiceException."""
        await self.queue.close()
        self.engine.halt()

    def close(self) -> None:
        self.supervisor.close()
        self.log_buffer.close()
        self.metrics.close()
        self.tracing.close()
        self.database.dispose()

