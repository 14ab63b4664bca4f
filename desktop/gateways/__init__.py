"""The Gateways dialog (Database menu): the gateway connections, and adding, testing, syncing
and removing them."""
