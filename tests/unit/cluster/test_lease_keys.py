"""lamina.cluster.leases: lease keys and URLs (the leases themselves run against PostgreSQL in tests/functional)."""

from lamina.cluster.leases import lease_key, libpq_url


def test_lease_keys_are_stable_signed_64_bit_and_per_cluster():
    key = lease_key("lamina", "schedule-clock")
    assert key == lease_key("lamina", "schedule-clock")
    assert -(2**63) <= key < 2**63
    assert key != lease_key("other", "schedule-clock") and key != lease_key("lamina", "pollers")


def test_libpq_url_drops_the_driver():
    assert libpq_url("postgresql+psycopg://postgres@127.0.0.1:5432/x") == "postgresql://postgres@127.0.0.1:5432/x"
    assert libpq_url("postgresql://h/x") == "postgresql://h/x"
