"""The demo data's fixed pools: merchants, staff, names, currencies and methods with their
weights, refund and attempt outcomes, and the columns each bulk write fills."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.refunds.states import IN_FLIGHT, NOT_COUNTED, STATUSES

MAX_PAYMENTS = 10_000_000


HISTORY_DAYS = 90


Progress = Callable[[str, int, int], None]


Rows = dict[str, list[tuple[Any, ...]]]  # rows per table for one batch of payments


MERCHANTS = (
    ("Kirana Express", "kiranaexpress.in"),
    ("Saffron Travels", "saffrontravels.in"),
    ("Udaan Learning", "udaanlearning.com"),
    ("Nimbus Cloud Services", "nimbuscloud.io"),
    ("Monsoon Apparel", "monsoonapparel.in"),
    ("Meridian Books", "meridianbooks.co.in"),
    ("Lotus Wellness", "lotuswellness.in"),
    ("Chaiwala & Co", "chaiwala.co"),
)


MERCHANT_EMAIL_USERS = ("payments", "finance", "accounts", "billing")


# (username, role); requesters are support/finance, deciders finance/admin.
STAFF = (
    ("asha.menon", "admin"),
    ("rahul.verma", "finance"),
    ("priya.nair", "finance"),
    ("vikram.singh", "support"),
    ("neha.kapoor", "support"),
    ("arjun.rao", "support"),
)


REQUESTERS = tuple(n for n, r in STAFF if r in ("support", "finance"))


DECIDERS = tuple(n for n, r in STAFF if r in ("finance", "admin"))


FIRST_NAMES = (
    "aarav", "aditi", "akash", "ananya", "anil", "anjali", "arjun", "deepa", "divya", "gaurav",
    "ishaan", "kavya", "kiran", "lakshmi", "manoj", "meera", "mohit", "nandini", "neha", "nikhil",
    "pooja", "pradeep", "priya", "rahul", "rajesh", "ravi", "riya", "rohan", "sakshi", "sanjay",
    "sneha", "sunita", "suresh", "tanvi", "varun", "vidya", "vijay", "vikram", "yash", "zoya",
    "emma", "liam", "sofia", "noah", "yuki", "haruto", "fatima", "omar", "lucas", "mia",
)  # fmt: skip


SURNAMES = (
    "sharma", "verma", "iyer", "nair", "reddy", "patel", "gupta", "singh", "kumar", "menon",
    "rao", "joshi", "desai", "mehta", "kapoor", "chopra", "bose", "das", "pillai", "shetty",
    "agarwal", "bhat", "kulkarni", "mishra", "pandey", "saxena", "sinha", "thomas", "fernandes",
    "khan", "ali", "banerjee", "ghosh", "mukherjee", "chatterjee", "naidu", "hegde", "jain",
    "smith", "muller", "rossi", "tanaka", "sato", "alsabah", "garcia", "martin", "kim", "lee",
)  # fmt: skip


UPI_HANDLES = ("okhdfcbank", "okicici", "oksbi", "okaxis", "ybl", "paytm", "ibl", "upi")


EMAIL_DOMAINS = ("gmail.com", "yahoo.co.in", "outlook.com", "rediffmail.com", "hotmail.com")


# Weights out of 1024 so a 10-bit random number picks one without floats.
CURRENCY_WEIGHTS = (("INR", 840), ("USD", 82), ("EUR", 51), ("JPY", 31), ("KWD", 20))


INR_METHOD_WEIGHTS = (("upi", 512), ("card", 287), ("netbanking", 123), ("wallet", 102))


FOREIGN_METHOD_WEIGHTS = (("card", 900), ("wallet", 124))


PAYMENT_ERRORS = {
    "upi": (
        ("BAD_REQUEST_ERROR", "Payment was declined by the bank"),
        ("BAD_REQUEST_ERROR", "The UPI PIN entered was incorrect"),
        ("BAD_REQUEST_ERROR", "Payment was not completed in the UPI app in time"),
        ("GATEWAY_ERROR", "The customer's bank did not respond in time"),
    ),
    "card": (
        ("BAD_REQUEST_ERROR", "Payment was declined by the bank"),
        ("BAD_REQUEST_ERROR", "The card has insufficient funds"),
        ("BAD_REQUEST_ERROR", "The card has expired"),
        ("BAD_REQUEST_ERROR", "3-D Secure authentication failed"),
        ("GATEWAY_ERROR", "The card network did not respond in time"),
    ),
    "netbanking": (
        ("BAD_REQUEST_ERROR", "Payment was declined by the bank"),
        ("BAD_REQUEST_ERROR", "Payment was cancelled by the customer"),
        ("SERVER_ERROR", "The bank's netbanking service is unavailable"),
    ),
    "wallet": (
        ("BAD_REQUEST_ERROR", "The wallet balance is insufficient"),
        ("BAD_REQUEST_ERROR", "Payment was cancelled by the customer"),
        ("GATEWAY_ERROR", "The wallet provider did not respond in time"),
    ),
}


# Every refund state, in the order REFUND_STATUS_WEIGHTS gives their shares; plain strings,
# since rows made in a child process travel as marshal data.
REFUND_STATUSES = tuple(s.value for s in STATUSES)
INACTIVE_REFUNDS = frozenset(s.value for s in NOT_COUNTED)


REFUND_STATUS_WEIGHTS = (14, 5, 3, 0, 7, 10, 5)  # processed takes the rest (of 100)


IN_FLIGHT_REFUNDS = frozenset(s.value for s in IN_FLIGHT)


REFUND_REASONS = (
    ("requested_by_customer", 60),
    ("duplicate", 15),
    ("fraudulent", 8),
    ("other", 17),
)


REFUND_NOTES = (
    None,
    None,
    "Customer called support about the order.",
    "Item returned in original packaging.",
    "Order shipped late; goodwill refund.",
    "Charged twice for the same order.",
)


REJECTION_NOTES = (
    "Duplicate of an earlier refund request.",
    "Outside the merchant's refund window.",
    "Customer already received a replacement.",
    "No proof of return was provided.",
)


REFUND_FAILURES = (
    "The bank rejected the refund: the customer's account is closed.",
    "The card network declined the refund: the card was reissued.",
    "The UPI refund timed out at the customer's bank.",
)


# Webhook retry schedule (seconds after the previous attempt), as in DESIGN.md §4.
RETRY_DELAYS = (0, 60, 300, 1800, 7200)


ATTEMPT_OFFSETS = tuple(sum(RETRY_DELAYS[: i + 1]) for i in range(len(RETRY_DELAYS)))


ATTEMPT_FAILURES = (
    (500, "Internal Server Error", "The endpoint answered 500 Internal Server Error."),
    (503, "Service Unavailable", "The endpoint answered 503 Service Unavailable."),
    (None, None, "The endpoint did not answer within 5 seconds."),
    (502, "<html><body>Bad Gateway</body></html>", "The endpoint answered 502 Bad Gateway."),
)


ATTEMPT_OK_BODY = '{"received":true}'


WORKER_CLIENTS = ("ops-worker-1-5f2c9a1d", "ops-worker-2-b03e4c77")


DAY_US = 86_400_000_000


MINUTE_US = 60_000_000


SECOND_US = 1_000_000


PAYMENT_COLUMNS = (
    "id", "merchant_id", "order_id", "amount", "currency", "method", "status", "captured",
    "customer_email", "customer_vpa", "card_last4", "error_code", "error_description",
    "refunded_amount", "created_at", "updated_at",
)  # fmt: skip


MERCHANT_COLUMNS = (
    "id", "name", "email", "webhook_url", "webhook_secret", "webhook_secret_previous",
    "webhook_secret_rotated_at", "webhook_enabled", "webhook_disabled_reason",
    "webhook_consecutive_failures", "webhook_failing_since", "webhook_last_success_at",
    "created_at",
)  # fmt: skip


STAFF_COLUMNS = ("username", "role", "created_at", "added_by")


SUBSCRIPTION_COLUMNS = (
    "id", "payment_id", "merchant_id", "period_start", "period_end", "cancelled_at",
    "refund_window_days",
)  # fmt: skip


REFUND_COLUMNS = (
    "id", "payment_id", "merchant_id", "amount", "currency", "kind", "reason", "note", "status",
    "idempotency_key", "subscription_id", "requested_by", "decided_by", "decided_at",
    "decision_note", "processed_at", "failure_reason", "lease_owner", "lease_expires_at",
    "version", "created_at", "updated_at",
)  # fmt: skip


WEBHOOK_LOG_COLUMNS = (
    "id", "merchant_id", "event", "payload", "entity_id", "status", "attempts",
    "last_attempt_at", "next_retry_at", "response_code", "response_body", "last_error",
    "lease_owner", "lease_expires_at", "created_at", "updated_at", "round_start",
    "next_trigger", "next_actor",
)  # fmt: skip


WEBHOOK_ATTEMPT_COLUMNS = (
    "webhook_log_id", "number", "started_at", "duration_ms", "url", "response_code",
    "response_body", "error", "trigger", "actor", "client",
)  # fmt: skip


AUDIT_COLUMNS = ("at", "actor", "action", "entity_type", "entity_id", "details", "client")


# Tables loaded in bulk, in foreign-key order.
BULK_TABLES = {
    "payments": PAYMENT_COLUMNS,
    "subscriptions": SUBSCRIPTION_COLUMNS,
    "refunds": REFUND_COLUMNS,
    "webhook_logs": WEBHOOK_LOG_COLUMNS,
    "webhook_attempts": WEBHOOK_ATTEMPT_COLUMNS,
    "audit_events": AUDIT_COLUMNS,
}
