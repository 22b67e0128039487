"""Multi-step runs: a task file's steps run as containers of the worker's Docker daemon."""
