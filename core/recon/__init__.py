"""Settlement reconciliation: import processors' settlement reports, match every line against
Paydesk's payments and refunds, and work the exceptions (docs/reconciliation.md)."""
