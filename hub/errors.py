"""The one error hierarchy of PayHub.

Every error knows its HTTP status (``status_code``), its spec error code (``code``) and whether
retrying the same call may succeed (``retriable``), so handlers and retry policies ask the error
instead of listing types. Foreign errors are converted where they cross into PayHub
(``raise ... from exc``). The HTTP envelope (``hub.http.envelope``) renders any of them.

    PayHubError                      500 INTERNAL_ERROR
    ├── BadRequest                   400 BAD_REQUEST
    │   └── MalformedJson (ValueError)                     unreadable JSON (``hub.json_codec``)
    ├── InvalidInput (ValueError)    400 BAD_REQUEST       bad values found by pure parsers
    │   ├── MoneyError                                     amounts and currencies
    │   ├── KhqrError                                      KHQR payloads (EMVCo TLV fields)
    │   ├── PremiumImportError                             a premiums CSV, every bad row listed
    │   └── StatementError                                 an AMK settlement statement, by line and column
    ├── Unauthorized                 401 UNAUTHORIZED
    ├── Forbidden                    403 FORBIDDEN
    │   └── FraudDetected            403 FRAUD_DETECTED    a fraud rule stopped it before money moved
    ├── NotFound                     404 RESOURCE_NOT_FOUND
    ├── BankNotFound                 404 BANK_NOT_FOUND
    ├── MethodNotAllowed             405 METHOD_NOT_ALLOWED
    ├── DuplicatePayment             409 DUPLICATE_PAYMENT
    ├── Conflict                     409 BAD_REQUEST       the resource's state does not allow the action
    ├── RequestTimeout               408 BAD_REQUEST       headers or body too slow
    ├── QrExpired                    410 QR_EXPIRED
    ├── UpgradeRequired              426 BAD_REQUEST       plain HTTP to a WebSocket endpoint
    ├── PayloadTooLarge              413 BAD_REQUEST
    ├── HeadersTooLarge              431 BAD_REQUEST
    ├── VerificationMismatch         422 PAYMENT_VERIFICATION_DATA_MISMATCHED
    ├── TransactionVerifyFailed      422 TRANSACTION_VERIFY_FAILED
    ├── RateLimitExceeded            429 RATE_LIMIT_EXCEEDED          retriable
    ├── AmkUnknownError              502 AMK_UNKNOWN_ERROR
    │   ├── AmkMerchantNotBound      502 MERCHANT_NOT_BIND AMK does not know our merchant
    │   ├── AmkBankNotFound          502 BANK_NOT_FOUND    AMK has no bank configuration
    │   └── QrMismatch                                     AMK's QR does not match the premium
    ├── AmkAuthFailed                502 AMK_UNKNOWN_ERROR
    ├── NotificationRefused          502 NOTIFICATION_REFUSED a channel refused a message for good
    ├── ServiceUnavailable           503 SERVICE_UNAVAILABLE          retriable
    │   ├── CircuitOpen                                    a breaker refuses calls for a while
    │   ├── StreamUnavailable                              the event stream (Kafka) is down
    │   └── ChannelUnavailable                             a notification channel is down for now
    ├── AmkUnavailable               503 SERVER_UNAVAILABLE           retriable
    ├── UniqueViolation              500 INTERNAL_ERROR    a store's unique rule refused a row
    └── ConfigError                  500 CONFIG_ERROR      at start-up only

Spec error codes: docs/ the customer spec's error table (``AmkErrorCode``); ``BAD_REQUEST`` and
``INTERNAL_ERROR`` are PayHub's own for what the spec does not name.

Payment errors (``payment_error = True``: DUPLICATE_PAYMENT, PAYMENT_VERIFICATION_DATA_MISMATCHED,
TRANSACTION_VERIFY_FAILED, QR_EXPIRED, FRAUD_DETECTED and AMK's refusals) carry the spec's ``supportContact`` in their
envelope; an error about a known bank transaction carries its ``transactionId`` (``transaction_id``).
"""

from __future__ import annotations

from typing import Any


class PayHubError(Exception):
    """The base of every PayHub error; ``message`` is safe to show to the caller."""

    status_code: int = 500
    code: str = "INTERNAL_ERROR"
    retriable: bool = False
    default_message: str = "Internal error"
    # A payment went wrong (spec: "Payment Processing Errors"): the envelope names whom to contact.
    payment_error: bool = False

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Any = None,
        retry_after: int | None = None,
        transaction_id: str | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = details
        self.retry_after = retry_after
        # The bank transaction the error is about (spec: ``transactionId``), when one is known.
        self.transaction_id = transaction_id
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


class FraudDetected(Forbidden):
    """A fraud rule stopped a request before any money moved (spec: ``FRAUD_DETECTED``, "Suspicious
    transaction detected"; recovery: "Block transaction, require additional verification"). Never
    raised for a bank's payment notice: money that has moved is recorded and flagged instead."""

    code = "FRAUD_DETECTED"
    default_message = "Suspicious transaction detected"
    payment_error = True  # the payer stopped needs whom to ask ("require additional verification")


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
    payment_error = True


class Conflict(PayHubError):
    """The action is not allowed in the resource's current state (a review already resolved, …);
    nothing was changed. The spec names no code for it: ``BAD_REQUEST`` with status 409 (RFC 9110
    §15.5.10); ``details`` say the current state and the states the action is allowed from."""

    status_code = 409
    code = "BAD_REQUEST"
    default_message = "Not allowed in the current state"


