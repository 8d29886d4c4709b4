"""Cluster mode's adapters: the same seams single-node mode serves in process, backed by NATS
JetStream and PostgreSQL (docs/cluster.md). Nothing here is used unless Settings.nats_url is set."""
