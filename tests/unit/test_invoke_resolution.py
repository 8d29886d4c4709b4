"""Invoker.resolve: name and ARN forms, $LATEST, numbered versions, aliases with weights, the
cache and what invalidates it, and AWS's errors for missing and not-yet-active functions."""

import asyncio

import pytest

from lamina import invoke as invoke_module
from lamina.admission import Admission
from lamina.errors import InvalidParameterValueException, ResourceConflictException, ResourceNotFoundException
from lamina.events import AliasChanged, FunctionChanged, FunctionDeleted
from lamina.invoke import Invoker
from lamina.model import LATEST, Alias, FunctionVersion

ARN = "arn:aws:lambda:us-east-1:000000000000:function"


def active(name, version=LATEST, **changes):
    return FunctionVersion(name=name, version=version, state="Active", state_reason=None, state_reason_code=None,
                           **changes)


class Catalog:
    """The store as the invoker sees it, counting reads."""

    def __init__(self, versions=(), aliases=()):
        self.versions = {(v.name, v.version): v for v in versions}
        self.aliases = {(a.function_name, a.name): a for a in aliases}
        self.reads = []

    def lookup(self, name, version):
        self.reads.append(("version", name, version))
        return self.versions.get((name, version))

    def alias_of(self, name, alias):
        self.reads.append(("alias", name, alias))
        return self.aliases.get((name, alias))


def invoker(catalog):
    async def run(spec, request):  # pragma: no cover - resolution never runs anything
        raise AssertionError("resolve must not run the function")

    async def enqueue(**_):  # pragma: no cover
        raise AssertionError("resolve must not enqueue")

    return Invoker(region="us-east-1", account_id="000000000000", lookup=catalog.lookup,
                   alias_of=catalog.alias_of, spec_for=lambda v: ("spec", v.name, v.version), run=run,
                   admission=Admission(1000), enqueue=enqueue)


def resolve(inv, name, qualifier=None):
    return asyncio.run(inv.resolve(name, qualifier))


@pytest.fixture
def catalog():
    return Catalog(versions=[active("f"), active("f", "1"), active("f", "2")],
                   aliases=[Alias(function_name="f", name="live", function_version="1", weights={"2": 0.25})])


@pytest.mark.parametrize(("name", "qualifier", "version", "invoked_arn", "named"), [
    ("f", None, LATEST, f"{ARN}:f", None),
    ("f", LATEST, LATEST, f"{ARN}:f:$LATEST", LATEST),
    ("f", "2", "2", f"{ARN}:f:2", "2"),
    ("f:1", None, "1", f"{ARN}:f:1", "1"),
    ("f:1", "1", "1", f"{ARN}:f:1", "1"),
    (f"{ARN}:f", None, LATEST, f"{ARN}:f", None),
    (f"{ARN}:f:2", None, "2", f"{ARN}:f:2", "2"),
    ("000000000000:function:f", "1", "1", f"{ARN}:f:1", "1"),
])
def test_names_and_qualifiers(catalog, name, qualifier, version, invoked_arn, named):
    target, arn, resolved_qualifier = resolve(invoker(catalog), name, qualifier)
    assert (target.version.name, target.version.version) == ("f", version)
    assert target.spec == ("spec", "f", version)
    assert (arn, resolved_qualifier) == (invoked_arn, named)


@pytest.mark.parametrize(("draw", "version"), [(0.0, "2"), (0.2, "2"), (0.25, "1"), (0.9, "1")])
def test_an_alias_with_weights_runs_the_version_the_draw_picks(catalog, monkeypatch, draw, version):
    monkeypatch.setattr(invoke_module.random, "random", lambda: draw)
    inv = invoker(catalog)
    for _ in range(2):  # the second time from the cache
        target, arn, qualifier = resolve(inv, "f", "live")
        assert target.version.version == version
        assert (arn, qualifier) == (f"{ARN}:f:live", "live")


@pytest.mark.parametrize(("name", "qualifier", "message"), [
    ("nope", None, f"Function not found: {ARN}:nope:$LATEST"),
    ("f", "9", f"Function not found: {ARN}:f:9"),
    ("f", "dark", f"Function not found: {ARN}:f:dark"),
    ("arn:aws:lambda:us-east-1:111111111111:function:f", None,
     "Function not found: arn:aws:lambda:us-east-1:111111111111:function:f"),
    ("arn:aws:lambda:eu-west-1:000000000000:function:f", None,
     "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')"),
])
def test_missing_functions_versions_and_aliases(catalog, name, qualifier, message):
    with pytest.raises(ResourceNotFoundException) as raised:
        resolve(invoker(catalog), name, qualifier)
    assert raised.value.message == message


def test_a_qualifier_that_disagrees_with_the_name():
    with pytest.raises(InvalidParameterValueException) as raised:
        resolve(invoker(Catalog([active("f", "1")])), "f:1", "2")
    assert raised.value.message == "The derived qualifier from the function name does not match the specified qualifier."


