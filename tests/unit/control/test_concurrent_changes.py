"""Read-modify-writes of the control plane racing each other lose no change (lamina.store.locks).

Several "fronts" (each its own set of control objects, so each its own in-process locks) make changes
to one function, role or alias at once from many threads. On SQLite the fronts share one engine (one
process, as single-node mode has); tests/functional/test_concurrent_changes_postgresql.py runs the
same tests on PostgreSQL with an engine per front, as separate processes would have.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from lamina import managed_policies
from lamina.control.aliases import Aliases
from lamina.control.code_signing import CodeSigning
from lamina.control.concurrency import ReservedConcurrency
from lamina.control.functions import Account, Functions
from lamina.control.iam import ROLE, Iam
from lamina.control.mappings import EventSourceMappings
from lamina.control.permissions import Permissions
from lamina.control.rules import MAX_TARGETS, Rules
from lamina.control.tags import Tags
from lamina.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
)
from lamina.model import LATEST, Alias, Function, FunctionVersion
from lamina.store.aliases import AliasStore
from lamina.store.code_signing import CodeSigningStore
from lamina.store.database import open_database
from lamina.store.event_configs import EventConfigStore
from lamina.store.functions import FunctionStore
from lamina.store.iam import IamStore
from lamina.store.mappings import MappingStore
from lamina.store.policies import PolicyStore
from lamina.store.rules import RuleStore

REGION, ACCOUNT = "us-east-1", "000000000000"
FRONTS = 4
ROUNDS = 5  # races that let exactly one through are run again: one round can come out right by luck
TRUST = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},'
         '"Action":"sts:AssumeRole"}]}')


class Front:
    """One front's control objects over `engine`."""

    def __init__(self, engine) -> None:
        self.function_store = FunctionStore(engine)
        self.alias_store = AliasStore(engine)
        self.functions = Functions(self.function_store, None, self.alias_store, Account(REGION, ACCOUNT),
                                   runtime_problem=lambda runtime: None, layer_lookup=lambda arn: None,
                                   publish=lambda event: None, defer=lambda work: None)
        self.permissions = Permissions(PolicyStore(engine), self.functions, None)
        self.aliases = Aliases(self.alias_store, self.function_store, REGION, ACCOUNT, publish=lambda event: None)
        self.mapping_store = MappingStore(engine)
        code_signing_store = CodeSigningStore(engine)
        self.code_signing = CodeSigning(code_signing_store, REGION, ACCOUNT, profile=lambda arn: None,
                                        function_exists=lambda name: False, read_blob=lambda key: b"")
        self.tags = Tags(self.function_store, REGION, ACCOUNT, mappings=self.mapping_store,
                         code_signing=code_signing_store)
        self.iam = Iam(IamStore(engine), ACCOUNT)
        self.rules = Rules(RuleStore(engine), REGION, ACCOUNT, deliver=lambda events: None,
                           now_minute=lambda: 1000, publish=lambda event: None, clock=lambda: 1_772_359_200.0)
        self.mappings = EventSourceMappings(self.mapping_store, self.function_store, self.alias_store, REGION,
                                            ACCOUNT, publish=lambda event: None,
                                            probe=lambda kind, arn: {"VisibilityTimeout": 30})
        self.reserved = ReservedConcurrency(EventConfigStore(engine), self.function_store, REGION, ACCOUNT,
                                            account_limit=1000, publish=lambda event: None)


@pytest.fixture
def fronts(db_url):
    """FRONTS fronts: on SQLite over one engine, on PostgreSQL over an engine each."""
    first = open_database(db_url)
    engines = [first] * FRONTS if first.dialect.name == "sqlite" else [first] + [
        open_database(db_url) for _ in range(FRONTS - 1)]
    yield [Front(engine) for engine in engines]
    for engine in set(engines):
        engine.dispose()


