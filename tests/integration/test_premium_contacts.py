"""The payer's contact: optional CSV columns (validated like the rest, all or nothing), kept by the store,
and given by the integration service to PayHub's services (never to customers, never into the cache)."""

from __future__ import annotations

import email.utils
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.adapters.integration import IntegrationClient
from hub.domain.notification import Contact, Language, is_email_address
from hub.errors import PremiumImportError
from integration.premiums import parse_premiums_csv
from tests.conftest import auth_header, sqlite_process

HEADER = "id,policy_number,application_number,payer,amount,currency,due_date"


def test_contact_columns_are_optional_and_validated() -> None:
    plain = parse_premiums_csv(f"{HEADER}\n1,P000000001,,A B,1.00,USD,2027-01-01\n")
    assert plain[0].contact == Contact()
    rows = parse_premiums_csv(
        f"{HEADER},payer_phone,payer_email,push_token,language\n"
        "1,P000000001,,A B,1.00,USD,2027-01-01,+855 12-345-678,a.b@example.com,fcm:tok_1,KM\n"
        "2,P000000002,,C D,9000,KHR,2027-01-02,,,,\n"
    )
    assert rows[0].contact == Contact("+85512345678", "a.b@example.com", "fcm:tok_1", Language.KM)
    assert rows[1].contact == Contact()
    with pytest.raises(PremiumImportError) as info:
        parse_premiums_csv(
            f"{HEADER},payer_phone,payer_email,push_token,language\n"
            "1,P000000001,,A B,1.00,USD,2027-01-01,12,not-an-address,has space,fr\n"
        )
    assert [e.split(":")[1].strip() for e in info.value.errors] == [
        "payer_phone",
        "payer_email",
        "push_token",
        "language",
    ]


@pytest.mark.parametrize(
    "address",
    [
        "a(b)@example.com",  # a comment in a header: the mail went to a@example.com
        "x:y@example.com",  # a group: the mail went to y@example.com
        "a)b@example.com",  # the mail went to "a", no domain
        'a"b@example.com',
        "a\\b@example.com",
        ".a@example.com",
        "a..b@example.com",
        "a.@example.com",
        "é@example.com",  # needs SMTPUTF8, which most servers lack: retried for days, never delivered
    ],
)
def test_an_address_is_refused_unless_it_is_the_mailbox_it_names(address: str) -> None:
    with pytest.raises(PremiumImportError) as info:
        parse_premiums_csv(f"{HEADER},payer_email\n1,P000000001,,A B,1.00,USD,2027-01-01,{address}\n")
    assert [e.split(":")[1].strip() for e in info.value.errors] == ["payer_email"]


@given(st.emails())
def test_every_address_accepted_is_read_back_from_a_to_header_as_itself(address: str) -> None:
    if is_email_address(address):
        assert email.utils.getaddresses([address]) == [("", address)]


@given(st.text(alphabet=st.characters(codec="ascii"), max_size=30).map(lambda local: local + "@example.com"))
def test_no_local_part_accepted_turns_into_another_mailbox(address: str) -> None:
    if is_email_address(address):
        assert email.utils.getaddresses([address]) == [("", address)]


async def test_the_integration_service_gives_contacts_to_services_only(tmp_path: Path) -> None:
    async with sqlite_process(tmp_path) as (c, client):
        r = await client.get("/integration/premiums/150002", headers=auth_header(c, "service"))
        assert r.json()["data"]["contact"] == {
            "phone": "+85598765432",
            "email": "sok.dara@example.com",
            "pushToken": "sandbox-device-sok-dara",
            "language": "km",
        }
        assert (await client.get("/integration/premiums/150002", headers=auth_header(c))).status_code == 403
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=c.app), base_url="http://t", headers=auth_header(c, "service")
        )
        async with http:
            premium = await IntegrationClient(http).premium(150002)
        assert premium.contact.language is Language.KM
        inquiry = await client.get("/AMK/payments", params={"query": "P987654321"}, headers=auth_header(c))
        assert "contact" not in inquiry.json()["data"] and "sok.dara" not in inquiry.text
