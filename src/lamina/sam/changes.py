"""The change set of a deploy: which resources are added, modified or removed, in which order.

Pure. `order(resources)` sorts the expanded template's resources so each comes after what it
refers to (Ref, Fn::GetAtt, Fn::Sub, DependsOn), refusing cycles. `changes(...)` compares the
properties each resource resolves to (with the previous deploy's physical ids) against what the
previous deploy applied: unchanged resources are left alone, a resource that refers to an added
one is modified with it (the deploy compares again with the real physical ids as it applies). Imports nothing from lamina but lamina.sam.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lamina.sam.intrinsics import IntrinsicError, references

ADD, MODIFY, REMOVE = "Add", "Modify", "Remove"


class OrderError(ValueError):
    """Resources that refer to each other in a cycle, or DependsOn naming no resource."""


@dataclass(frozen=True)
class Change:
    action: str
    logical_id: str
    resource_type: str


def needing(resources: dict[str, dict], missing: set[str]) -> dict[str, str]:
    """The resources that cannot be deployed because they refer (Ref, Fn::GetAtt, Fn::Sub), directly
    or through others, to a resource of `missing` (one lamina does not deploy): logical id → the
    missing resource it needs. A DependsOn alone does not count: it only orders."""
    blocked: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        for logical_id, resource in resources.items():
            if logical_id in missing or logical_id in blocked:
                continue
            for target in sorted(references(resource.get("Properties") or {})):
                if target in missing or target in blocked:
                    blocked[logical_id] = blocked.get(target, target)
                    changed = True
                    break
    return blocked


def order(resources: dict[str, dict], absent: frozenset[str] = frozenset()) -> list[str]:
    """Logical ids, each after every resource it needs (template order among independent ones).
    A DependsOn naming a resource of `absent` (declared but not deployed) is ignored."""
    needs: dict[str, set[str]] = {}
    for logical_id, resource in resources.items():
        depends = resource.get("DependsOn") or []
        depends = [depends] if isinstance(depends, str) else depends
        depends = [d for d in depends if d not in absent]
        unknown = [d for d in depends if d not in resources]
        if unknown:
            raise OrderError(f"Resources.{logical_id}.DependsOn: {', '.join(unknown)} is not a resource")
        needs[logical_id] = (references(resource.get("Properties") or {}) & set(resources)) | set(depends)
        needs[logical_id].discard(logical_id)
    done: list[str] = []
    placed: set[str] = set()
    while len(done) < len(resources):
        ready = [lid for lid in resources if lid not in placed and needs[lid] <= placed]
        if not ready:
            stuck = sorted(lid for lid in resources if lid not in placed)
            raise OrderError(f"Resources {', '.join(stuck)} refer to each other in a cycle")
        done += ready
        placed |= set(ready)
    return done


def changes(ordered: list[str], resources: dict[str, dict], previous: dict[str, dict],
            resolve_with_previous: Callable[[str], Any]) -> list[Change]:
    """What a deploy does: additions and modifications in dependency order, then removals in reverse
    order of the previous deploy. `resolve_with_previous(logical_id)` gives the resource's properties
    resolved against the previous deploy's resources (IntrinsicError if it refers to a new one)."""
    out: list[Change] = []
    touched: set[str] = set()
    for logical_id in ordered:
        resource = resources[logical_id]
        kind = resource["Type"]
        old = previous.get(logical_id)
        if old is None or old.get("type") != kind:
            if old is not None:
                out.append(Change(REMOVE, logical_id, old["type"]))
            out.append(Change(ADD, logical_id, kind))
            touched.add(logical_id)
            continue
        inputs = references(resource.get("Properties") or {}) & set(resources)
        try:
            same = resolve_with_previous(logical_id) == old.get("properties")
        except IntrinsicError:
            same = False
        if not same or inputs & touched:  # (a dependency that is only modified keeps its physical id)
            out.append(Change(MODIFY, logical_id, kind))
    gone = [lid for lid in sorted(previous, key=lambda lid: -previous[lid].get("order", 0)) if lid not in resources]
    out += [Change(REMOVE, lid, previous[lid]["type"]) for lid in gone]
    return out
