"""Background work inside server processes: periodic garbage collection (one process at a time)."""