class VerificationMismatch(PayHubError):
    status_code = 422
    code = "PAYMENT_VERIFICATION_DATA_MISMATCHED"
    default_message = "Payment data does not match the premium or AMK's records"
    payment_error = True


class TransactionVerifyFailed(PayHubError):
    status_code = 422
    code = "TRANSACTION_VERIFY_FAILED"
    default_message = "AMK does not confirm this transaction"
    payment_error = True


class UpgradeRequired(PayHubError):
    """A plain HTTP request to a WebSocket endpoint (RFC 9110 §15.5.22: answered with ``Upgrade: websocket``)."""

    status_code = 426
    code = "BAD_REQUEST"
    default_message = "This endpoint speaks WebSocket: send an upgrade request"


class QrExpired(PayHubError):
    status_code = 410
    code = "QR_EXPIRED"
    default_message = "QR code has expired"
    payment_error = True


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
    payment_error = True


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


class InvalidInput(PayHubError, ValueError):
    """A pure parser refused a value; the message names the field and the rule broken."""

    status_code = 400
    code = "BAD_REQUEST"
    default_message = "Invalid input"


class MoneyError(InvalidInput):
    """An amount or currency that PayHub refuses (``hub.domain.money``); ``field`` names where it
    came from. The HTTP layer answers 400 BAD_REQUEST with ``details=[{"field": field, "message":
    reason}]``; adapters reading a partner's answer convert it to their own error (``raise … from exc``).
    """

    def __init__(self, reason: str, *, field: str = "amount") -> None:
        super().__init__(reason, details=[{"field": field, "message": reason}])
        self.field = field
        self.reason = reason


class MalformedJson(BadRequest, ValueError):
    """JSON that cannot be read: not UTF-8, not JSON, too deep, too large, or not the expected shape.

    A ``BadRequest`` (400 BAD_REQUEST, ``details=[{"field": field, "message": reason}]``) on the HTTP
    paths, and a ``ValueError`` for readers of stored or brokered data; WebSocket handlers catch it to
    close the socket with a reason (``hub.json_codec``).
    """

    def __init__(self, reason: str, *, field: str = "body") -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"Malformed JSON: {reason}", details=[{"field": field, "message": reason}])


class KhqrError(InvalidInput):
    """Invalid KHQR payload or field; the message names the field/tag and the rule broken."""


class PremiumImportError(InvalidInput):
    """A premiums file was refused; ``errors`` lists every problem by row number (header = row 1)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(f"{len(errors)} invalid row(s)")
        self.errors = errors


class StatementError(InvalidInput):
    """An AMK settlement statement was refused (``hub.adapters.amk.statement_csv``); nothing was stored.

    ``problems`` lists each as ``{"line": n, "column": name, "message": text}`` (line 1 is the header;
    ``column`` is ``"-"`` when a problem concerns a whole line). The message names the first one.
    """

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        first = problems[0] if problems else {"line": 0, "column": "-", "message": "unreadable"}
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(
            f"statement refused: line {first['line']}, column {first['column']}: {first['message']}{more}",
            details=problems,
        )
        self.problems = problems


class BankNotFound(PayHubError):
    status_code = 404
    code = "BANK_NOT_FOUND"
    default_message = "Bank configuration not found"


class QrMismatch(AmkUnknownError):
    default_message = "AMK returned a QR that does not match the premium"


class AmkAuthFailed(PayHubError):
    status_code = 502
    code = "AMK_UNKNOWN_ERROR"
    default_message = "AMK refused our sign-in"


class CircuitOpen(ServiceUnavailable):
    """The breaker refuses the call; ``retry_after`` says in how many whole seconds to try again."""

    def __init__(self, breaker: str, *, retry_after: int) -> None:
        super().__init__(details="Circuit breaker activated due to high failure rate", retry_after=retry_after)
        self.breaker = breaker


class StreamUnavailable(ServiceUnavailable):
    """The broker could not be reached or did not acknowledge in time (retriable)."""

    default_message = "Event stream unavailable"


class UniqueViolation(PayHubError):
    """A unique rule of the store refused a row; raised alike by every store backend.

    The store's own text (``constraint``) is kept for logs, never shown: callers see an internal error.
    """

    def __init__(self, constraint: str = "") -> None:
        super().__init__()
        self.constraint = constraint

    def __str__(self) -> str:
        return self.constraint or self.message


class ConfigError(PayHubError):
    """Settings are invalid; raised at start-up, never at request time."""

    code = "CONFIG_ERROR"
    default_message = "Invalid configuration"


class ChannelUnavailable(ServiceUnavailable):
    """A notification channel (push provider, SMS gateway, SMTP server, partner endpoint) cannot take the
    message now: unreachable, timed out, 5xx, 429. Retriable; ``retry_after`` (seconds) when it said so."""

    default_message = "Notification channel unavailable"


class NotificationRefused(PayHubError):
    """A notification channel refused one message for good (an unknown push token, a refused address,
    a 4xx, a partner's ``410 Gone``): retrying the same message cannot succeed."""

    status_code = 502
    code = "NOTIFICATION_REFUSED"
    default_message = "Notification refused by the channel"
