"""The runtimes the contract kit runs against, each as the same handlers in its own language:
`echo`, `env`, `big` (a response of event["size"] characters), `fail` (an error "boom"), `sleep`,
`exit` (status 3) and `flood` (event["lines"] log lines, then "done"). A missing handler module
is the init error case."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

PYTHON_APP = """
import json, os, sys, time

def echo(event, context):
    return event

def env(event, context):
    return {key: os.environ.get(key) for key in event["keys"]}

def big(event, context):
    return "x" * event["size"]

def fail(event, context):
    raise ValueError("boom")

def sleep(event, context):
    time.sleep(event["seconds"])
    return "late"

def exit(event, context):
    os._exit(3)

def flood(event, context):
    for i in range(event["lines"]):
        print(f"line {i}")
    return "done"
"""

NODE_APP = """
exports.echo = async (event) => event;
exports.env = async (event) => Object.fromEntries(event.keys.map((key) => [key, process.env[key] ?? null]));
exports.big = async (event) => "x".repeat(event.size);
exports.fail = async () => { throw new TypeError("boom"); };
exports.sleep = (event, context, callback) => { setTimeout(() => callback(null, "late"), event.seconds * 1000); };
exports.exit = async () => { process.exit(3); };
exports.flood = async (event) => { for (let i = 0; i < event.lines; i++) console.log(`line ${i}`); return "done"; };
"""

# AWS's custom-runtime tutorial (a shell + curl loop), with the event and response in files so that
# 6 MB payloads fit (an argument is capped at 128 KiB), and an init error for a missing handler file.
BASH_BOOTSTRAP = """#!/bin/bash
set -euo pipefail
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
MODULE="$(echo "$_HANDLER" | cut -d. -f1)"
if [ ! -f "$LAMBDA_TASK_ROOT/$MODULE.sh" ]; then
  curl -sS -o /dev/null "$API/init/error" -H "Lambda-Runtime-Function-Error-Type: Runtime.ImportModuleError" \\
    -d "{\\"errorMessage\\": \\"Unable to import module '$MODULE'\\", \\"errorType\\": \\"Runtime.ImportModuleError\\"}"
  exit 1
fi
source "$LAMBDA_TASK_ROOT/$MODULE.sh"
HANDLER="$(echo "$_HANDLER" | cut -d. -f2)"
WORK="$(mktemp -d)"
while true
do
  curl -sS -LD "$WORK/headers" -o "$WORK/event" "$API/invocation/next"
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$WORK/headers" | tr -d '[:space:]' | cut -d: -f2)
  if "$HANDLER" "$WORK/event" > "$WORK/response"; then
    curl -sS -o /dev/null "$API/invocation/$REQUEST_ID/response" --data-binary @"$WORK/response"
  else
    curl -sS -o /dev/null "$API/invocation/$REQUEST_ID/error" -H "Lambda-Runtime-Function-Error-Type: Function.Failed" \\
      --data-binary @"$WORK/response"
  fi
done
"""

BASH_APP = """
echo_handler() { cat "$1"; }
env_handler() {
  printf '{"AWS_LAMBDA_FUNCTION_NAME": "%s", "AWS_REGION": "%s", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "%s", ' \\
    "$AWS_LAMBDA_FUNCTION_NAME" "$AWS_REGION" "$AWS_LAMBDA_FUNCTION_MEMORY_SIZE"
  printf '"_HANDLER": "%s", "MY_VAR": "%s", "AWS_LAMBDA_RUNTIME_API": "%s"}' "$_HANDLER" "$MY_VAR" "$AWS_LAMBDA_RUNTIME_API"
}
big_handler() {
  size=$(grep -o '[0-9]*' "$1")
  printf '"'; head -c "$size" /dev/zero | tr '\\0' x; printf '"'
}
fail_handler() { printf '{"errorMessage": "boom", "errorType": "Function.Failed"}'; return 1; }
sleep_handler() { sleep 5; }
exit_handler() { exit 3; }
flood_handler() {
  lines=$(grep -o '[0-9]*' "$1")
  for ((i = 0; i < lines; i++)); do printf 'line %d\\n' "$i" >&2; done
  printf '"done"'
}
"""

ENV_KEYS = ["AWS_LAMBDA_FUNCTION_NAME", "AWS_REGION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "_HANDLER", "MY_VAR",
            "AWS_LAMBDA_RUNTIME_API"]


@dataclass
class Flavor:
    name: str
    runtime: str
    files: dict[str, str]
    module: str  # the handler module: handlers are f"{module}.{case}{suffix}"
    error_type: str  # what the `fail` handler's error is reported as
    interpreter: str | None = None  # None: the kit's Python
    executable: str | None = None
    executables: tuple[str, ...] = ()  # files to mark executable
    trees: dict[str, Path] = field(default_factory=dict)  # directories copied into the package
    suffix: str = ""

    def handler(self, case: str) -> str:
        return f"{self.module}.{case}{self.suffix}"

    def write(self, code_dir: Path) -> None:
        for name in self.executables:
            os.chmod(code_dir / name, 0o755)
        for name, source in self.trees.items():
            if source.is_dir():
                shutil.copytree(source, code_dir / name, symlinks=True)
            else:
                shutil.copy2(source, code_dir / name)

    @property
    def served_by_rapid(self) -> bool:
        return not self.runtime.startswith("python")
