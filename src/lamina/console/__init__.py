"""The web console at /console: server-rendered pages (Jinja2 + htmx, vendored static assets) that
act only through lamina's public HTTP API (lamina.console.client), so a script can do all it does."""
