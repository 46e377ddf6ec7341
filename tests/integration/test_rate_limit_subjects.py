"""Who a rate limit counts (issue 7 §5 rate limits): the bank's signed payment notices are never refused
by a rate limit while what is not the bank still is (spec "Webhook endpoint protection with burst
capacity", and money the bank reports is never refused for a detail: AMK retries only up to a limit);
customers are limited each, not together behind the PayHub service that asks the gateway for them."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import auth_header, bank_paid, bill_body, signed, sqlite_process

KHQR_PARAMS = {"bankCode": '{"id":"AMK","bank":"AMK"}', "billNumber": "P123456789"}


async def test_signed_bank_notice_passes_when_its_address_is_over_the_limit(tmp_path: Path) -> None:
    # IP limit 4/min, burst 3 per 30 s. Customers behind the bank's address (or the bank's own look-ups)
    # use up the address's budget; the bank's notice of money must still land.
    async with sqlite_process(tmp_path, rate_ip_per_min=4) as (c, client):
        codes = [
            (
                await client.get("/AMK/payments", params={"query": "P123456789"}, headers=auth_header(c, sub=f"u{i}"))
            ).status_code
            for i in range(4)
        ]
        assert codes == [200, 200, 200, 429]
        body = bill_body()
        bank_paid(c, body["bankTransactionId"])
        raw, headers = signed(c, body)
        r = await client.post("/AMK/payments", content=raw, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["data"]["status"] == "CONFIRMED"
        for _ in range(5):  # AMK's retries of the same notice: answered, never 429
            again = await client.post("/AMK/payments", content=raw, headers=headers)
            assert again.status_code == 200, again.text


async def test_requests_that_are_not_the_bank_are_still_limited(tmp_path: Path) -> None:
    async with sqlite_process(tmp_path, rate_ip_per_min=4) as (c, client):
        raw, headers = signed(c, bill_body(), secret="not-the-bank-secret-value")
        codes = [(await client.post("/AMK/payments", content=raw, headers=headers)).status_code for _ in range(5)]
        assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429], codes
        r = await client.post("/AMK/khqr", content=b"{}", headers={"Content-Type": "application/json"})
        assert r.status_code == 429, r.text  # no token: counted too, and the address is over its limit
        body = bill_body()
        bank_paid(c, body["bankTransactionId"])
        raw, headers = signed(c, body)
        r = await client.post("/AMK/payments", content=raw, headers=headers)
        assert r.status_code == 200, r.text  # the real bank from the same address is still heard


async def test_customers_are_limited_each_not_together_through_the_khqr_service(tmp_path: Path) -> None:
    # The KHQR service asks the gateway's inquiry with its own service token for every customer. The
    # spec's limits are per user and per IP: counting those calls against the service would cap QR codes
    # for all customers together at one user's limit (here 3 per 30 s).
    async with sqlite_process(tmp_path, rate_user_per_min=4, trusted_proxies=("127.0.0.0/8",)) as (c, client):
        codes = []
        for i in range(6):
            headers = {**auth_header(c, sub=f"customer-{i}"), "X-Forwarded-For": f"198.51.100.{i}"}
            r = await client.get("/khqr", params=KHQR_PARAMS, headers=headers)
            codes.append(r.status_code)
        assert codes == [200] * 6, codes
        # each customer still has their own limit at the edge
        headers = auth_header(c, sub="customer-0")
        mine = [(await client.get("/khqr", params=KHQR_PARAMS, headers=headers)).status_code for _ in range(3)]
        assert mine == [200, 200, 429], mine


async def test_a_client_rotating_ipv6_addresses_in_its_64_is_one_client(tmp_path: Path) -> None:
    """Found by review: the per-IP limit keyed an IPv6 client by its whole address, so a client taking a
    new address of its /64 for each request (any home connection holds 2^64) was never limited."""
    async with sqlite_process(tmp_path, rate_ip_per_min=4, trusted_proxies=("127.0.0.0/8",)) as (c, client):

        async def ask(n: int, address: str) -> int:
            headers = {**auth_header(c, sub=f"u{n}"), "X-Forwarded-For": address}
            return (await client.get("/AMK/payments", params={"query": "P123456789"}, headers=headers)).status_code

        codes = [await ask(n, f"2001:db8:1:2:{n:x}:{n:x}:{n:x}:{n:x}") for n in range(1, 5)]
        assert codes == [200, 200, 200, 429], codes  # IP limit 4/min, burst 3 per 30 s
        assert await ask(5, "2001:db8:1:3::5") == 200  # another /64 is another client
        assert await ask(6, "::ffff:198.51.100.7") == 200 and await ask(7, "198.51.100.8") == 200