@pytest.mark.parametrize(("version", "state"), [
    (FunctionVersion(name="f"), "Pending"),
    (active("f", last_update_status="InProgress"), "Pending"),
    (FunctionVersion(name="f", state="Failed"), "Failed"),
])
def test_a_function_not_active_is_a_conflict_and_is_not_cached(version, state):
    catalog = Catalog([version])
    inv = invoker(catalog)
    for _ in range(2):
        with pytest.raises(ResourceConflictException) as raised:
            resolve(inv, "f")
        assert raised.value.message == ("The operation cannot be performed at this time. The function is currently "
                                        f"in the following state: {state}")
    assert catalog.reads == [("version", "f", LATEST)] * 2


def test_resolution_is_cached_until_the_function_changes(catalog):
    inv = invoker(catalog)
    resolve(inv, "f")
    resolve(inv, "f", "1")
    resolve(inv, "f")
    assert catalog.reads == [("version", "f", LATEST), ("version", "f", "1")]
    catalog.versions[("f", LATEST)] = active("f", memory_size=512)
    inv.changed(FunctionChanged("g"))  # another function: the cache of f stays
    assert resolve(inv, "f")[0].version.memory_size == 128
    inv.changed(FunctionChanged("f"))
    assert resolve(inv, "f")[0].version.memory_size == 512
    assert catalog.reads[-1] == ("version", "f", LATEST)


def test_a_deleted_function_is_not_found_once_the_event_arrives(catalog):
    inv = invoker(catalog)
    resolve(inv, "f")
    catalog.versions.clear()
    resolve(inv, "f")  # still cached
    inv.changed(FunctionDeleted("f"))
    with pytest.raises(ResourceNotFoundException):
        resolve(inv, "f")


def test_a_moved_alias_is_read_again_after_its_event(catalog, monkeypatch):
    monkeypatch.setattr(invoke_module.random, "random", lambda: 0.9)
    inv = invoker(catalog)
    assert resolve(inv, "f", "live")[0].version.version == "1"
    catalog.aliases[("f", "live")] = Alias(function_name="f", name="live", function_version="2")
    assert resolve(inv, "f", "live")[0].version.version == "1"
    inv.changed(AliasChanged("f", "live"))
    assert resolve(inv, "f", "live")[0].version.version == "2"
    assert catalog.reads.count(("alias", "f", "live")) == 2


def test_request_ids_are_canonical_version_4_uuids():
    import uuid

    for _ in range(2000):
        request_id = invoke_module.new_request_id()
        parsed = uuid.UUID(request_id)
        assert str(parsed) == request_id
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122

def test_a_change_resolves_the_invoked_names_again_ahead_of_the_next_invoke(catalog):
    async def scenario():
        inv = invoker(catalog)
        await inv.resolve("f", None)
        await inv.resolve("f", "1")
        catalog.reads.clear()
        catalog.versions[("f", LATEST)] = active("f", memory_size=512)
        inv.changed(FunctionChanged("f"))
        await asyncio.gather(*inv._refreshing)
        assert sorted(catalog.reads) == sorted([("version", "f", "1"), ("version", "f", LATEST)])
        catalog.reads.clear()
        assert (await inv.resolve("f", None))[0].version.memory_size == 512
        assert catalog.reads == []  # the invoke after the change found it resolved
        inv.changed(FunctionChanged("g"))  # a function never invoked: nothing is read
        inv.changed(FunctionDeleted("f"))  # a deleted one's names are not read again, now or later
        inv.changed(FunctionChanged("f"))
        await asyncio.gather(*inv._refreshing)
        assert catalog.reads == []

    asyncio.run(scenario())


def test_a_read_begun_before_a_change_is_not_cached_after_it(catalog):
    import threading

    started, proceed = threading.Event(), threading.Event()
    lookup = catalog.lookup

    def slow_lookup(name, version):
        found = lookup(name, version)  # the version as it was before the change
        started.set()
        proceed.wait(5)
        return found

    async def scenario():
        inv = invoker(catalog)
        inv._lookup = slow_lookup
        reading = asyncio.ensure_future(inv.resolve("f", None))
        await asyncio.to_thread(started.wait, 5)
        catalog.versions[("f", LATEST)] = active("f", memory_size=512)
        inv.changed(FunctionChanged("f"))
        proceed.set()
        assert (await reading)[0].version.memory_size == 128  # it began before the change
        inv._lookup = lookup
        assert (await inv.resolve("f", None))[0].version.memory_size == 512  # but was not kept

    asyncio.run(scenario())


def test_misses_of_the_same_version_share_one_read(catalog):
    async def scenario():
        inv = invoker(catalog)
        results = await asyncio.gather(*(inv.resolve("f", None) for _ in range(5)))
        assert {id(target) for target, _, _ in results} == {id(results[0][0])}
        assert catalog.reads == [("version", "f", LATEST)]

    asyncio.run(scenario())
