"""The Activity view."""
