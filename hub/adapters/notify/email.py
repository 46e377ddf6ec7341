"""Email through SMTP (aiosmtplib): a ``multipart/alternative`` message with a text and an HTML part.

``smtp://[user:password@]host[:port][?starttls=auto|required|off]`` (port 587 by default; STARTTLS when
the server offers it, unless told otherwise) or ``smtps://…`` (TLS from the first byte, port 465).
``Message-ID: <messageId@payhub>`` is the same on every attempt, so a message sent again after a crash
in flight is recognised as the same one.

The envelope names the recipient itself; an address that is not a plain ``local@host``
(``hub.domain.notification.is_email_address``) is refused, never sent to what its header form reads as.

Outcomes (RFC 5321 reply codes): accepted → sent; a recipient refused or a 5xx reply → refused; a 4xx
reply (try again later), a refused login (our configuration), no connection, a timeout → retriable.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from urllib.parse import parse_qs, unquote, urlsplit

from hub.domain.notification import Channel, is_email_address
from hub.errors import ChannelUnavailable, ConfigError, NotificationRefused
from hub.ports.notify import Outbound

STARTTLS = {"auto": None, "required": True, "off": False}


@dataclass(frozen=True)
class SmtpConfig:
    hostname: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False
    start_tls: bool | None = None
    timeout_s: float = 15.0

    @classmethod
    def from_url(cls, url: str, *, timeout_s: float = 15.0) -> SmtpConfig:
        """Raises ConfigError for another scheme, no host, or an unknown ``starttls`` value."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigError("PAYHUB_NOTIFY_SMTP_URL must be smtp://host[:port] or smtps://host[:port]")
        mode = (parse_qs(parts.query).get("starttls") or ["auto"])[0]
        if mode not in STARTTLS:
            raise ConfigError("PAYHUB_NOTIFY_SMTP_URL: starttls must be auto, required or off")
        implicit = parts.scheme == "smtps"
        return cls(
            hostname=parts.hostname,
            port=parts.port or (465 if implicit else 587),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=implicit,
            start_tls=False if implicit else STARTTLS[mode],
            timeout_s=timeout_s,
        )


def mime(message: Outbound, sender: str, sender_name: str = "") -> EmailMessage:
    """The email of ``message``: text part, then HTML part (readers show the last one they can)."""
    mail = EmailMessage()
    mail["From"] = formataddr((sender_name, sender)) if sender_name else sender
    mail["To"] = message.recipient
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = f"<{message.message_id}@payhub>"
    mail.set_content(message.text)
    if message.html:
        mail.add_alternative(message.html, subtype="html")
    return mail


class EmailChannel:
    """``hub.ports.NotificationChannel`` for email over SMTP; one connection per message."""

    channel = Channel.EMAIL

    def __init__(self, config: SmtpConfig, sender: str, sender_name: str = "") -> None:
        self._config = config
        self.sender = sender
        self.sender_name = sender_name

    async def send(self, message: Outbound) -> None:
        import aiosmtplib

        if not is_email_address(message.recipient):  # its To header would name another mailbox, or none
            raise NotificationRefused("not an email address", details=message.recipient[:80])
        c = self._config
        try:
            await aiosmtplib.send(
                mime(message, self.sender, self.sender_name),
                sender=self.sender,
                recipients=[message.recipient],  # the envelope is the address itself, not read back from To
                hostname=c.hostname,
                port=c.port,
                username=c.username,
                password=c.password,
                use_tls=c.use_tls,
                start_tls=c.start_tls,
                timeout=c.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise NotificationRefused("SMTP server refused the recipient", details=str(exc)) from exc
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise ChannelUnavailable("SMTP server refused our login", details=str(exc)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code >= 500:
                raise NotificationRefused(f"SMTP server refused the message ({exc.code})", details=str(exc)) from exc
            raise ChannelUnavailable(f"SMTP server answered {exc.code}", details=str(exc)) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise ChannelUnavailable("SMTP server unreachable", details=f"{type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        return None
