"""Paydesk desktop: Qt widgets, table models, dialogs and the app entry. Imports core."""
