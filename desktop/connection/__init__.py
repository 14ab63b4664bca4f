"""Choosing and moving the database: the connection dialog and the move dialog."""
