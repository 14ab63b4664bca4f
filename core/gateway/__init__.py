"""Connections to a merchant's payment gateway over its HTTP API (../shared/GATEWAY_API.md):
the client, capability detection, parsed rows, stored connections and sync."""
