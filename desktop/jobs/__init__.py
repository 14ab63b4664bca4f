"""The Jobs view."""
