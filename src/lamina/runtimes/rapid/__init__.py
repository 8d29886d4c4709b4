"""The in-sandbox Runtime API server (rapid) for every runtime but the managed Python one."""
