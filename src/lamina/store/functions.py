"""Functions and their versions in the metadata database.

A repository over `schema.functions` and `schema.versions`; it answers with lamina.model records
and knows nothing of ARNs or API errors. Imports lamina.model, lamina.store.schema,
lamina.store.locks and lamina.store.dialect only.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from lamina.model import LATEST, Function, FunctionVersion
from lamina.store import locks
from lamina.store.dialect import insert_ignore, upsert, whole_sum
from lamina.store.schema import functions, versions

_SOURCE_MODIFIED = "published_from_modified"  # kept beside a published version's record, not part of it


def _number(version: str) -> int:
    return 0 if version == LATEST else int(version)


class FunctionStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def locked(self, name: str):
        """A context in which this function's records (its versions, tags, aliases, policies, URL and
        event invoke configs) change one change at a time, across every process (lamina.store.locks)."""
        return locks.held(self._engine, "function", name)

    # -- writes -------------------------------------------------------------------------------
    def create(self, function: Function) -> bool:
        """Insert a new function with its $LATEST; False when the name is taken."""
        with self._engine.begin() as conn:
            if not insert_ignore(conn, functions, dict(
                    name=function.name, tags=function.tags, last_version_number=function.last_version_number,
                    created_at=time.time())):
                return False
            self._insert_version(conn, function.latest)
        return True

    def save_version(self, version: FunctionVersion) -> None:
        """Insert or replace one version's record."""
        with self._engine.begin() as conn:
            upsert(conn, versions, self._version_row(version))

    def publish(self, version: FunctionVersion, *, source_modified: str | None = None) -> bool:
        """Store a newly published version and remember its number so it is never reused; False (nothing
        stored) when that number was taken meanwhile (another node published the function at once).

        `source_modified` is the LastModified $LATEST had when it was published: `published_from`
        gives it back, so the caller can tell whether $LATEST changed since."""
        with self._engine.begin() as conn:
            if not insert_ignore(conn, versions, self._version_row(version, source_modified)):
                return False
            conn.execute(functions.update().where(functions.c.name == version.name)
                         .values(last_version_number=int(version.version)))
        return True

    def set_tags(self, name: str, tags: dict[str, str]) -> None:
        with self._engine.begin() as conn:
            conn.execute(functions.update().where(functions.c.name == name).values(tags=tags))

    def delete(self, name: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(versions.delete().where(versions.c.function_name == name))
            conn.execute(functions.delete().where(functions.c.name == name))

    def delete_version(self, name: str, version: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(versions.delete().where(
                (versions.c.function_name == name) & (versions.c.version == version)
            ))

    @staticmethod
    def _version_row(version: FunctionVersion, source_modified: str | None = None) -> dict:
        config = version.to_dict()
        if source_modified is not None:
            config[_SOURCE_MODIFIED] = source_modified
        return dict(function_name=version.name, version=version.version, number=_number(version.version),
                    config=config, code_hex=version.code_hex, code_size=version.code_size)

    def _insert_version(self, conn: sa.Connection, version: FunctionVersion) -> None:
        conn.execute(versions.insert().values(**self._version_row(version)))

    # -- reads --------------------------------------------------------------------------------
    def get(self, name: str) -> Function | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(functions).where(functions.c.name == name)).first()
            if row is None:
                return None
            latest = conn.execute(sa.select(versions.c.config).where(
                (versions.c.function_name == name) & (versions.c.version == LATEST)
            )).scalar_one()
        return Function(name=row.name, latest=FunctionVersion.from_dict(latest), tags=dict(row.tags or {}),
                        last_version_number=row.last_version_number)

    def tags(self, name: str) -> dict[str, str] | None:
        """The function's tags alone (one read of its row); None when there is no such function."""
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(functions.c.tags).where(functions.c.name == name)).first()
        return None if row is None else dict(row.tags or {})

    def get_version(self, name: str, version: str) -> FunctionVersion | None:
        with self._engine.connect() as conn:
            config = conn.execute(sa.select(versions.c.config).where(
                (versions.c.function_name == name) & (versions.c.version == version)
            )).scalar()
        return FunctionVersion.from_dict(config) if config is not None else None

    def published_from(self, name: str, version: str) -> str | None:
        """The LastModified of $LATEST that `version` was published from (None if not recorded)."""
        with self._engine.connect() as conn:
            config = conn.execute(sa.select(versions.c.config).where(
                (versions.c.function_name == name) & (versions.c.version == version)
            )).scalar()
        return (config or {}).get(_SOURCE_MODIFIED)

    def list_versions(self, name: str | None = None, *, after: tuple[str, int] | None = None,
                      limit: int | None = None, latest_only: bool = False) -> list[FunctionVersion]:
        """Versions ordered by function name then number ($LATEST first), starting after `after`."""
        query = sa.select(versions.c.config).order_by(versions.c.function_name, versions.c.number)
        if name is not None:
            query = query.where(versions.c.function_name == name)
        if latest_only:
            query = query.where(versions.c.version == LATEST)
        if after is not None:
            after_name, after_number = after
            query = query.where(
                (versions.c.function_name > after_name)
                | ((versions.c.function_name == after_name) & (versions.c.number > after_number))
            )
        if limit is not None:
            query = query.limit(limit)
        with self._engine.connect() as conn:
            return [FunctionVersion.from_dict(config) for (config,) in conn.execute(query)]

    def code_in_use(self, code_hex: str) -> bool:
        """Whether any version's code, or a layer it references, is the blob `code_hex`."""
        with self._engine.connect() as conn:
            return conn.execute(sa.select(versions.c.function_name).where(
                (versions.c.code_hex == code_hex) | sa.cast(versions.c.config, sa.Text).contains(code_hex)
            ).limit(1)).first() is not None

    def usage(self) -> tuple[int, int]:
        """(number of functions, total code size of every stored version)."""
        with self._engine.connect() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(functions)).scalar_one()
            size = conn.execute(sa.select(sa.func.coalesce(whole_sum(versions.c.code_size), 0))).scalar_one()
        return int(count), int(size)