def race(calls: list[Callable[[], object]]) -> list[object]:
    """Run the calls at once, one thread each; what each returned or raised."""
    results: list[object] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:  # noqa: BLE001 - the test looks at what each call answered
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def make_function(front: Front, name: str = "f", versions: int = 0) -> None:
    latest = FunctionVersion(name=name, runtime="python3.12", handler="app.handler", role=f"arn:aws:iam::{ACCOUNT}:role/r",
                             state="Active", last_update_status="Successful", revision_id="r0")
    assert front.function_store.create(Function(name=name, latest=latest))
    for number in range(1, versions + 1):
        assert front.function_store.publish(latest.copy(version=str(number), revision_id=f"v{number}"))


def test_concurrent_add_permission_keeps_every_statement(fronts):
    make_function(fronts[0], versions=1)
    n = 20
    results = race([lambda i=i: fronts[i % FRONTS].permissions.add({
        "FunctionName": "f", "Qualifier": "1", "StatementId": f"s{i}", "Action": "lambda:InvokeFunction",
        "Principal": "s3.amazonaws.com"}) for i in range(n)])
    assert [r for r in results if isinstance(r, Exception)] == []
    stored, revision = PolicyStore(fronts[0].function_store._engine).get(("function", "f", "1"))
    assert sorted(s["Sid"] for s in stored) == sorted(f"s{i}" for i in range(n))
    assert fronts[0].function_store.get_version("f", "1").revision_id == revision  # the last change's


def test_concurrent_remove_permission_removes_every_statement(fronts):
    make_function(fronts[0], versions=1)
    for i in range(12):
        fronts[0].permissions.add({"FunctionName": "f", "Qualifier": "1", "StatementId": f"s{i}",
                                   "Action": "lambda:InvokeFunction", "Principal": "s3.amazonaws.com"})
    results = race([lambda i=i: fronts[i % FRONTS].permissions.remove(
        {"FunctionName": "f", "Qualifier": "1", "StatementId": f"s{i}"}) for i in range(10)])
    assert [r for r in results if isinstance(r, Exception)] == []
    stored, _ = PolicyStore(fronts[0].function_store._engine).get(("function", "f", "1"))
    assert sorted(s["Sid"] for s in stored) == ["s10", "s11"]


def test_concurrent_attach_and_inline_policies_keep_every_change(fronts):
    fronts[0].iam.create_role({"RoleName": "r", "AssumeRolePolicyDocument": TRUST})
    arns = [managed_policies.arn(name) for name in managed_policies.MANAGED_POLICIES][:10]
    document = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}'
    calls = [lambda i=i: fronts[i % FRONTS].iam.attach(ROLE, "r", arns[i]) for i in range(10)]
    calls += [lambda i=i: fronts[i % FRONTS].iam.put_inline(ROLE, "r", f"inline{i}", document) for i in range(10)]
    results = race(calls)
    assert [r for r in results if isinstance(r, Exception)] == []
    role = fronts[0].iam.role("r")
    assert sorted(role["Attached"]) == sorted(arns)
    assert sorted(role["Inline"]) == sorted(f"inline{i}" for i in range(10))


def test_concurrent_tag_and_untag_keep_every_change(fronts):
    make_function(fronts[0])
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f"
    fronts[0].tags.tag(arn, {f"old{i}": "x" for i in range(10)})
    calls = [lambda i=i: fronts[i % FRONTS].tags.tag(arn, {f"new{i}": str(i)}) for i in range(10)]
    calls += [lambda i=i: fronts[i % FRONTS].tags.untag(arn, [f"old{i}"]) for i in range(10)]
    results = race(calls)
    assert [r for r in results if isinstance(r, Exception)] == []
    assert fronts[0].tags.list(arn) == {f"new{i}": str(i) for i in range(10)}


