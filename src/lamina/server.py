"""The composition root: builds every part from Settings, starts them in order, stops them in reverse.

The only module that knows all the others, and only wiring: each part is built after the parts it
is handed (bound methods of parts already built), the typed events of lamina.events are routed to
their subscribers here, and the HTTP layer gets its typed services. What a part does lives in the
module named for it (runtime catalog, run specs, supervisor, environments, cascade, health,
the HTTP server and its graceful stop).
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lamina import events, patterns, runtime_ids
from lamina.admission import Admission
from lamina.api.app import CODE_PATH, Api, create_app
from lamina.api.pipeline import anonymous_callers
from lamina.api.s3_events import s3_permit
from lamina.api.signatures import SigV4
from lamina.api.url_auth import url_authorizer
from lamina.api.url_lane import UrlServing
from lamina.authz.authorizer import Authorizer
from lamina.cluster.admission import ClusterAdmission
from lamina.cluster.front import ClusterFront, WorkerFactory
from lamina.cluster.jetstream_queue import JetStreamQueue
from lamina.cluster.leases import Leases
from lamina.cluster.remote_engine import RemoteEngine
from lamina.config import CREDENTIALS_FILE, MASTER_KEY_FILE, PROFILE, Settings
from lamina.console.app import console_routes
from lamina.console.client import ApiClient
from lamina.console.sessions import Sessions
from lamina.control import admin
from lamina.control.account import AccountSettings
from lamina.control.aliases import Aliases
from lamina.control.cascade import Cascade
from lamina.control.code_signing import CodeSigning
from lamina.control.concurrency import ReservedConcurrency
from lamina.control.event_configs import EventConfigs
from lamina.control.execution_roles import ExecutionRoles
from lamina.control.function_urls import FunctionUrls
from lamina.control.functions import Account, Functions
from lamina.control.iam import Iam
from lamina.control.layers import Layers
from lamina.control.logs import Logs
from lamina.control.mappings import EventSourceMappings
from lamina.control.permissions import Permissions
from lamina.control.plane import ControlPlane
from lamina.control.provisioned import ProvisionedConcurrency
from lamina.control.rules import Rules
from lamina.control.signing_profiles import SigningProfiles
from lamina.control.stacks import Stacks
from lamina.control.sts import Sts
from lamina.control.tags import Tags
from lamina.control.test_events import TestEvents
from lamina.control.usage import Usage
from lamina.destinations import Destinations
from lamina.engine import backends
from lamina.engine.catalog import Runtimes
from lamina.engine.engine import Engine
from lamina.engine.file_systems import FileSystems
from lamina.environments import Environments
from lamina.health import Health
from lamina.http_server import HttpServer
from lamina.images.reclaim import Reclaimer
from lamina.images.store import ImageStore
from lamina.invoke import Invoker
from lamina.model import LATEST
from lamina.pollers.fleet import Pollers
from lamina.pollers.hooks import Hooks
from lamina.pollers.mq import mq_poller
from lamina.pollers.sources import Sources
from lamina.pollers.sqs import sqs_poller
from lamina.pollers.streams import StreamHooks
from lamina.pollers.streams import factory as stream_poller
from lamina.profiler import Profiler, Target
from lamina.queue.sql import SqlQueue
from lamina.queue.worker import EventQueue
from lamina.rule_targets import RuleTargets
from lamina.run_specs import IMAGE_RAPID_RUNTIME, RunSpecs
from lamina.schedules import MinuteScale, ScheduleClock
from lamina.store import private_files
from lamina.store import secrets as shared_secrets
from lamina.store.aliases import AliasStore
from lamina.store.blobs import BlobStore
from lamina.store.code_signing import CodeSigningStore
from lamina.store.database import database_url, open_database, sqlite_file
from lamina.store.event_configs import EventConfigStore
from lamina.store.function_urls import FunctionUrlStore
from lamina.store.functions import FunctionStore
from lamina.store.iam import IamStore
from lamina.store.layers import LayerStore
from lamina.store.logs import LogStore
from lamina.store.mappings import MappingStore
from lamina.store.metrics import MetricStore
from lamina.store.policies import PolicyStore
from lamina.store.provisioned import ProvisionedStore
from lamina.store.queue import QueueStore
from lamina.store.rule_deliveries import DeliveryStore
from lamina.store.rules import RuleStore
from lamina.store.s3_objects import S3Objects
from lamina.store.stacks import StackStore
from lamina.store.stream_checkpoints import CheckpointStore
from lamina.store.test_events import TestEventStore
from lamina.supervisor import Supervisor
from lamina.telemetry.logbuffer import LogBuffer
from lamina.telemetry.mapping_metrics import MappingMetrics
from lamina.telemetry.metrics import Metrics
from lamina.telemetry.tracing import Tracing
from lamina.tokens import Tokens
from lamina.url_hosts import function_url

ACCESS_RECHECK_MAX = 5.0  # how often (at most) a polling mapping's execution role is checked again
RULE_RETRY_INTERVAL = 0.5  # how often deliveries waiting for a retry or a dead letter are looked at
IMAGE_RECLAIM_INTERVAL = 2.0  # seconds between checks while a released image root waits for its environments
IMAGE_BACKENDS_PROBLEM = ("lamina's {backend} sandbox backend cannot run container image functions (PackageType "
                          "Image): they need the namespaces or bubblewrap backend.")

CLUSTER_REREAD_INTERVAL = 30.0  # cluster mode: how often caches of database state are read anew
CODE_LINK_TTL = 600  # seconds a Code.Location link works, as AWS's presigned S3 URL


class Server:
    def __init__(self, settings: Settings, *, worker: WorkerFactory | None = None) -> None:
        self.settings = settings
        region, account_id = settings.region, settings.account_id
        data_dir = Path(settings.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.bus = bus = events.Bus()
        self.supervisor = Supervisor()
        # Cluster mode (a NATS server named): this node is one front of several sharing PostgreSQL and NATS.
        self.cluster = ClusterFront(settings, bus, worker) if settings.nats_url else None

        # Persistence and what the host can run. With auth the database holds access keys' secrets:
        # owner-readable only.
        url = database_url(settings)
        if settings.auth == "sigv4" and (file := sqlite_file(url)) is not None:
            private_files.restrict(file)
        self.database = open_database(url)
        self.store = FunctionStore(self.database)
        alias_store = AliasStore(self.database)
        event_config_store = EventConfigStore(self.database)
        self.blobs = BlobStore(data_dir / "blobs", remote=self.cluster.blob_remote if self.cluster else None)
        self.runtimes = Runtimes(settings.runtime_paths)

        # Identities: IAM entities, STS sessions (sealed by the data dir's master key), the administrator.
        auth_on = settings.auth == "sigv4"
        self.iam = Iam(IamStore(self.database), account_id,
                       changed=lambda: (self.sts.keys_changed(), bus.publish(events.IamChanged())))
        self._iam_epoch = 0  # counts IAM changes announced (by any front): part of the authorizer's revision
        self.tokens = Tokens(shared_secrets.master_key(self.database, data_dir / MASTER_KEY_FILE))
        self.sts = Sts(self.iam, self.tokens, account_id, trust_conditions=lambda caller, params, block:
                       self.authorizer.conditions_hold(caller, "sts", "AssumeRole", params, block))
        self.new_admin_key = admin.ensure_admin(self.iam, data_dir / CREDENTIALS_FILE, profile=PROFILE, region=region,
                                                endpoint=settings.base_url,
                                                shared=shared_secrets.shared(self.database)) if auth_on else None

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
                                  credentials=self.sts.execution_credentials,
                                  credentials_ttl=settings.execution_credentials_ttl,
                                  file_system_dir=self.file_systems.host_dir, images=self.images,
                                  unpack=not settings.nats_url)  # cluster: workers unpack code by digest
        if self.cluster is not None:
            self.engine: Engine | RemoteEngine = self.cluster.engine
        else:
            self.engine = Engine(
                backend=self.backend, concurrency_limit=settings.concurrency_limit,
                idle_timeout=settings.idle_timeout, endpoint_url=settings.base_url, region=region,
                account_id=account_id, scratch_dir=data_dir / "sandboxes", log_sink=self.log_buffer,
                runtime_site_dir=settings.cache_dir / "runtime",
                runtime_site_fallback=data_dir / "runtime", start_concurrency=settings.start_concurrency,
            )

        # The control plane: one object per group of operations, announcing changes on the bus.
        s3_objects = S3Objects(region=region, endpoint_url=settings.s3_endpoint_url)
        self.layers = Layers(LayerStore(self.database), self.store, self.blobs, region, account_id,
                             deleted=lambda name, version: self.permissions.layer_version_deleted(name, version),
                             fetch_s3=s3_objects.fetch)
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
            role_assumable=self.sts.lambda_may_assume if auth_on else None, fetch_s3=s3_objects.fetch,
            file_system_problem=self.file_systems.problem, code_check=self.code_signing.check,
            bind_code_signing=self.code_signing.bind,
            pull_image=self.images.pull if self.backend.name in ("namespaces", "bubblewrap") else None,
            image_problem=IMAGE_BACKENDS_PROBLEM.format(backend=self.backend.name),
        )
        self.event_configs = EventConfigs(event_config_store, self.store, alias_store, region, account_id,
                                          publish=bus.publish)
        self.concurrency = ReservedConcurrency(event_config_store, self.store, region, account_id,
                                               settings.concurrency_limit, publish=bus.publish)
        reserved = self.concurrency.all
        self.provisioned = ProvisionedConcurrency(
            ProvisionedStore(self.database), self.store, alias_store, region, account_id,
            reserved=lambda name: reserved().get(name), unreserved=self.concurrency.unreserved,
            ready=self.engine.provisioned_ready, publish=bus.publish,
        )
        self.permissions = Permissions(PolicyStore(self.database), self.functions, self.layers, publish=bus.publish)
        self.logs_api = Logs(self.logs, region, account_id)
        mapping_store = MappingStore(self.database)
        self.tags = Tags(self.store, region, account_id, publish=bus.publish, mappings=mapping_store,
                         code_signing=code_signing_store)
        # Authorization: with signed requests, the caller's identity policies (IAM) and the resource
        # policies decide each call; without, every caller is the account's root and all is allowed.
        # A policy on aws:ResourceTag/<key> has the resource's tags read afresh (self.tags.of) per call.
        self.authorizer = Authorizer(region=region, account_id=account_id, identity_policies=self.sts.identity_policies,
                                     identity_revision=lambda: (self.iam.store.revision, self._iam_epoch),
                                     resource_policy=lambda arn: self.permissions.policy_for(arn)
                                     or self.sts.trust_policy(arn), enforcing=auth_on,
                                     resource_tags=self.tags.of)
        self.sources = Sources({"sqs": settings.sqs_endpoint_url, "kinesis": settings.kinesis_endpoint_url,
                                "dynamodbstreams": settings.dynamodb_streams_endpoint_url},
                               settings.mq_brokers, region)
        roles = ExecutionRoles(self.store, self.authorizer, account_id)
        self.mappings = EventSourceMappings(mapping_store, self.store, alias_store, region, account_id,
                                            publish=bus.publish, probe=self.sources.probe,
                                            mq_brokers=settings.mq_brokers,
                                            compile_pattern=patterns.compile_pattern,
                                            role_may=roles.may if auth_on else None)
        self.function_urls = FunctionUrls(
            FunctionUrlStore(self.database), self.store, alias_store, region, account_id,
            url_for=lambda url_id: function_url(settings.base_url, url_id, region), publish=bus.publish)
        control = ControlPlane(
            functions=self.functions, aliases=Aliases(alias_store, self.store, region, account_id, bus.publish),
            layers=self.layers, event_configs=self.event_configs, concurrency=self.concurrency,
            provisioned=self.provisioned, tags=self.tags,
            account=AccountSettings(self.store, settings.concurrency_limit, reserved), region=region,
            code_url=self._code_url,
            permissions=self.permissions, mappings=self.mappings, function_urls=self.function_urls,
            code_signing=self.code_signing, signing_profiles=self.signing_profiles,
        )

        # The data plane: admission → invoker → engine, and the durable async queue. Accepting an event
        # (an Event invoke, a destination record) is the Queue's; running it is the workers', through
        # the invoker.
        # In cluster mode the limits hold across fronts: each leases blocks of them from the database.
        self.admission = (ClusterAdmission(self.database, self.cluster.node_id, settings.concurrency_limit)
                          if self.cluster else Admission(settings.concurrency_limit))
        self.admission.set_reserved(reserved())
        # In cluster mode accepted events are in a JetStream work-queue stream every front consumes.
        accepted = (JetStreamQueue(self.cluster.link.client, self.cluster.names) if self.cluster
                    else SqlQueue(QueueStore(self.database, write_lines=self.logs.append_on),
                             drain_lines=self.log_buffer.drain_into))
        self.invoker = Invoker(
            region=region, account_id=account_id, lookup=self.store.get_version, alias_of=alias_store.get,
            spec_for=self.run_specs.for_version, run=self.engine.invoke, admission=self.admission,
            enqueue=accepted.enqueue, metrics=self.metrics, tracing=self.tracing,
            run_warm=self.engine.run_warm if isinstance(self.engine, Engine) and settings.warm_lane else None,
            accept_now=accepted.accept_now if isinstance(accepted, SqlQueue) and settings.warm_lane else None,
        )
        self.queue = EventQueue(
            accepted, run=self.invoker.run_event, config_for=self.event_configs.retry_config,
            deliver=Destinations(region, account_id, accepted.enqueue).deliver,
            arn_for=lambda name, q: self.functions.arn(name, q or LATEST), scale=settings.async_backoff_scale,
            # an event's log lines are stored before it leaves the queue: in single-node mode by the
            # queue's own thread, in the transaction that removes it (one loop turn here first, for the
            # lines the environment appends after the answer)
            before_remove=self.log_buffer.stored if self.cluster else self.log_buffer.appended,
            on_drop=self.metrics.dropped, workers=settings.async_workers,
            ceiling_for=lambda name: (self.admission.reserved(name), self.admission.unreserved_pool()),
            accepting=lambda: self.invoker.accepting,  # accepting a burst comes first (lamina.queue.priority)
        )

        # EventBridge: rules deliver to their targets as Event invokes; the schedule clock fires scheduled rules.
        # A rule's target must grant events.amazonaws.com lambda:InvokeFunction (checked when auth is on).
        # A delivery that cannot be made waits in the database for its retry (RetryPolicy), and one given
        # up goes to the target's DeadLetterConfig queue at the configured SQS endpoint.
        self.rule_targets = RuleTargets(self.invoker.invoke, authorize=lambda function_arn, rule_arn: (
            self.authorizer.may_invoke("events.amazonaws.com", function_arn, rule_arn, account_id)),
            store=DeliveryStore(self.database), dead_letter=self.sources.send_message,
            scale=settings.async_backoff_scale)
        scale = MinuteScale(settings.schedule_minute_seconds)
        self.rules = Rules(RuleStore(self.database), region, account_id, deliver=self.rule_targets.deliver,
                           now_minute=scale.now, publish=bus.publish)
        self.schedule_clock = ScheduleClock(scale, rules=self.rules.scheduled, claim=self.rules.claim,
                                            fire=self.rules.fire, rewind=self.rules.rewind)
        # Event source mappings: one poller per enabled mapping, feeding batches through the invoker.
        checkpoints = CheckpointStore(self.database)
        streams = stream_poller(StreamHooks(
            load=checkpoints.load, save=checkpoints.save, role_of=roles.of,
            function_arn=lambda name, q: self.functions.arn(name, q),
            to_function=Destinations(region, account_id, accepted.enqueue).deliver,
            iterator_age=self.metrics.iterator_age, poll_interval=settings.stream_poll_interval,
            retry_scale=settings.stream_retry_scale,
        ))
        self.pollers = Pollers(
            load_all=self.mappings.all, load=self.mappings.find, settle=self.mappings.settle,
            hooks=Hooks(invoke=self.invoker.deliver, report=self.mappings.report, sources=self.sources,
                        metrics=MappingMetrics(self.metrics.registry), backoff_max=settings.mapping_backoff_max,
                        long_poll_s=settings.sqs_wait_seconds,
                        # With auth, a mapping polls only while its function's role may read the source.
                        access=self.mappings.access_problem if auth_on else None,
                        access_interval=min(settings.mapping_backoff_max, ACCESS_RECHECK_MAX)),
            factories={"sqs": sqs_poller, "mq": mq_poller, "kinesis": streams, "dynamodb": streams},
            stop_wait_s=min(10.0, settings.stop_grace / 2),
        )

        # Who keeps in step with what: subscribers in delivery order. Those with remote=True keep an
        # in-memory copy of database state, so in cluster mode they also follow changes made through
        # other fronts (lamina.cluster.bridge relays the events); the others write the database and run
        # only on the front where the change was made.
        self.environments = Environments(
            retire=self.engine.retire, provision=self.engine.provision, targets=self.provisioned.targets,
            version=self.store.get_version, spec_for=self.run_specs.for_version,
            prepare_runtime=self._prepare_runtime, versions=self.store.list_versions,
        )
        cascade = Cascade(self.event_configs, self.concurrency, self.provisioned, self.function_urls)
        for kind in (events.FunctionChanged, events.FunctionDeleted, events.AliasChanged):
            bus.subscribe(kind, self.invoker.changed, remote=True)
        for kind in (events.FunctionChanged, events.AliasChanged, events.ProvisionedConcurrencyChanged):
            bus.subscribe(kind, cascade.changed, remote=True)
        bus.subscribe(events.FunctionDeleted, lambda event: self.event_configs.forget(event.function), remote=True)
        bus.subscribe(events.EventConfigChanged, lambda event: self.event_configs.forget(event.function), remote=True)
        for kind in (events.FunctionDeleted, events.VersionDeleted, events.AliasChanged):
            bus.subscribe(kind, lambda event: self.permissions.policy_changed(
                events.PolicyChanged("function", event.function)), remote=True)
        bus.subscribe(events.PolicyChanged, self.permissions.policy_changed, remote=True)
        bus.subscribe(events.IamChanged, self._iam_changed, remote=True)
        bus.subscribe(events.FunctionDeleted, cascade.deleted)
        bus.subscribe(events.FunctionDeleted, self.permissions.function_deleted)
        bus.subscribe(events.VersionDeleted, self.permissions.version_deleted)
        bus.subscribe(events.AliasChanged, lambda event: self.permissions.alias_changed(
            event, exists=lambda function, alias: alias_store.get(function, alias) is not None))
        bus.subscribe(events.FunctionUrlChanged, self.function_urls.changed, remote=True)
        bus.subscribe(events.FunctionDeleted, lambda event: self.code_signing.function_deleted(event.function))
        test_events = TestEvents(TestEventStore(self.database),
                                 function_name=lambda name: self.functions.get(name)[0].name)
        bus.subscribe(events.FunctionDeleted, lambda event: test_events.forget(event.function))
        for kind in (events.FunctionChanged, events.FunctionDeleted):
            bus.subscribe(kind, self.environments.retire)
        # its runtime's zygote starts ahead; the version read (and a first probe of the interpreter)
        # happen on the deferred-step thread, not the loop
        bus.subscribe(events.FunctionChanged, lambda event: self.supervisor.defer(
            lambda: self.environments.prepare(event)))
        for kind in (events.FunctionChanged, events.FunctionDeleted, events.AliasChanged,
                     events.ProvisionedConcurrencyChanged):  # every front shares the same targets out to workers
            bus.subscribe(kind, self.environments.provision, remote=True)
        bus.subscribe(events.ReservedConcurrencyChanged, lambda _: self.admission.set_reserved(reserved()), remote=True)
        bus.subscribe(events.RuleChanged, self.schedule_clock.changed, remote=True)
        bus.subscribe(events.MappingChanged, self.pollers.changed, remote=True)
        # An image root goes once no function's version names it and no environment runs on it.
        self.image_reclaimer = Reclaimer(self.images, named=self._image_digests, live=self.engine.image_roots)
        for kind in (events.FunctionChanged, events.FunctionDeleted):
            bus.subscribe(kind, self.image_reclaimer.changed)
        self.image_reclaimer.changed()  # once at start too: a stop between a delete and its reclaim
        bus.subscribe(events.MappingChanged,  # a deleted mapping's stream checkpoints go with it
                      lambda e: None if self.mappings.find(e.uuid) else checkpoints.forget(e.uuid))

        # Background jobs, /health and the HTTP app. In cluster mode the singletons (log expiry, the schedule
        # clock, EventBridge retries, the pollers) run only on the node holding their lease; the schedule
        # clock's claim of each minute in the database also makes a minute fire once if two ever overlap.
        self.leases = Leases(database_url(settings), cluster=settings.cluster_name) if self.cluster else None
        self._polling = asyncio.Lock()
        self.supervisor.every("log retention expiry", settings.log_expiry_interval,
                              self._singleton("log-expiry", self.logs_api.expire))
        self.supervisor.every("sampling the async queue", 5.0, self._sample_queue)
        if self.cluster is not None:  # relayed events are best effort: the caches also re-read on their own
            self.supervisor.every("re-reading cached state", CLUSTER_REREAD_INTERVAL, self._reread)
        self.supervisor.every("reclaiming unused image roots", IMAGE_RECLAIM_INTERVAL, self.image_reclaimer.run)
        self.supervisor.every("EventBridge schedule clock", scale.tick_interval,
                              self._singleton("schedule-clock", self.schedule_clock.tick))
        self.supervisor.every("EventBridge delivery retries", RULE_RETRY_INTERVAL,
                              self._singleton("rule-retries", self.rule_targets.retry_due))
        self.supervisor.every("renewing execution-role credentials", min(60.0, settings.execution_credentials_ttl / 4),
                              self._renew_credentials)
        self.health = Health(
            data_dir=str(settings.data_dir), endpoint=settings.base_url, backend=self.backend.name,
            not_enforced=lambda: self.backend.not_enforced, usage=self.store.usage, engine_stats=self.engine.stats,
            zygotes=self.backend.zygotes,
            queued_events=self.queue.depth, lane_accepts=lambda: self.invoker.accepted_now,
            region=region, account_id=account_id, auth=settings.auth or "off",
            auth_warning=("lamina serves a non-loopback address without authentication (--auth none): anyone who "
                          "reaches it can run code" if settings.auth == "none" and not settings.loopback else None),
            mappings=lambda: {"byState": self.mappings.counts(), "polling": self.pollers.running()},
            runtimes=lambda: {runtime: self.runtimes.problem(runtime) for runtime in runtime_ids.offered()},
            nodes=self.cluster.nodes.live if self.cluster else None,
            leases=self.leases.holding if self.leases else None,
        ).document
        signatures = SigV4(account_id, self.sts.credentials, link_valid=self.tokens.link_valid) if auth_on else None
        # Function URLs: with auth, AWS_IAM URLs need a verified signature and lambda:InvokeFunctionUrl,
        # NONE URLs a public grant; without, keys lamina issued are still verified (lamina.api.url_auth).
        url_authorize = url_authorizer(region, account_id, enforcing=auth_on,
                                       verify=SigV4(account_id, self.sts.credentials).verify,
                                       check=self.authorizer.check, public=self.authorizer.allows_anyone)
        self.app = create_app(Api(control=control, max_timeout=settings.max_timeout, health=self.health,
                                  authenticate=signatures or anonymous_callers(settings.account_id),
                                  verify=signatures.verify if signatures else None, iam=self.iam, sts=self.sts,
                                  before_body=signatures.before_body if signatures else None,
                                  invoker=self.invoker, logs=self.logs_api, authorize=self.authorizer.check,
                                  usage=Usage(self.metrics, self.metric_store), rules=self.rules,
                                  stacks=Stacks(StackStore(self.database)),
                                  url_serving=UrlServing(self.function_urls, authorize=url_authorize,
                                                         region=region, base_url=settings.base_url,
                                                         port=settings.port),
                                  test_events=test_events,
                                  s3_permit=s3_permit(region, account_id, self.authorizer.check,
                                                      self.authorizer.may_invoke),
                                  profiler=Profiler(resolve=self._profile_target, processes=self.engine.processes),
                                  # The console: pages that act only through this same app's public API.
                                  # With auth, behind its sign-in: server-side sessions, calls signed as the user.
                                  extra_routes=console_routes(ApiClient(lambda: self.app, region=region),
                                                              sessions=Sessions() if auth_on else None)))

    def _code_url(self, code_hex: str) -> str:
        """GetFunction's Code.Location: with auth, a link lamina signed, valid 10 minutes (as AWS's)."""
        path = CODE_PATH.format(code_hex=code_hex)
        if self.settings.auth != "sigv4":
            return self.settings.base_url + path
        return f"{self.settings.base_url}{path}?{self.tokens.link(path, int(time.time()) + CODE_LINK_TTL)}"

    def _singleton(self, lease: str, run: Callable[[], object]) -> Callable[[], None]:
        """`run`, or in cluster mode `run` only while this node holds `lease`."""
        if self.leases is None:
            return run  # type: ignore[return-value]
        self.leases.want(lease)
        leases = self.leases

        def gated() -> None:
            if leases.held(lease):
                run()
        return gated

    def _lease_changed(self, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
        """The pollers' lease was gained or lost (on the lease thread): the fleet follows on the loop."""
        def changed() -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(lambda: loop.create_task(self._follow_pollers_lease()))
        return changed

    async def _follow_pollers_lease(self) -> None:
        async with self._polling:
            assert self.leases is not None
            if self.leases.held("pollers"):
                await self.pollers.start()
            else:
                await self.pollers.standby()

    def _reread(self) -> None:
        """Cluster mode's safety net: a change whose relayed event was lost (NATS down for a moment)
        reaches this front's caches within CLUSTER_REREAD_INTERVAL."""
        self.invoker.forget_all()
        self.admission.set_reserved(self.concurrency.all())
        self.schedule_clock.changed()
        self.bus.publish_remote(events.IamChanged())

    def _iam_changed(self, _event: events.IamChanged) -> None:
        """IAM changed (through this front or another): identity policies and keys are read anew."""
        self._iam_epoch += 1
        self.sts.keys_changed()

    def _renew_credentials(self) -> None:
        """A new credential period began: cached specs are dropped, so the next invoke starts environments
        with fresh execution-role credentials and retires the old ones (provisioned ones now)."""
        if self.run_specs.rotated():
            self.invoker.forget_all()
            self.environments.provision()

    def _profile_target(self, function_name: str, qualifier: str | None) -> Target:
        _, version = self.functions.get(function_name, qualifier)
        return Target(version.name, version.version, version.runtime or "")

    def _image_digests(self) -> set[str]:
        """The manifest digests every version of every image function uses; "*" while a pull's
        result is still to be recorded (a function Pending or an update InProgress)."""
        images = [version for version in self.store.list_versions() if version.package_type == "Image"]
        busy = any(version.state == "Pending" or version.last_update_status == "InProgress" for version in images)
        return {version.code_sha256 for version in images if version.code_sha256} | ({"*"} if busy else set())

    def _prepare_runtime(self, runtime: str, image: bool) -> None:
        """Have the engine make `runtime` ready ahead. A cluster front runs no environments: its
        RemoteEngine tells every worker, each finding the interpreter on its own host."""
        if isinstance(self.engine, Engine):
            interpreter = self.runtimes.interpreter(IMAGE_RAPID_RUNTIME if image else runtime)
            self.engine.prepare_runtime(runtime, interpreter, image=image)
        else:
            self.engine.prepare_runtime(runtime, None, image=image)

    def _is_image(self, name: str) -> bool:
        function = self.store.get(name)
        return function is not None and function.latest.package_type == "Image"

    def _sample_queue(self) -> None:
        """The async queue's depth and oldest event age, in all and per function, for the metrics."""
        now = time.time()
        backlog = self.queue.backlog()
        oldest = min((first for _, first in backlog.values()), default=None)
        self.metrics.queue(sum(held for held, _ in backlog.values()), now - oldest if oldest else 0.0,
                           {name: (held, max(0.0, now - first)) for name, (held, first) in backlog.items()})

    async def serve(self, ready: Callable[[Server], None] | None = None) -> None:
        http = HttpServer(self.app, direct=self.app, host=self.settings.host, port=self.settings.port,
                          grace_s=self.settings.stop_grace, environments=lambda: self.engine.stats()["environments"],
                          end_of_grace=self._end_of_grace, on_stopping=self._stopping)
        loop = asyncio.get_running_loop()
        self.bus.bind(loop)
        if self.cluster is not None:
            try:
                await self.cluster.start()
            except BaseException:  # e.g. NATS unreachable: nothing else started; give back the mounts
                await self.backend.close()
                self.close()
                raise
            if isinstance(self.admission, ClusterAdmission):
                self.admission.start()
        await self.engine.start()
        self.environments.provision()
        self.metrics.start()
        await self.queue.start()
        self.rule_targets.bind(loop)
        self.schedule_clock.restart_floor()
        if self.leases is None:
            await self.pollers.start()
        else:  # the fleet starts when this node gains the pollers' lease, and stands by when it loses it
            self.leases.want("pollers", gained=self._lease_changed(loop), lost=self._lease_changed(loop))
            self.leases.start()
        self.supervisor.start()
        try:
            started = await http.run(on_started=lambda: self._started(ready))
        finally:
            self.supervisor.stop()
            if self.leases is not None:
                await asyncio.to_thread(self.leases.close)
            async with self._polling:
                await self.pollers.close()
            if not await http.settle():  # the end of the grace closes the queue itself
                self.rule_targets.close()
                await self.queue.close()
            await self.engine.close()
            if isinstance(self.admission, ClusterAdmission):
                await asyncio.to_thread(self.admission.close)
            if self.cluster is not None:
                await self.cluster.close()
                await self.backend.close()  # the Engine closes it in single-node mode
            self.close()
        if not started:
            sys.exit(1)

    def _started(self, ready: Callable[[Server], None] | None) -> None:
        """The HTTP server listens. Then the runtimes deployed functions use get their zygotes, in
        the background (the versions are read and the interpreters probed on the deferred-step
        thread): the first invoke after a restart need not wait for them, and /health answers
        as soon as before. A cluster front leaves that to the workers: each reads the deployed
        runtimes from the shared database at its own start (lamina.worker), so a front's restart
        asks nothing of them."""
        if ready is not None:
            ready(self)
        if self.cluster is None:
            self.supervisor.defer(self.environments.prepare_deployed)

    def _stopping(self) -> None:
        """The stop signal came: the queue starts no more attempts, and everything alive now is
        moved out of the collector's reach. With thousands of environments warm, full collections
        of their objects took about 40% of the loop's time during the stop, time the kernel's
        teardown of those environments needs on the same cores; what they leave is freed as it
        goes (reference counts), a cycle among them when the process exits."""
        gc.freeze()
        self.queue.quiesce()

    async def _end_of_grace(self) -> None:
        """The stop's grace for invokes in flight is over: running async attempts are given back
        to the queue (they run after the next start), then every invoke still running is answered
        with ServiceException."""
        self.rule_targets.close()
        await self.queue.close()
        self.engine.halt()

    def close(self) -> None:
        self.supervisor.close()
        self.log_buffer.close()
        self.metrics.close()
        self.tracing.close()
        self.database.dispose()
