"""The composition root: builds every part from Settings, starts them in order, stops them in reverse.

The only module that knows all the others. It wires control's change announcements to the
invoke cache and the engine, and hands the HTTP layer its typed services.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import uvicorn

from lamina import __version__, runtime_ids
from lamina.api.app import CODE_PATH, Api, create_app
from lamina.api.functions import ControlPlane
from lamina.config import Settings
from lamina.control.account import AccountSettings
from lamina.control.aliases import Aliases
from lamina.control.functions import Account, Functions
from lamina.control.layers import Layers
from lamina.control.tags import Tags
from lamina.engine import interpreter
from lamina.store.aliases import AliasStore
from lamina.store.blobs import BlobStore
from lamina.store.database import open_database, sqlite_url
from lamina.store.functions import FunctionStore
from lamina.store.layers import LayerStore

log = logging.getLogger("lamina")


class Runtimes:
    """Which runtimes this host can run, probed once per runtime id."""

    def __init__(self, configured: dict[str, str]) -> None:
        self._configured = configured
        self._found: dict[str, str | None] = {}

    def interpreter(self, runtime: str) -> str | None:
        if runtime not in self._found:
            version = runtime_ids.python_version(runtime)
            self._found[runtime] = (
                interpreter.find_python(version, self._configured.get(runtime)) if version else None
            )
        return self._found[runtime]

    def problem(self, runtime: str) -> str | None:
        """Why a function on `runtime` cannot run here, or None when it can."""
        version = runtime_ids.python_version(runtime)
        if version is None:
            return (f"lamina cannot run the {runtime} runtime yet: only the managed Python runtimes "
                    "(python3.x) are supported.")
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
        self.layers = Layers(LayerStore(self.database), self.store, self.blobs, settings.region, settings.account_id)
        self.functions = Functions(
            self.store, self.blobs, self.alias_store, Account(settings.region, settings.account_id),
            runtime_problem=self.runtimes.problem,
            layer_lookup=self.layers.lookup,
            on_change=self._announce,
            defer=self._defer,
            allow_deprecated_runtimes=settings.allow_deprecated_runtimes,
        )
        control = ControlPlane(
            functions=self.functions,
            aliases=Aliases(self.alias_store, self.store, settings.region, settings.account_id, self._announce),
            layers=self.layers,
            tags=Tags(self.store, settings.region, settings.account_id),
            account=AccountSettings(self.store, settings.concurrency_limit),
            region=settings.region,
            code_url=lambda code_hex: settings.base_url + CODE_PATH.format(code_hex=code_hex),
        )
        self.app = create_app(Api(control=control, max_timeout=settings.max_timeout, health=self.health))

    def _defer(self, job: Callable[[], None]) -> None:
        def run() -> None:
            try:
                job()
            except Exception:
                log.exception("deferred control-plane step failed")
        self._deferred.submit(run)

    def _announce(self, function_name: str) -> None:
        for listener in self._listeners:
            listener(function_name)

    def health(self) -> dict:
        count, size = self.store.usage()
        return {
            "status": "ok",
            "version": __version__,
            "dataDir": str(self.settings.data_dir),
            "endpoint": self.settings.base_url,
            "sandbox": {"backend": "none", "notEnforced": []},
            "counts": {"functions": count, "codeBytes": size},
        }

    def close(self) -> None:
        self._deferred.shutdown(wait=True)
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

        watcher = asyncio.create_task(announce_when_started())
        try:
            await server.serve()
        finally:
            watcher.cancel()
            self.close()
        if not server.started:
            sys.exit(1)
