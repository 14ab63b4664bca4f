"""What can go wrong talking to a gateway, each as one sentence a person can act on."""

from __future__ import annotations

from core.errors import InputError, PaydeskError, Refused


class GatewayError(PaydeskError):
    """The gateway could not be used right now (runtime failure: exit 1)."""


class GatewayUnreachable(GatewayError):
    """Nothing answered at the gateway's address."""


class GatewayTimeout(GatewayError):
    """The gateway did not answer in time."""


class GatewayServerError(GatewayError):
    """The gateway answered with a 5xx."""


class GatewayNotJson(GatewayError):
    """The gateway answered 2xx with something that is not JSON (a dashboard's HTML page)."""


class GatewayBadAnswer(GatewayError):
    """The gateway answered JSON of the wrong shape."""


class GatewayOutcomeUnknown(GatewayError):
    """A request was sent and its answer lost: it may or may not have taken effect."""


class GatewayAuthFailed(Refused):
    """The gateway refused the API key and secret (401)."""


class GatewayRejected(InputError):
    """The gateway refused the request (4xx) with its own sentence."""

    def __init__(self, message: str, status: int, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class GatewayNotFound(GatewayRejected):
    """The gateway knows no such payment, refund or log (404 with a JSON body)."""


class GatewayMissingRoute(GatewayError):
    """This gateway does not offer the route (a 404 page, or a 200 that is not the API)."""
