"""Secrets the fronts of a cluster share (lamina.store.secrets) and the administrator key made once
for all of them (lamina.control.admin with a shared store), on a real database (`db_url`)."""

from __future__ import annotations

from lamina.control import admin
from lamina.control.iam import Iam
from lamina.store.database import open_database
from lamina.store.iam import IamStore
from lamina.store.secrets import MASTER_KEY, SecretStore, master_key, shared

ACCOUNT = "000000000000"


def test_add_keeps_the_first_value_and_put_replaces_it(db_url):
    store = SecretStore(open_database(db_url))
    assert store.get("k") is None
    assert store.add("k", b"one") is True
    assert store.add("k", b"two") is False
    assert store.get("k") == b"one"
    store.put("k", b"three")
    assert SecretStore(open_database(db_url)).get("k") == b"three"
    assert store.replace("k", b"one", b"four") is False  # compare and set: it holds "three"
    assert store.replace("k", b"three", b"four") is True and store.get("k") == b"four"
    assert store.get_or_add("other", lambda: b"made") == b"made"
    assert store.get_or_add("other", lambda: b"not used") == b"made"


def test_the_master_key_is_the_databases_unless_it_is_sqlite(db_url, tmp_path):
    engine = open_database(db_url)
    first = master_key(engine, tmp_path / "a.key")
    assert len(first) == 32 and master_key(engine, tmp_path / "a.key") == first
    if engine.dialect.name == "sqlite":  # one node: the data dir's file, made on first use
        assert shared(engine) is None and (tmp_path / "a.key").read_bytes() == first
        assert master_key(engine, tmp_path / "b.key") != first
    else:  # every front started against this database reads the same key; no file is written
        assert shared(engine).get(MASTER_KEY) == first
        assert not (tmp_path / "a.key").exists()
        assert master_key(open_database(db_url), tmp_path / "c.key") == first


def test_every_front_writes_the_one_administrator_key(db_url, tmp_path):
    fronts = [(Iam(IamStore(open_database(db_url)), ACCOUNT), SecretStore(open_database(db_url)), tmp_path / name)
              for name in ("one", "two")]
    made = [admin.ensure_admin(iam, path, profile="lamina", region="us-east-1", endpoint="http://x", shared=store)
            for iam, store, path in fronts]
    assert made[0] is not None and made[1] is None  # printed once, by the front that made it
    key_id, secret = made[0]
    for _, _, path in fronts:
        text = path.read_text()
        assert f"aws_access_key_id = {key_id}" in text and f"aws_secret_access_key = {secret}" in text
    iam = fronts[1][0]
    assert [row.access_key_id for row in iam.store.keys(admin.ADMIN_USER)] == [key_id]
    # Restarting a front that kept its file changes nothing; one that lost it gets the same key again.
    (tmp_path / "two").unlink()
    assert admin.ensure_admin(iam, tmp_path / "two", profile="lamina", region="us-east-1", endpoint="http://x",
                              shared=fronts[1][1]) is None
    assert f"aws_access_key_id = {key_id}" in (tmp_path / "two").read_text()


def test_a_recorded_key_that_was_deleted_is_replaced(db_url, tmp_path):
    iam, store = Iam(IamStore(open_database(db_url)), ACCOUNT), SecretStore(open_database(db_url))
    key_id, _ = admin.ensure_admin(iam, tmp_path / "a", profile="p", region="r", endpoint="e", shared=store)
    iam.delete_access_key(admin.ADMIN_USER, key_id)
    again = admin.ensure_admin(iam, tmp_path / "b", profile="p", region="r", endpoint="e", shared=store)
    assert again is not None and again[0] != key_id
    assert [row.access_key_id for row in iam.store.keys(admin.ADMIN_USER)] == [again[0]]


def test_fronts_starting_together_agree_on_one_administrator_key(db_url, tmp_path):
    """Three fronts at once: the user may hold only two keys, so one front waits for the others' claim."""
    import threading

    first = open_database(db_url)
    engines = [first] * 3 if first.dialect.name == "sqlite" else [first] + [open_database(db_url) for _ in range(2)]
    fronts = [(Iam(IamStore(engine), ACCOUNT), SecretStore(engine), tmp_path / f"front{i}")
              for i, engine in enumerate(engines)]
    made: list[object] = [None] * len(fronts)
    start = threading.Barrier(len(fronts))

    def run(i: int) -> None:
        iam, store, path = fronts[i]
        start.wait()
        made[i] = admin.ensure_admin(iam, path, profile="p", region="r", endpoint="e", shared=store)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fronts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [key] = [m for m in made if m is not None]  # printed by exactly one front
    assert all(f"aws_access_key_id = {key[0]}" in path.read_text() for _, _, path in fronts)
    assert [row.access_key_id for row in fronts[0][0].store.keys(admin.ADMIN_USER)] == [key[0]]
