"""The typed call an operation handler receives, and the reply it returns.

A `Call` is one Lambda operation's input members (parsed and validated) with the `Caller` the
request pipeline resolved; a `Reply` is the HTTP status and JSON body AWS answers with.
Imports lamina.identity only.
"""

from __future__ import annotations

from dataclasses import dataclass

from lamina.identity import Caller

Reply = tuple[int, dict | None]


@dataclass(frozen=True)
class Call:
    operation: str
    params: dict
    caller: Caller
