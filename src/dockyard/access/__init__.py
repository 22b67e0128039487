"""Access control: identities, credentials, roles, scope maps, tokens and the audit log."""
