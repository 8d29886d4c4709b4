"""When the image store's unused roots are reclaimed: after a change that may have released one
(a function deleted or updated to another digest) and again, on the periodic job, for as long as
a root no function names is still held by an environment that has not ended. Which digests are
in use is asked of callables (the functions' versions, the engine's live environments) that the
server wires. Imports lamina.images.store only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from lamina.images.store import ImageStore

log = logging.getLogger("lamina.images")


class Reclaimer:
    def __init__(self, store: ImageStore, *, named: Callable[[], set[str]], live: Callable[[], set[str]]) -> None:
        """`named()`: digests (hex) that functions' versions use; `live()`: digests that
        environments not yet gone run on. Either may answer "*": cannot tell now (reclaim nothing,
        try again on the next run)."""
        self._store = store
        self._named = named
        self._live = live
        self._due = threading.Event()
        self._running = threading.Lock()

    def changed(self, _event: object = None) -> None:
        """Something may have released a root: reclaim on the next run."""
        self._due.set()

    def run(self) -> list[str]:
        """Reclaim if due (one run at a time); due again while a released root is still held by an
        environment. Answers the digests removed."""
        if not self._due.is_set() or not self._running.acquire(blocking=False):
            return []
        try:
            self._due.clear()
            held: set[str] = set()

            def in_use() -> set[str]:
                live = self._live()
                named = self._named()
                held.update(live - named)
                if "*" in live or "*" in named:  # cannot tell now (a pull is being recorded): later
                    held.add("*")
                    return self._store.digests()
                return named | live

            removed = self._store.reclaim(in_use)
            if held:
                self._due.set()
            if removed:
                log.info("reclaimed %d unused image root(s): %s", len(removed), ", ".join(removed))
            return removed
        except Exception:
            self._due.set()
            raise
        finally:
            self._running.release()
