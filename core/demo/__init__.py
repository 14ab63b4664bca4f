"""The demo database: a generator of realistic payments, refunds and deliveries."""
