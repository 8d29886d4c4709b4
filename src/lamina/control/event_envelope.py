"""The events EventBridge delivers to targets (reference 3.5): a PutEvents entry's envelope and a
scheduled rule's, and the ARNs of rules and buses.

Pure functions; imports nothing from lamina.
"""

from __future__ import annotations

import datetime as dt

DEFAULT_BUS = "default"


def bus_arn(region: str, account: str, bus: str) -> str:
    return f"arn:aws:events:{region}:{account}:event-bus/{bus}"


def rule_arn(region: str, account: str, bus: str, rule: str) -> str:
    """`rule/NAME` on the default bus, `rule/BUS/NAME` on a custom one."""
    where = rule if bus == DEFAULT_BUS else f"{bus}/{rule}"
    return f"arn:aws:events:{region}:{account}:rule/{where}"


def timestamp(when: dt.datetime) -> str:
    """Second precision with a Z, as EventBridge writes `time`."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def entry_envelope(entry: dict, detail: dict, *, event_id: str, account: str, region: str,
                   received: dt.datetime) -> dict:
    """The event a PutEvents entry becomes: `time` is the entry's Time if given, else its receipt."""
    when = entry.get("Time")
    return {
        "version": "0", "id": event_id, "detail-type": entry["DetailType"], "source": entry["Source"],
        "account": account, "time": timestamp(_datetime(when) if when is not None else received),
        "region": region, "resources": list(entry.get("Resources") or []), "detail": detail,
    }


def scheduled_envelope(*, rule: str, scheduled: dt.datetime, event_id: str, account: str, region: str) -> dict:
    """The event a scheduled rule fires at its minute."""
    return {
        "version": "0", "id": event_id, "detail-type": "Scheduled Event", "source": "aws.events",
        "account": account, "time": timestamp(scheduled), "region": region, "resources": [rule], "detail": {},
    }


def _datetime(value: object) -> dt.datetime:
    """An entry's Time as the JSON protocol carries it (epoch seconds; ISO 8601 text is accepted too)."""
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
