"""GetAccountSettings: the account's limits and what it uses (real counts from the store).

Imports lamina.store only.
"""

from __future__ import annotations

from collections.abc import Callable

from lamina.store.functions import FunctionStore

TOTAL_CODE_SIZE = 80_530_636_800
CODE_SIZE_ZIPPED = 52_428_800
CODE_SIZE_UNZIPPED = 262_144_000


class AccountSettings:
    def __init__(self, store: FunctionStore, concurrency_limit: int, reserved: Callable[[], dict[str, int]]) -> None:
        self._store = store
        self._concurrency_limit = concurrency_limit
        self._reserved = reserved

    def get(self) -> dict:
        count, size = self._store.usage()
        return {
            "AccountLimit": {
                "TotalCodeSize": TOTAL_CODE_SIZE,
                "CodeSizeUnzipped": CODE_SIZE_UNZIPPED,
                "CodeSizeZipped": CODE_SIZE_ZIPPED,
                "ConcurrentExecutions": self._concurrency_limit,
                "UnreservedConcurrentExecutions": self._concurrency_limit - sum(self._reserved().values()),
            },
            "AccountUsage": {"TotalCodeSize": size, "FunctionCount": count},
        }
