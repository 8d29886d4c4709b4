"""lamina: a self-hosted AWS Lambda."""

__version__ = "0.1.0"
