"""Container images: references, the OCI Distribution client, safe layer unpacking, and the
content-addressed store of image roots."""
