"""Webhooks: event payloads, Standard Webhooks signing, the sender, the dispatcher,
the delivery list and its commands, and merchants' signing secrets."""
