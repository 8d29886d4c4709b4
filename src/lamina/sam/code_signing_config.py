"""AWS::Lambda::CodeSigningConfig in a deploy: created, updated in place and deleted through Lambda's
code signing config API, as CloudFormation does. `Ref` gives the config's ARN; `Fn::GetAtt` reads
`CodeSigningConfigArn` and `CodeSigningConfigId`. Deleting a config a function still uses fails with
Lambda's ResourceConflictException (the deploy deletes dependents first, so a stack's own functions
are gone or unbound by then). Imports nothing from lamina but lamina.sam.deployed.
"""

from __future__ import annotations

from lamina.sam.deployed import Deployed, Env, ignore_missing, retag, tags_of


def arguments(props: dict) -> dict:
    """The config a template declares, as CreateCodeSigningConfig / UpdateCodeSigningConfig take it:
    what the template leaves out goes back to AWS's default (no description, policy Warn)."""
    publishers = (props.get("AllowedPublishers") or {}).get("SigningProfileVersionArns") or []
    policy = (props.get("CodeSigningPolicies") or {}).get("UntrustedArtifactOnDeployment") or "Warn"
    return {"Description": props.get("Description", ""),
            "AllowedPublishers": {"SigningProfileVersionArns": list(publishers)},
            "CodeSigningPolicies": {"UntrustedArtifactOnDeployment": policy}}


def _deployed(config: dict) -> Deployed:
    arn = config["CodeSigningConfigArn"]
    return Deployed(arn, arn, {"CodeSigningConfigArn": arn, "CodeSigningConfigId": config["CodeSigningConfigId"]})


class CodeSigningConfig:
    def create(self, logical_id: str, props: dict, env: Env) -> Deployed:
        tags = tags_of(props.get("Tags"))
        made = env.clients("lambda").create_code_signing_config(**arguments(props), **({"Tags": tags} if tags else {}))
        return _deployed(made["CodeSigningConfig"])

    def update(self, old: Deployed, before: dict, props: dict, env: Env) -> tuple[Deployed, bool]:
        lam = env.clients("lambda")
        if arguments(props) != arguments(before):
            lam.update_code_signing_config(CodeSigningConfigArn=old.physical_id, **arguments(props))
        retag(lam, old.physical_id, before, props)
        return _deployed(lam.get_code_signing_config(CodeSigningConfigArn=old.physical_id)["CodeSigningConfig"]), False

    def delete(self, old: Deployed, env: Env) -> None:
        ignore_missing(lambda: env.clients("lambda").delete_code_signing_config(CodeSigningConfigArn=old.physical_id))
