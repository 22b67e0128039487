"""The JSON bodies of the management API, shared by the server (api/management) and the CLI's
typed client (cli/api_client.py), so that the two cannot disagree on a field name.

Only pydantic and the standard library here: the CLI imports these modules, and it must not
load the server's stack (an import-linter contract). One module per concept.
"""
