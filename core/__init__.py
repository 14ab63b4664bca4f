"""Paydesk core: domain, database, services, jobs and webhooks. Never imports Qt."""

__version__ = "0.1.0"
