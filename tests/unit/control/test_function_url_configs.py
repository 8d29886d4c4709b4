"""lamina.control.function_urls on a real SQLite store: one URL per qualifier, AWS's errors, the
in-memory lookup by URL id the serving path uses, the delete cascade and the change events."""

from __future__ import annotations

import pytest

from lamina.control.function_urls import FunctionUrls, timestamp
from lamina.errors import ResourceConflictException, ResourceNotFoundException
from lamina.events import FunctionUrlChanged
from lamina.model import Alias, Function, FunctionVersion
from lamina.store.aliases import AliasStore
from lamina.store.database import open_database
from lamina.store.function_urls import FunctionUrlStore
from lamina.store.functions import FunctionStore


@pytest.fixture
def urls(db_url):
    database = open_database(db_url)
    functions, aliases = FunctionStore(database), AliasStore(database)
    version = FunctionVersion(name="f", version="$LATEST", runtime="python3.12", handler="a.b", code_hex="ab" * 32,
                              code_size=1, revision_id="r", last_modified="2024-01-01T00:00:00.000+0000")
    functions.create(Function("f", version))
    aliases.create(Alias("f", "live", "$LATEST"))
    published: list = []

    def publish(event):  # delivered as server.py wires it
        published.append(event)
        service.changed(event)

    service = FunctionUrls(FunctionUrlStore(database), functions, aliases, "us-east-1", "000000000000",
                           url_for=lambda url_id: f"http://{url_id}/", publish=publish)
    service.published = published  # type: ignore[attr-defined]
    return service


def test_one_url_per_qualifier(urls):
    latest = urls.create({"FunctionName": "f", "AuthType": "NONE"})
    live = urls.create({"FunctionName": "f", "Qualifier": "live", "AuthType": "AWS_IAM", "InvokeMode": "RESPONSE_STREAM"})
    assert latest.url_id != live.url_id and live.streaming and not latest.streaming
    assert urls.function_arn(live).endswith(":function:f:live") and urls.function_arn(latest).endswith(":function:f")
    with pytest.raises(ResourceConflictException, match="FunctionUrlConfig exists for this Lambda function"):
        urls.create({"FunctionName": "f", "AuthType": "NONE"})
    assert [c.qualifier for c in urls.list({"FunctionName": "f"})[0]] == ["$LATEST", "live"]
    assert urls.published == [FunctionUrlChanged("f", "$LATEST"), FunctionUrlChanged("f", "live")]


@pytest.mark.parametrize(("call", "params", "message"), [
    ("create", {"FunctionName": "g", "AuthType": "NONE"}, "Function does not exist"),
    ("create", {"FunctionName": "f", "Qualifier": "nope", "AuthType": "NONE"}, "Function does not exist"),
    ("get", {"FunctionName": "f"}, "The resource you requested does not exist."),
    ("update", {"FunctionName": "f", "AuthType": "NONE"}, "The resource you requested does not exist."),
    ("update", {"FunctionName": "g", "AuthType": "NONE"}, "Function does not exist"),
    ("delete", {"FunctionName": "f"}, "The resource you requested does not exist."),
    ("list", {"FunctionName": "g"}, "Function does not exist"),
])
def test_missing_things(urls, call, params, message):
    with pytest.raises(ResourceNotFoundException, match=message):
        getattr(urls, call)(params)


def test_lookup_by_id_follows_updates_and_deletes(urls):
    config = urls.create({"FunctionName": "f", "AuthType": "NONE"})
    assert urls.cached(config.url_id) is None and urls.by_id(config.url_id) == config
    assert urls.cached(config.url_id) == config
    updated = urls.update({"FunctionName": "arn:aws:lambda:us-east-1:000000000000:function:f",
                           "Cors": {"AllowOrigins": ["*"]}})
    assert urls.by_id(config.url_id) == updated and updated.cors == {"AllowOrigins": ["*"]}
    assert updated.auth_type == "NONE" and updated.creation_time == config.creation_time
    urls.delete({"FunctionName": "f"})
    assert urls.cached(config.url_id) is None and urls.by_id(config.url_id) is None


def test_delete_all_is_the_cascade(urls):
    config = urls.create({"FunctionName": "f", "AuthType": "NONE"})
    urls.delete_all("f")
    assert urls.by_id(config.url_id) is None and urls.list({"FunctionName": "f"})[0] == []


def test_timestamps_are_microsecond_utc():
    import datetime
    assert timestamp(datetime.datetime(2021, 10, 11, 18, 23, 9, 727345, tzinfo=datetime.UTC)) == \
        "2021-10-11T18:23:09.727345Z"
