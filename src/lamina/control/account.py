"""GetAccountSettings: the account's limits and what it uses (real counts from the store).

Imports lamina.store and lamina.model only.
"""

from __future__ import annotations

from collections.abc import Callable

from lamina.model import AccountUsage
from lamina.store.functions import FunctionStore

TOTAL_CODE_SIZE = 80_530_636_800
CODE_SIZE_ZIPPED = 52_428_800
CODE_SIZE_UNZIPPED = 262_144_000


class AccountSettings:
    def __init__(self, store: FunctionStore, concurrency_limit: int, reserved: Callable[[], dict[str, int]]) -> None:
        self._store = store
        self._concurrency_limit = concurrency_limit
        self._reserved = reserved

    def get(self) -> AccountUsage:
        count, size = self._store.usage()
        return AccountUsage(
            total_code_size_limit=TOTAL_CODE_SIZE, code_size_unzipped_limit=CODE_SIZE_UNZIPPED,
            code_size_zipped_limit=CODE_SIZE_ZIPPED, concurrent_executions=self._concurrency_limit,
            unreserved_concurrent_executions=self._concurrency_limit - sum(self._reserved().values()),
            total_code_size=size, function_count=count,
        )
