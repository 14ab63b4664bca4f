"""The Overview: the dashboard's figures and the rollups they read."""
