"""The Payments view: its page, model and detail pane."""
