"""lamina.store.database's URL handling: which driver a URL names, what a message shows of it, which
SQLite file it is, the URL a server's settings give, and the refusal of other databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamina.config import Settings
from lamina.store.database import (
    DatabaseUnavailable,
    database_url,
    engine_options,
    normalise,
    open_database,
    shown,
    sqlite_file,
)


@pytest.mark.parametrize(("url", "expected"), [
    ("postgresql://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
    ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
    ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ("sqlite:////data/lamina.db", "sqlite:////data/lamina.db"),
])
def test_postgresql_urls_name_psycopg_3(url, expected):
    assert normalise(url) == expected


def test_messages_show_no_password():
    assert shown("postgresql://lamina:s3cret@db.internal:5432/lamina") == "postgresql://lamina:***@db.internal:5432/lamina"


@pytest.mark.parametrize(("url", "expected"), [
    ("sqlite:////data/lamina.db", Path("/data/lamina.db")),
    ("sqlite://", None),
    ("sqlite:///:memory:", None),
    ("postgresql://u@h/db", None),
])
def test_the_sqlite_file_a_url_names(url, expected):
    assert sqlite_file(url) == expected


def test_a_server_uses_its_database_url_else_sqlite_in_the_data_dir(tmp_path):
    assert database_url(Settings(data_dir=tmp_path)) == f"sqlite:///{tmp_path / 'lamina.db'}"
    assert database_url(Settings(data_dir=tmp_path, database_url="postgresql://u@h/db")) == "postgresql://u@h/db"
    assert Settings.from_env({}, database_url="postgres://x/y").database_url == "postgres://x/y"
    assert Settings.from_env({"LAMINA_DATABASE_URL": "postgres://e/f"}).database_url == "postgres://e/f"


def test_postgresql_gets_a_checked_bounded_pool_and_sqlite_none():
    options = engine_options("postgresql://u@h/db")
    assert options["pool_pre_ping"] is True and options["pool_size"] + options["max_overflow"] <= 30
    assert engine_options("sqlite:////x.db") == {}


@pytest.mark.parametrize("url", ["mysql://u@h/db", "oracle://h/x", "nonsense"])
def test_other_databases_are_refused_in_one_line(url):
    with pytest.raises(DatabaseUnavailable) as caught:
        open_database(url)
    assert "\n" not in str(caught.value) and "SQLite" in str(caught.value) and "PostgreSQL" in str(caught.value)
