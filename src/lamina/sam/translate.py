"""A SAM template expanded into CloudFormation resources by aws-sam-translator (the library SAM CLI uses).

Local code locations are replaced by placeholders before the translation
(`s3://lamina-local/<LogicalId>/<sha256 hex>`: the translator accepts only S3 locations, and the
digest in the key makes AutoPublishAlias publish a new version exactly when the code changed) and
`local_code(code)` recognises them afterwards. Managed policy names (SAM `Policies: [Name]`) map
to `arn:aws:iam::aws:policy/...` ARNs as on AWS. Translation errors become `TranslateError` with
each resource's message. Imports nothing from lamina but lamina.sam.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

from lamina.sam.artifacts import FUNCTION, LAYER

PLACEHOLDER_BUCKET = "lamina-local"
# AWS managed policies SAM templates name by their bare name (the translator needs name → ARN).
MANAGED_POLICIES = {
    name: f"arn:aws:iam::aws:policy/{path}{name}" for path, name in (
        ("service-role/", "AWSLambdaBasicExecutionRole"), ("", "AWSLambda_FullAccess"),
        ("", "AWSLambda_ReadOnlyAccess"), ("service-role/", "AWSLambdaRole"),
        ("service-role/", "AWSLambdaSQSQueueExecutionRole"), ("service-role/", "AWSLambdaKinesisExecutionRole"),
        ("service-role/", "AWSLambdaDynamoDBExecutionRole"), ("", "AWSXRayDaemonWriteAccess"),
        ("service-role/", "AWSLambdaVPCAccessExecutionRole"), ("", "AmazonS3ReadOnlyAccess"),
        ("", "AmazonSQSFullAccess"), ("", "AmazonDynamoDBFullAccess"), ("", "CloudWatchLogsFullAccess"),
    )
}


class TranslateError(ValueError):
    """The translator refused the template; the message lists each resource's problem."""


def expand(template: dict, code_digests: dict[str, str], region: str, account_id: str, stack: str,
           parameters: dict[str, Any]) -> dict:
    """The CloudFormation form of `template`. `code_digests` maps each built function or layer's logical
    id to the SHA-256 (base64, as CodeSha256) of its zip."""
    import logging

    import boto3
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    document = copy.deepcopy(template)
    for logical_id, resource in document["Resources"].items():
        if logical_id in code_digests:
            key = "CodeUri" if resource.get("Type") == FUNCTION else "ContentUri"
            assert resource.get("Type") in (FUNCTION, LAYER)
            digest = base64.b64decode(code_digests[logical_id]).hex()
            resource.setdefault("Properties", {})[key] = f"s3://{PLACEHOLDER_BUCKET}/{logical_id}/{digest}"
    values = {"AWS::Region": region, "AWS::AccountId": account_id, "AWS::StackName": stack,
              "AWS::Partition": "aws", **parameters}
    logging.getLogger("samtranslator").setLevel(logging.ERROR)  # its feature-toggle notes are not the user's
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    try:
        return translator.translate(document, parameter_values=values, get_managed_policy_map=lambda: MANAGED_POLICIES)
    except InvalidDocumentException as error:
        problems = "; ".join(str(getattr(e, "message", e)) for e in error.causes)
        raise TranslateError(problems or str(error)) from None
    except Exception as error:  # the translator raises many kinds; all mean "this template cannot be expanded"
        raise TranslateError(f"{type(error).__name__}: {error}") from None
    finally:
        translator.metrics.publish()  # to its no-op publisher: otherwise it warns on stdout when collected


def local_code(code: Any) -> str | None:
    """The logical id whose built zip a translated `Code` / `Content` placeholder stands for."""
    if isinstance(code, dict) and code.get("S3Bucket") == PLACEHOLDER_BUCKET:
        return str(code.get("S3Key", "")).split("/", 1)[0] or None
    return None
