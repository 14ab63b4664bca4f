"""The Webhooks view: its page, model, detail pane, bulk retry and endpoints dialogs."""
