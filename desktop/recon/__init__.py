"""The Reconciliation view."""
