"""HTTP layer: Lambda REST API, /health."""
