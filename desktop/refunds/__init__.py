"""The Refunds view: its page, model, detail pane and the refund dialog."""