def test_concurrent_alias_updates_with_one_revision_let_exactly_one_through(fronts):
    make_function(fronts[0], versions=3)
    assert fronts[0].alias_store.create(Alias(function_name="f", name="live", function_version="1", revision_id="a0"))
    for round_ in range(ROUNDS):
        revision = fronts[0].alias_store.get("f", "live").revision_id
        results = race([lambda i=i, revision=revision, round_=round_: fronts[i % FRONTS].aliases.update({
            "FunctionName": "f", "Name": "live", "RevisionId": revision, "FunctionVersion": str(i % 3 + 1),
            "Description": f"update {round_}.{i}"}) for i in range(12)])
        won = [r for r in results if isinstance(r, Alias)]
        assert len(won) == 1
        assert all(isinstance(r, PreconditionFailedException) for r in results if not isinstance(r, Alias))
        stored = fronts[0].alias_store.get("f", "live")
        assert (stored.function_version, stored.description, stored.revision_id) == (
            won[0].function_version, won[0].description, won[0].revision_id)


def test_concurrent_configuration_updates_let_one_through_while_it_is_in_progress(fronts):
    make_function(fronts[0])
    for round_ in range(ROUNDS):
        results = race([lambda i=i, round_=round_: fronts[i % FRONTS].functions.update_configuration(
            {"FunctionName": "f", "Description": f"update {round_}.{i}"}) for i in range(12)])
        won = [r for r in results if isinstance(r, FunctionVersion)]
        assert len(won) == 1
        assert all(isinstance(r, ResourceConflictException) for r in results if not isinstance(r, FunctionVersion))
        latest = fronts[0].function_store.get_version("f", LATEST)
        assert (latest.description, latest.revision_id) == (won[0].description, won[0].revision_id)
        fronts[0].function_store.save_version(latest.copy(last_update_status="Successful"))  # the update settled


def test_concurrent_tags_and_permissions_of_one_function_keep_every_change(fronts):
    """AddPermission on $LATEST's function revises $LATEST while other fronts change tags: each change
    leaves the function with the RevisionId the last one gave it and keeps every tag."""
    make_function(fronts[0], versions=1)
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f"
    calls = [lambda i=i: fronts[i % FRONTS].tags.tag(arn, {f"k{i}": "v"}) for i in range(8)]
    calls += [lambda i=i: fronts[i % FRONTS].permissions.add({
        "FunctionName": "f", "Qualifier": "1", "StatementId": f"s{i}", "Action": "lambda:InvokeFunction",
        "Principal": "s3.amazonaws.com"}) for i in range(8)]
    results = race(calls)
    assert [r for r in results if isinstance(r, Exception)] == []
    assert fronts[0].tags.list(arn) == {f"k{i}": "v" for i in range(8)}
    stored, revision = PolicyStore(fronts[0].function_store._engine).get(("function", "f", "1"))
    assert len(stored) == 8 and fronts[0].function_store.get_version("f", "1").revision_id == revision


def test_concurrent_eventbridge_tags_and_targets_keep_every_change_within_the_limit(fronts):
    fronts[0].rules.call("PutRule", {"Name": "r", "EventPattern": '{"source":["app"]}'})
    rule = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/r"
    target = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f"
    calls = [lambda i=i: fronts[i % FRONTS].rules.call("TagResource", {
        "ResourceARN": rule, "Tags": [{"Key": f"k{i}", "Value": "v"}]}) for i in range(8)]
    calls += [lambda i=i: fronts[i % FRONTS].rules.call("PutTargets", {
        "Rule": "r", "Targets": [{"Id": f"t{i}", "Arn": target}]}) for i in range(8)]
    results = race(calls)
    assert [r for r in results[:8] if isinstance(r, Exception)] == []
    tags = fronts[0].rules.call("ListTagsForResource", {"ResourceARN": rule})["Tags"]
    assert sorted(tag["Key"] for tag in tags) == sorted(f"k{i}" for i in range(8))
    refused = [r for r in results[8:] if isinstance(r, Exception)]  # a rule has at most MAX_TARGETS targets
    assert len(refused) == 8 - MAX_TARGETS and all(r.code == "LimitExceededException" for r in refused)
    assert len(fronts[0].rules.call("ListTargetsByRule", {"Rule": "r"})["Targets"]) == MAX_TARGETS


