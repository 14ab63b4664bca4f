"""The Overview: its page, tiles and charts."""
