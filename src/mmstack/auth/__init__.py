"""Identity and access: users, teams, roles, passwords, sessions, API keys, TOTP, quotas and
the audit log. The API resolves every request to a `Principal` here; services are scoped to
its `Owner`."""
