"""The one error hierarchy of PayHub.

Every error knows its HTTP status, its spec error code and whether retrying the same call may
succeed (``retriable``), so handlers and retry policies ask the error instead of listing types.
Foreign errors are converted where they cross into PayHub (``raise ... from exc``).
"""

from __future__ import annotations

from typing import Any


class PayHubError(Exception):
    status_code: int = 500
    code: str = "INTERNAL_ERROR"
    retriable: bool = False
    default_message: str = "Internal error"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Any = None,
        retry_after: int | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = details
        self.retry_after = retry_after
        super().__init__(self.message)


class BadRequest(PayHubError):
    status_code = 400
    code = "BAD_REQUEST"
    default_message = "Invalid request"


class Unauthorized(PayHubError):
    status_code = 401
    code = "UNAUTHORIZED"
    default_message = "Missing or invalid credentials"


class Forbidden(PayHubError):
    status_code = 403
    code = "FORBIDDEN"
    default_message = "Not allowed"


class NotFound(PayHubError):
    status_code = 404
    code = "RESOURCE_NOT_FOUND"
    default_message = "Resource not found"


class MethodNotAllowed(PayHubError):
    status_code = 405
    code = "METHOD_NOT_ALLOWED"
    default_message = "Method not allowed"


class PayloadTooLarge(PayHubError):
    status_code = 413
    code = "BAD_REQUEST"
    default_message = "Request body too large"


class RequestTimeout(PayHubError):
    """The request (headers or body) did not arrive within its deadline (RFC 9110 §15.5.9)."""

    status_code = 408
    code = "BAD_REQUEST"
    default_message = "Request not received in time"


class HeadersTooLarge(PayHubError):
    """Request line and headers over the size limit (RFC 6585 §5)."""

    status_code = 431
    code = "BAD_REQUEST"
    default_message = "Request headers too large"


class DuplicatePayment(PayHubError):
    status_code = 409
    code = "DUPLICATE_PAYMENT"
    default_message = "A different payment with the same transaction key was already received"


class VerificationMismatch(PayHubError):
    status_code = 422
    code = "PAYMENT_VERIFICATION_DATA_MISMATCHED"
    default_message = "Payment data does not match the premium or AMK's records"


class TransactionVerifyFailed(PayHubError):
    status_code = 422
    code = "TRANSACTION_VERIFY_FAILED"
    default_message = "AMK does not confirm this transaction"


class QrExpired(PayHubError):
    status_code = 410
    code = "QR_EXPIRED"
    default_message = "QR code has expired"


class RateLimitExceeded(PayHubError):
    status_code = 429
    code = "RATE_LIMIT_EXCEEDED"
    retriable = True
    default_message = "Rate limit exceeded"


class ServiceUnavailable(PayHubError):
    """A dependency of ours (database, integration service, broker) is down."""

    status_code = 503
    code = "SERVICE_UNAVAILABLE"
    retriable = True
    default_message = "Service temporarily unavailable"


class AmkUnavailable(PayHubError):
    """AMK's partner API could not be reached or answered 5xx."""

    status_code = 503
    code = "SERVER_UNAVAILABLE"
    retriable = True
    default_message = "AMK service unavailable"


class AmkUnknownError(PayHubError):
    """AMK answered, but refused the request or said something PayHub cannot read.

    ``amk_code`` is a bounded label (a known AMK code, ``unknown`` or ``unreadable``) for metrics.
    """

    status_code = 502
    code = "AMK_UNKNOWN_ERROR"
    default_message = "Unknown error from AMK"
    amk_code: str = "unknown"


class AmkMerchantNotBound(AmkUnknownError):
    """AMK does not know PayHub's merchant, store or terminal (spec: MERCHANT_NOT_BIND)."""

    code = "MERCHANT_NOT_BIND"
    default_message = "AMK does not recognise the merchant account"
    amk_code = "MERCHANT_NOT_BIND"


class AmkBankNotFound(AmkUnknownError):
    """AMK has no bank configuration for the request (spec: BANK_NOT_FOUND)."""

    code = "BANK_NOT_FOUND"
    default_message = "AMK bank configuration not found"
    amk_code = "BANK_NOT_FOUND"


class ConfigError(PayHubError):
    """Settings are invalid; raised at start-up, never at request time."""

    code = "CONFIG_ERROR"
    default_message = "Invalid configuration"
