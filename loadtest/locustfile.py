"""Locust scenarios against a running PayHub (loopback only).

    PAYHUB_RATE_USER_PER_MIN=1000000 PAYHUB_RATE_IP_PER_MIN=1000000 PAYHUB_FRAUD_RULES=[] .venv/bin/payhub run &
    .venv/bin/pip install -e '.[load]'
    .venv/bin/locust -f loadtest/locustfile.py --host http://127.0.0.1:8000 --headless -u 200 -r 50 -t 60s

* ``WebhookBank``: AMK's side — signed bill webhooks for the demo premiums, each sent twice
  (a bank retry), against the real signature and verification path (the sandbox knows them).
* ``WaitingCustomer``: a customer who asks for a KHQR and waits on the SSE stream, like the
  phones that today poll every 5 seconds.
Secrets are the sandbox defaults (override with the same PAYHUB_* variables as the server).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid

import jwt
import requests
from locust import HttpUser, between, task

from hub.adapters.amk.signature import signature_header
from hub.secrets_policy import SANDBOX_JWT_SECRET, SANDBOX_WEBHOOK_SECRET

JWT_SECRET = os.environ.get("PAYHUB_JWT_SECRET", SANDBOX_JWT_SECRET)
WEBHOOK_SECRET = os.environ.get("PAYHUB_AMK_WEBHOOK_SECRET", SANDBOX_WEBHOOK_SECRET).split(",")[0]
POLICIES = ["P123456789", "P555000111"]


def token(role: str, sub: str) -> str:
    now = int(time.time())
    claims = {"sub": sub, "role": role, "iss": "payhub", "iat": now, "exp": now + 3600}
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


class WebhookBank(HttpUser):
    wait_time = between(0.01, 0.1)

    def on_start(self) -> None:
        self.auth = {"Authorization": f"Bearer {token('amk', 'load-bank')}"}

    @task
    def bill_payment_with_retry(self) -> None:
        tx = f"LOAD{uuid.uuid4().hex[:16].upper()}"
        body = {
            "id": 150001,
            "policyNumber": "P123456789",
            "amount": 150.00,
            "currency": "USD",
            "bankTransactionId": tx,
            "payer": "Load Test",
            "paidDate": time.strftime("%Y%m%d%H%M%S"),
        }
        raw = json.dumps(body).encode()
        for _ in range(2):  # the bank's retry must get the same answer
            ts = int(time.time())
            headers = {
                **self.auth,
                "Content-Type": "application/json",
                "X-AMK-Timestamp": str(ts),
                "X-AMK-Signature": signature_header([WEBHOOK_SECRET], ts, raw),
            }
            # Unknown to the sandbox bank, so AMK's verify says "not paid" (422): the full check path.
            with self.client.post(
                "/AMK/payments", data=raw, headers=headers, name="POST /AMK/payments", catch_response=True
            ) as r:
                if r.status_code in (200, 202, 422):
                    r.success()


class WaitingCustomer(HttpUser):
    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.auth = {"Authorization": f"Bearer {token('customer', f'load-{uuid.uuid4().hex[:8]}')}"}

    @task
    def wait_for_payment(self) -> None:
        policy = POLICIES[int(time.time()) % len(POLICIES)]
        r = self.client.get("/AMK/payments", params={"query": policy}, headers=self.auth, name="GET /AMK/payments")
        if r.status_code != 200:
            return
        data = r.json()["data"]
        url = f"{data['eventsUrl']}?token={data['subscribeToken']}"
        # Hold the stream for a few seconds, as a phone would while the customer pays.
        # (locust ≥ 2.x allows a with-block only with catch_response; the stream counts once its head is in.)
        # The read timeout is the 5 s hold: nothing but a heartbeat (every 15 s) comes while nobody pays.
        with self.client.get(
            url, stream=True, name="SSE /api/payments/{id}/events", timeout=(10, 5), catch_response=True
        ) as stream:
            if stream.status_code not in (200, 204):
                stream.failure(f"HTTP {stream.status_code}")
                return
            stream.success()
            deadline = time.time() + 5
            with contextlib.suppress(requests.exceptions.ConnectionError):  # the hold's read timeout
                for line in stream.iter_lines():
                    if time.time() > deadline or b"CONFIRMED" in line:
                        break
