"""The database: engines and URLs, the models, migrations and their revisions, change
notices, Postgres roles and grants, passwords, the connection a copy uses, copies and backups."""
