"""Payments: the list and detail queries, and exports."""
