"""Background work: the job runtime (runtime.py) that runs the periodic jobs the packages
declare (catalog.py gathers them), with database leases (leases.py); and the task worker,
which claims and does task runs."""
