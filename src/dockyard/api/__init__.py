"""The HTTP edge: routes of the OCI distribution API and the operational endpoints."""
