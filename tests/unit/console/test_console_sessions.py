"""Console sessions: random ids, expiry after the TTL and after idling, sign-out, a bounded table."""

from __future__ import annotations

from lamina.console.sessions import Sessions


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_lives_until_its_ttl_while_used():
    clock = Clock()
    sessions = Sessions(ttl=100, idle=30, clock=clock)
    sid = sessions.open("AKID", "secret", None, "arn:aws:iam::1:user/a")
    assert len(sid) >= 40 and sid != sessions.open("AKID", "secret", None, "arn")
    for _ in range(4):
        clock.now += 20
        assert sessions.get(sid).secret_access_key == "secret"
    clock.now += 20  # 100 s after it was opened
    assert sessions.get(sid) is None


def test_an_idle_session_ends():
    clock = Clock()
    sessions = Sessions(ttl=100, idle=30, clock=clock)
    sid = sessions.open("AKID", "secret", None, "arn")
    clock.now += 30
    assert sessions.get(sid) is None


def test_sign_out_and_unknown_ids():
    sessions = Sessions(clock=Clock())
    sid = sessions.open("AKID", "secret", "token", "arn")
    assert sessions.get(sid).session_token == "token"
    sessions.close(sid)
    assert sessions.get(sid) is None
    assert sessions.get(None) is None and sessions.get("") is None and sessions.get("nope") is None
    sessions.close(None)


def test_the_table_is_bounded_oldest_first():
    sessions = Sessions(limit=2, clock=Clock())
    first, second, third = (sessions.open(f"K{i}", "s", None, "arn") for i in range(3))
    assert len(sessions) == 2
    assert sessions.get(first) is None and sessions.get(second) and sessions.get(third)
