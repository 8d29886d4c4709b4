"""lamina.control.mappings.EventSourceMappings over a real SQLite store and small function fakes:
targets, conflicts, the source probe, events and what the pollers report."""

from __future__ import annotations

import pytest

from lamina.control.mappings import EventSourceMappings
from lamina.errors import InvalidParameterValueException, ResourceConflictException, ResourceNotFoundException
from lamina.events import MappingChanged
from lamina.store.database import open_database
from lamina.store.mappings import MappingStore

QUEUE = "arn:aws:sqs:us-east-1:000000000000:q"


class Version:
    def __init__(self, timeout: int) -> None:
        self.timeout = timeout
        self.role = "arn:aws:iam::000000000000:role/lambda-role"


class Functions:
    def get(self, name):
        return object() if name in ("f", "slow") else None

    def get_version(self, name, version):
        if self.get(name) is None or version not in ("$LATEST", "1"):
            return None
        return Version(60 if name == "slow" else 3)


class Alias:
    function_version = "1"


class Aliases:
    def get(self, function, name):
        return Alias() if name == "live" else None


@pytest.fixture
def mappings(db_url):
    published: list = []
    probed: list = []

    def probe(kind, arn):
        probed.append(arn)
        if arn.endswith(":gone"):
            raise InvalidParameterValueException("queue gone")
        return {"VisibilityTimeout": 30}

    service = EventSourceMappings(MappingStore(open_database(db_url)), Functions(), Aliases(),
                                  "us-east-1", "000000000000", publish=published.append, probe=probe)
    service.published, service.probed = published, probed
    return service


def test_create_targets_and_events(mappings):
    created = mappings.create({"EventSourceArn": QUEUE, "FunctionName": "f:live"})
    assert (created.function_name, created.qualifier, created.state) == ("f", "live", "Creating")
    assert mappings.function_arn(created) == "arn:aws:lambda:us-east-1:000000000000:function:f:live"
    assert mappings.published == [MappingChanged(created.uuid)]
    assert mappings.settle(created.uuid).state == "Enabled"
    for name in ("nothere", "f:missing", "arn:aws:lambda:eu-west-1:000000000000:function:f"):
        with pytest.raises(InvalidParameterValueException, match="^Function does not exist$"):
            mappings.create({"EventSourceArn": QUEUE, "FunctionName": name})


def test_conflicts_and_probe(mappings):
    first = mappings.create({"EventSourceArn": QUEUE, "FunctionName": "f"})
    with pytest.raises(ResourceConflictException, match=first.uuid):
        mappings.create({"EventSourceArn": QUEUE, "FunctionName": "f"})
    mappings.create({"EventSourceArn": QUEUE, "FunctionName": "f:1"})  # another target of the same queue
    with pytest.raises(InvalidParameterValueException, match="queue gone"):
        mappings.create({"EventSourceArn": QUEUE.replace(":q", ":gone"), "FunctionName": "f"})
    with pytest.raises(InvalidParameterValueException,
                       match="Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds"):
        mappings.create({"EventSourceArn": QUEUE.replace(":q", ":other"), "FunctionName": "slow"})


def test_update_delete_and_reports(mappings):
    created = mappings.create({"EventSourceArn": QUEUE, "FunctionName": "f", "Enabled": False})
    assert created.state == "Disabled"
    updated = mappings.update({"UUID": created.uuid, "Enabled": True, "BatchSize": 3})
    assert (updated.state, updated.config["BatchSize"]) == ("Enabling", 3)
    mappings.report(created.uuid, None, "PROBLEM: down")
    assert mappings.get(created.uuid).state_reason == "PROBLEM: down"
    mappings.report(created.uuid, "OK")
    got = mappings.get(created.uuid)
    assert (got.state_reason, got.last_processing_result) == ("USER_INITIATED", "OK")
    assert mappings.counts() == {"Enabling": 1}
    assert mappings.delete(created.uuid).state == "Deleting"
    gone = "The resource you requested does not exist."  # the Tag* calls name the ARN instead (reference triggers §1.8)
    for call in (lambda: mappings.get(created.uuid), lambda: mappings.delete(created.uuid),
                 lambda: mappings.update({"UUID": created.uuid, "BatchSize": 2})):
        with pytest.raises(ResourceNotFoundException) as info:
            call()
        assert info.value.message == gone
    assert mappings.settle(created.uuid) is None
