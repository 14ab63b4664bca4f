"""Health: the full check, the quick check the window polls, and the report they share."""
