"""I/O adapters: blob drivers and the metadata database."""
