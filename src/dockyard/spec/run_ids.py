"""Run IDs as ACR Tasks writes them: `ca` and a number (`ca1`, `ca42`), and the template that
stands for the run's ID in image names (`app:{{.Run.ID}}`)."""

RUN_ID_PREFIX = "ca"
RUN_ID_TEMPLATE = "{{.Run.ID}}"
