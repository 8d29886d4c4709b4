"""lamina.control.tags: which Resource ARNs name a taggable function; a mapping's and a code signing
config's tags."""

import pytest

from lamina.control.code_signing import CodeSigning
from lamina.control.tags import MAX_TAGS, Tags, _qualified, check_count
from lamina.errors import (
    CodeSigningConfigNotFoundException,
    InvalidParameterValueException,
    ResourceNotFoundException,
)
from lamina.model import EventSourceMapping, Function, FunctionVersion
from lamina.store.code_signing import CodeSigningStore
from lamina.store.database import open_database
from lamina.store.functions import FunctionStore
from lamina.store.mappings import MappingStore

REGION, ACCOUNT = "us-east-1", "000000000000"
ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f"


@pytest.mark.parametrize(("resource", "qualified"), [
    (ARN, False),
    (f"{ARN}:1", True),
    (f"{ARN}:live", True),
    (f"{ARN}:$LATEST", True),
    ("f:1", False),  # not an ARN: tagged_function_name refuses it with its own message
    (f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:f:1", False),  # another region: not found, as before
])
def test_qualified_arns(resource, qualified):
    assert _qualified(resource, REGION, ACCOUNT) is qualified


# -- tags on event source mappings, over a real SQLite file ------------------------------------------

UUID = "0f0e0d0c-1b2a-4c3d-8e9f-a0b1c2d3e4f5"
MAPPING_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{UUID}"


@pytest.fixture
def tagged(db_url):
    engine = open_database(db_url)
    mappings = MappingStore(engine)
    mappings.put(EventSourceMapping(
        uuid=UUID, function_name="f", qualifier=None, event_source_arn=f"arn:aws:sqs:{REGION}:{ACCOUNT}:q",
        kind="sqs", config={"BatchSize": 10}, enabled=True, state="Enabled", state_reason="USER_INITIATED",
        last_processing_result=None, last_modified=1.0, tags={"a": "1"}))
    yield Tags(FunctionStore(engine), REGION, ACCOUNT, mappings=mappings), mappings
    engine.dispose()


def test_a_mappings_tags_round_trip_on_its_arn(tagged):
    tags, mappings = tagged
    assert tags.list(MAPPING_ARN) == {"a": "1"}
    tags.tag(MAPPING_ARN, {"b": "2", "a": "3"})
    assert tags.list(MAPPING_ARN) == {"a": "3", "b": "2"}
    tags.untag(MAPPING_ARN, ["a", "absent"])
    assert tags.list(MAPPING_ARN) == {"b": "2"}
    assert mappings.get(UUID).config == {"BatchSize": 10}  # the tags change nothing else of the mapping


def test_a_mapping_holds_at_most_50_tags(tagged):
    tags, _ = tagged
    tags.tag(MAPPING_ARN, {f"k{i}": "v" for i in range(MAX_TAGS - 1)})  # with "a": 50
    with pytest.raises(InvalidParameterValueException) as info:
        tags.tag(MAPPING_ARN, {"one-more": "v"})
    assert info.value.message == "Number of tags exceeds resource tag limit."
    assert len(tags.list(MAPPING_ARN)) == MAX_TAGS
    with pytest.raises(InvalidParameterValueException):
        check_count({f"k{i}": "v" for i in range(MAX_TAGS + 1)})


def test_an_unknown_or_deleted_mapping_is_not_found(tagged):
    tags, mappings = tagged
    unknown = MAPPING_ARN.replace("0f0e0d0c", "aaaaaaaa")
    mappings.delete(UUID)
    for resource in (unknown, MAPPING_ARN):
        for call, args in ((tags.list, ()), (tags.tag, ({"x": "y"},)), (tags.untag, (["x"],))):
            with pytest.raises(ResourceNotFoundException) as info:
                call(resource, *args)
            assert info.value.message == f"Event source mapping not found: {resource}"


def test_of_answers_the_current_tags_an_arn_names_and_never_raises(tagged):
    """The authorizer's aws:ResourceTag source: a mapping's or a function's tags, read afresh."""
    tags, _ = tagged
    store = tags._store
    store.create(Function("f", FunctionVersion(name="f", version="$LATEST", runtime="python3.12", handler="a.b",
                                               code_hex="ab" * 32, code_size=1), tags={"Team": "blue"}))
    assert tags.of(ARN) == {"Team": "blue"}
    tags.tag(ARN, {"Team": "red"})
    assert tags.of(ARN) == {"Team": "red"}
    assert tags.of(MAPPING_ARN) == {"a": "1"}
    tags.untag(MAPPING_ARN, ["a"])
    assert tags.of(MAPPING_ARN) == {}
    for nothing in (f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:gone",
                    f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:00000000-0000-4000-8000-000000000000",
                    f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:f",  # another region
                    f"arn:aws:lambda:{REGION}:{ACCOUNT}:code-signing-config:csc-0123456789abcdefg",
                    f"{ARN}:1", "*"):
        assert tags.of(nothing) is None


# -- tags on code signing configs, over a real SQLite file -------------------------------------------

PROFILE = f"arn:aws:signer:{REGION}:{ACCOUNT}:/signing-profiles/p/v1"


@pytest.fixture
def configs(db_url):
    """(Tags, CodeSigning) over one store."""
    engine = open_database(db_url)
    store = CodeSigningStore(engine)
    code_signing = CodeSigning(store, REGION, ACCOUNT, profile=lambda arn: None, function_exists=lambda name: False,
                               read_blob=lambda key: b"")
    yield Tags(FunctionStore(engine), REGION, ACCOUNT, code_signing=store), code_signing
    engine.dispose()


def create(code_signing: CodeSigning, **tags: str) -> str:
    params: dict = {"AllowedPublishers": {"SigningProfileVersionArns": [PROFILE]}}
    if tags:
        params["Tags"] = tags
    return code_signing.create(params)["CodeSigningConfigArn"]


def test_a_code_signing_configs_tags_round_trip_on_its_arn(configs):
    tags, code_signing = configs
    arn = create(code_signing, team="blue")
    before = code_signing.get(arn)
    assert "Tags" not in before  # GetCodeSigningConfig shows none (the model's CodeSigningConfig has no Tags)
    assert tags.list(arn) == {"team": "blue"} and tags.of(arn) == {"team": "blue"}
    tags.tag(arn, {"env": "dev", "team": "red"})
    assert tags.list(arn) == {"team": "red", "env": "dev"}
    tags.untag(arn, ["team", "absent"])
    assert tags.list(arn) == {"env": "dev"} and tags.of(arn) == {"env": "dev"}
    code_signing.update({"CodeSigningConfigArn": arn, "Description": "changed"})  # an update keeps them
    assert tags.list(arn) == {"env": "dev"}
    assert code_signing.get(arn) == {**before, "Description": "changed",
                                     "LastModified": code_signing.get(arn)["LastModified"]}
    assert tags.list(create(code_signing)) == {}  # created without Tags: none


@pytest.mark.parametrize("count, refused", [(MAX_TAGS, False), (MAX_TAGS + 1, True)])
def test_a_code_signing_config_is_created_with_at_most_50_tags(configs, count, refused):
    tags, code_signing = configs
    many = {f"k{i}": "v" for i in range(count)}
    if not refused:
        assert len(tags.list(create(code_signing, **many))) == MAX_TAGS
        return
    with pytest.raises(InvalidParameterValueException) as info:
        create(code_signing, **many)
    assert info.value.message == "Number of tags exceeds resource tag limit."
    assert code_signing.list({})[0] == []  # nothing was made


def test_a_code_signing_config_holds_at_most_50_tags(configs):
    tags, code_signing = configs
    arn = create(code_signing, **{f"k{i}": "v" for i in range(MAX_TAGS)})
    tags.tag(arn, {"k0": "replaced"})  # a key it has: still 50
    with pytest.raises(InvalidParameterValueException) as info:
        tags.tag(arn, {"one-more": "v"})
    assert info.value.message == "Number of tags exceeds resource tag limit."
    assert len(tags.list(arn)) == MAX_TAGS and tags.list(arn)["k0"] == "replaced"


def test_an_unknown_or_deleted_code_signing_config_is_not_found(configs):
    tags, code_signing = configs
    arn = create(code_signing, team="blue")
    unknown = arn[:-3] + "zzz"
    elsewhere = arn.replace(REGION, "eu-west-1")
    code_signing.delete(arn)
    for resource in (unknown, arn, elsewhere):
        for call, args in ((tags.list, ()), (tags.tag, ({"x": "y"},)), (tags.untag, (["x"],))):
            with pytest.raises(CodeSigningConfigNotFoundException) as info:
                call(resource, *args)
            assert info.value.status == 404
            assert info.value.message == ("The code signing configuration cannot be found. Check that the "
                                          f"provided configuration is not deleted: {resource}.")
        assert tags.of(resource) is None
