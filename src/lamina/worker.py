"""The composition root of a cluster worker node (`lamina worker`): the engine and its sandboxes,
answering the run requests fronts send over NATS. Built in cluster mode only (docs/cluster.md)."""
