"""Layer versions in the metadata database. Imports lamina.model, lamina.store.schema and
lamina.store.dialect only."""

from __future__ import annotations

import sqlalchemy as sa

from lamina.model import LayerVersion
from lamina.store.dialect import insert_for
from lamina.store.schema import fits, layer_names, layer_versions


class LayerStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def publish(self, layer: LayerVersion) -> LayerVersion:
        """Store `layer` under the next version number of its name (numbers are never reused)."""
        with self._engine.begin() as conn:  # one statement takes the number: nodes publishing at once get two
            insert = insert_for(conn, layer_names).values(name=layer.name, last_version=1)
            number = conn.execute(insert.on_conflict_do_update(
                index_elements=["name"], set_={"last_version": layer_names.c.last_version + 1},
            ).returning(layer_names.c.last_version)).scalar_one()
            layer.version = number
            conn.execute(layer_versions.insert().values(name=layer.name, version=number, record=layer.to_dict()))
        return layer

    def get(self, name: str, version: int) -> LayerVersion | None:
        if not fits(version):  # no such version could have been stored
            return None
        with self._engine.connect() as conn:
            record = conn.execute(sa.select(layer_versions.c.record).where(
                (layer_versions.c.name == name) & (layer_versions.c.version == version))).scalar()
        return LayerVersion.from_dict(record) if record is not None else None

    def versions(self, name: str | None = None) -> list[LayerVersion]:
        """Versions ordered by layer name, newest version first."""
        query = sa.select(layer_versions.c.record).order_by(layer_versions.c.name, layer_versions.c.version.desc())
        if name is not None:
            query = query.where(layer_versions.c.name == name)
        with self._engine.connect() as conn:
            return [LayerVersion.from_dict(record) for (record,) in conn.execute(query)]

    def delete(self, name: str, version: int) -> LayerVersion | None:
        layer = self.get(name, version)
        if layer is None:
            return None
        with self._engine.begin() as conn:
            conn.execute(layer_versions.delete().where(
                (layer_versions.c.name == name) & (layer_versions.c.version == version)))
        return layer

    def code_in_use(self, code_hex: str) -> bool:
        with self._engine.connect() as conn:
            return conn.execute(sa.select(layer_versions.c.name).where(
                sa.cast(layer_versions.c.record, sa.Text).contains(code_hex)).limit(1)).first() is not None