def test_concurrent_mapping_creates_of_one_pair_make_one_mapping(fronts):
    make_function(fronts[0])
    for round_ in range(ROUNDS):
        queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:q{round_}"
        results = race([lambda i=i, queue=queue: fronts[i % FRONTS].mappings.create(
            {"EventSourceArn": queue, "FunctionName": "f"}) for i in range(8)])
        assert len([r for r in results if not isinstance(r, Exception)]) == 1
        assert all(isinstance(r, ResourceConflictException) for r in results if isinstance(r, Exception))
        assert len(MappingStore(fronts[0].function_store._engine).list(event_source_arn=queue)) == 1


def test_concurrent_tag_changes_and_updates_of_one_mapping_keep_every_change(fronts):
    """TagResource on a mapping's ARN from several fronts while others update the mapping (which
    writes its row whole): every tag change and the last update's BatchSize survive."""
    make_function(fronts[0])
    mapping = fronts[0].mappings.create({"EventSourceArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:tagged",
                                         "FunctionName": "f", "Tags": {"old": "x"}})
    arn = fronts[0].mappings.arn(mapping)
    calls = [lambda i=i: fronts[i % FRONTS].tags.tag(arn, {f"k{i}": str(i)}) for i in range(8)]
    calls += [lambda i=i: fronts[i % FRONTS].mappings.update({"UUID": mapping.uuid, "BatchSize": 5})
              for i in range(4)]
    calls += [lambda: fronts[1].tags.untag(arn, ["old"])]
    results = race(calls)
    assert not [r for r in results if isinstance(r, Exception)]
    assert fronts[0].tags.list(arn) == {f"k{i}": str(i) for i in range(8)}
    assert fronts[0].mappings.get(mapping.uuid).config["BatchSize"] == 5


def test_concurrent_tag_changes_and_updates_of_one_code_signing_config_keep_every_change(fronts):
    """TagResource on a code signing config's ARN from several fronts while others update the config:
    every tag change and the update's Description survive."""
    arn = fronts[0].code_signing.create({
        "AllowedPublishers": {"SigningProfileVersionArns": [f"arn:aws:signer:{REGION}:{ACCOUNT}:/signing-profiles/p/1"]},
        "Tags": {"old": "x"}})["CodeSigningConfigArn"]
    for _ in range(ROUNDS):
        calls = [lambda i=i: fronts[i % FRONTS].tags.tag(arn, {f"k{i}": str(i)}) for i in range(8)]
        calls += [lambda i=i: fronts[i % FRONTS].code_signing.update({"CodeSigningConfigArn": arn,
                                                                       "Description": "d"}) for i in range(4)]
        calls += [lambda: fronts[1].tags.untag(arn, ["old"])]
        results = race(calls)
        assert not [r for r in results if isinstance(r, Exception)]
        assert fronts[0].tags.list(arn) == {f"k{i}": str(i) for i in range(8)}
        assert fronts[0].code_signing.get(arn)["Description"] == "d"
        fronts[0].tags.untag(arn, [f"k{i}" for i in range(8)])
        fronts[0].tags.tag(arn, {"old": "x"})


def test_concurrent_reserved_concurrency_never_leaves_less_than_the_unreserved_minimum(fronts):
    for i in range(10):
        make_function(fronts[0], f"f{i}")
    for _ in range(ROUNDS):
        results = race([lambda i=i: fronts[i % FRONTS].reserved.put(f"f{i}", 100) for i in range(10)])
        assert len([r for r in results if r == 100]) == 9  # 1000 less 9 × 100 leaves the minimum of 100
        assert all(isinstance(r, InvalidParameterValueException) for r in results if r != 100)
        assert sum(fronts[0].reserved.all().values()) == 900
        for i in range(10):
            fronts[0].reserved.forget(f"f{i}")
