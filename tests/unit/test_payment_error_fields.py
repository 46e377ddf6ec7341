"""The spec's payment-error fields (issue 12): every error class of the one tree is rendered with
``supportContact`` exactly when it is a payment error, and with ``transactionId`` exactly when one is known."""

from __future__ import annotations

import inspect

import pytest

import hub.errors
from hub.errors import PayHubError
from hub.http.envelope import error_body

PAYMENT_CODES = {
    "DUPLICATE_PAYMENT",
    "PAYMENT_VERIFICATION_DATA_MISMATCHED",
    "TRANSACTION_VERIFY_FAILED",
    "QR_EXPIRED",
    "FRAUD_DETECTED",
    "AMK_UNKNOWN_ERROR",
    "MERCHANT_NOT_BIND",
}


def every_error_class() -> list[type[PayHubError]]:
    found: list[type[PayHubError]] = []
    todo: list[type[PayHubError]] = [PayHubError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return [c for c in found if c.__module__ == hub.errors.__name__]


def instance(cls: type[PayHubError]) -> PayHubError:
    """One error of ``cls`` built with the fewest arguments its constructor takes."""
    params = [p for p in inspect.signature(cls).parameters.values() if p.default is p.empty]
    samples = {"reason": "r", "errors": ["e"], "problems": [], "breaker": "b", "retry_after": 1, "constraint": "c"}
    return cls(**{p.name: samples.get(p.name, "x") for p in params})


@pytest.mark.parametrize("cls", every_error_class(), ids=lambda c: c.__name__)
def test_support_contact_exactly_on_payment_errors(cls: type[PayHubError]) -> None:
    err = instance(cls)
    error = error_body(err, "cid", support_contact="desk@insurer.example")["error"]
    assert ("supportContact" in error) is cls.payment_error
    if cls.payment_error:
        assert error["supportContact"] == "desk@insurer.example"
        # AMK's BANK_NOT_FOUND is a payment error; PayHub's own bankCode refusal (BankNotFound) is not.
        assert err.code in PAYMENT_CODES | {"BANK_NOT_FOUND"}
    assert "transactionId" not in error
    assert "supportContact" not in error_body(err, "cid")["error"]  # no contact configured: none named


@pytest.mark.parametrize("cls", every_error_class(), ids=lambda c: c.__name__)
def test_transaction_id_whenever_one_is_known(cls: type[PayHubError]) -> None:
    err = instance(cls)
    err.transaction_id = "AMK202510070001"
    assert error_body(err, "cid")["error"]["transactionId"] == "AMK202510070001"


def test_the_spec_payment_codes_are_all_marked() -> None:
    marked = {c.code for c in every_error_class() if c.payment_error}
    assert marked >= PAYMENT_CODES
    assert not {"BAD_REQUEST", "UNAUTHORIZED", "RESOURCE_NOT_FOUND", "SERVICE_UNAVAILABLE"} & marked
