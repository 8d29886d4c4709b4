"""Code signing in the database: signing profile versions (AWS Signer's side), code signing
configs and the function → config binding (Lambda's side). Documents are stored as JSON; a
config's tags sit on its row beside its document (never in it: GetCodeSigningConfig shows none),
and go with the row.

Imports lamina.store.schema, lamina.store.locks and lamina.store.dialect only.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from lamina.store import locks
from lamina.store.dialect import upsert
from lamina.store.schema import code_signing_configs, function_code_signing, signing_profiles


class CodeSigningStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def locked(self, kind: str, name: str):
        """A context in which one code signing config ("config", its ARN) or signing profile ("profile",
        its name) changes one change at a time, across every process (lamina.store.locks)."""
        return locks.held(self._engine, f"code-signing-{kind}", name)

    # -- signing profiles ----------------------------------------------------------------------
    def add_profile_version(self, name: str, version: str, doc: dict) -> None:
        with self._engine.begin() as conn:
            conn.execute(signing_profiles.insert().values(name=name, version=version, doc=doc,
                                                          created_at=time.time()))

    def save_profile_version(self, name: str, version: str, doc: dict) -> None:
        with self._engine.begin() as conn:
            conn.execute(signing_profiles.update().where((signing_profiles.c.name == name)
                                                         & (signing_profiles.c.version == version)).values(doc=doc))

    def profile_versions(self, name: str | None = None) -> list[dict]:
        """Every version (of one profile, or of all), oldest first."""
        query = sa.select(signing_profiles.c.doc).order_by(signing_profiles.c.name, signing_profiles.c.created_at)
        if name is not None:
            query = query.where(signing_profiles.c.name == name)
        with self._engine.connect() as conn:
            return [dict(row.doc) for row in conn.execute(query)]

    # -- code signing configs --------------------------------------------------------------------
    def put_config(self, csc_id: str, doc: dict, tags: dict[str, str] | None = None) -> None:
        """Create or replace a config's document; `tags` are a new config's (a replace keeps its tags)."""
        with self._engine.begin() as conn:  # created_at stays the first put's
            upsert(conn, code_signing_configs, dict(id=csc_id, doc=doc, created_at=time.time(), tags=tags or {}),
                   update=["doc"])

    def tags_of(self, csc_id: str) -> dict[str, str] | None:
        """A config's tags; None when there is no such config."""
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(code_signing_configs.c.tags)
                               .where(code_signing_configs.c.id == csc_id)).first()
        return dict(row.tags or {}) if row else None

    def set_tags(self, csc_id: str, tags: dict[str, str]) -> bool:
        """Replace a config's tags; False when it is gone."""
        with self._engine.begin() as conn:
            return conn.execute(code_signing_configs.update().where(code_signing_configs.c.id == csc_id)
                                .values(tags=tags)).rowcount > 0

    def get_config(self, csc_id: str) -> dict | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(code_signing_configs.c.doc).where(code_signing_configs.c.id == csc_id)).first()
        return dict(row.doc) if row else None

    def list_configs(self, after: str | None, limit: int) -> list[dict]:
        query = sa.select(code_signing_configs.c.doc).order_by(code_signing_configs.c.id).limit(limit)
        if after is not None:
            query = query.where(code_signing_configs.c.id > after)
        with self._engine.connect() as conn:
            return [dict(row.doc) for row in conn.execute(query)]

    def delete_config(self, csc_id: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(code_signing_configs.delete().where(code_signing_configs.c.id == csc_id))

    # -- bindings --------------------------------------------------------------------------------
    def bind(self, function_name: str, csc_id: str) -> None:
        with self._engine.begin() as conn:
            upsert(conn, function_code_signing, dict(function_name=function_name, csc_id=csc_id))

    def unbind(self, function_name: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(function_code_signing.delete().where(function_code_signing.c.function_name == function_name))

    def config_of(self, function_name: str) -> str | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(function_code_signing.c.csc_id)
                               .where(function_code_signing.c.function_name == function_name)).first()
        return row.csc_id if row else None

    def functions_of(self, csc_id: str, after: str | None, limit: int) -> list[str]:
        query = (sa.select(function_code_signing.c.function_name).where(function_code_signing.c.csc_id == csc_id)
                 .order_by(function_code_signing.c.function_name).limit(limit))
        if after is not None:
            query = query.where(function_code_signing.c.function_name > after)
        with self._engine.connect() as conn:
            return [row.function_name for row in conn.execute(query)]
