"""Tasks: quick builds and command runs done by the registry's own workers.

A run is a row (`runs.py`) that workers claim with a lease; its log is stored in chunks
(`logs.py`); build contexts are uploaded tarballs stored content-addressed (`sources.py`) or
fetched from a URL (`fetch.py`); `executor.py` does one run with a build engine
(`engines/`), each engine process in its own session so that cancel and timeout end it whole.
"""
