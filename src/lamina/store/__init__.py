"""Persistence: metadata database (SQLAlchemy Core), code blobs."""
