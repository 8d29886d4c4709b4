"""lamina.store.policies on a real SQLite file (migrated by Alembic, 0031 included)."""

from lamina.store.database import open_database
from lamina.store.policies import PolicyStore

STATEMENT = {"Sid": "s", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction", "Resource": "*"}


def test_put_get_delete(db_url):
    store = PolicyStore(open_database(db_url))
    assert store.get(("function", "f", "")) is None
    store.put(("function", "f", ""), [STATEMENT], "r1")
    store.put(("function", "f", "1"), [STATEMENT, {**STATEMENT, "Sid": "t"}], "r2")
    store.put(("layer", "f", "1"), [STATEMENT], "r3")
    assert store.get(("function", "f", "")) == ([STATEMENT], "r1")
    assert [s["Sid"] for s in store.get(("function", "f", "1"))[0]] == ["s", "t"]
    store.put(("function", "f", ""), [], "r4")  # no statements left: no policy
    assert store.get(("function", "f", "")) is None
    store.delete("function", "f", "1")
    assert store.get(("function", "f", "1")) is None
    store.put(("function", "f", "live"), [STATEMENT], "r5")
    store.delete("function", "f")
    assert store.get(("function", "f", "live")) is None
    assert store.get(("layer", "f", "1")) == ([STATEMENT], "r3")  # another kind is kept


def test_survives_reopening(db_url):
    PolicyStore(open_database(db_url)).put(("function", "g", ""), [STATEMENT], "r1")
    assert PolicyStore(open_database(db_url)).get(("function", "g", "")) == ([STATEMENT], "r1")
