"""Mail and text messages to a person (channels ``mail`` and ``sms``), through the outbox.

:func:`connect` registers :func:`queue` with :mod:`lms.core.messages`, where services hand over a
:class:`~lms.core.messages.PersonalMessage` inside their transaction. The message is written to the
outbox encrypted (a key derived from ``LMS_DATA_KEY``: it may hold a one-time code), sent after the
commit, retried with backoff like every outbox message, and its payload is erased once it is
delivered, has expired (``Undeliverable``: a code nobody can use any more is not sent) or is given
up. Neither the text nor the address is ever written to a log.

Mail goes over SMTP (``LMS_SMTP_HOST`` and the settings beside it). Text messages go through ``LMS_SMS_SENDER``:

- ``http``: one JSON POST to ``LMS_SMS_GATEWAY_URL`` (the contract: docs/sms-gateway.md);
- ``console``: printed to the server's standard error, for development. It is not a log handler,
  so nothing a log collector reads holds the code, and start-up refuses it with
  ``LMS_ENV=production`` (lms/config.py ``settle_config``).
"""

import json
import smtplib
import ssl
import sys
import uuid
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from cryptography.fernet import InvalidToken
from flask import current_app

from ..core import messages
from ..core.clock import utcnow_naive
from ..core.keys import fernet
from .delivery import NotReady, OutgoingRequest, Undeliverable, add_message, sender
from .models import OutboxMessage

_KEY_PURPOSE = b"outbox-personal-message"


def _config(name: str):
    return current_app.config[name]


def queue(message: messages.PersonalMessage) -> OutboxMessage:
    """Write ``message`` into the outbox, encrypted; it is sent after the commit."""
    body = json.dumps({"to": message.to, "subject": message.subject, "text": message.text,
                       "purpose": message.purpose, "expires_at": message.expires_at.isoformat()},
                      ensure_ascii=False)
    sealed = fernet(_KEY_PURPOSE).encrypt(body.encode()).decode()
    return add_message(channel=message.channel, event_type=f"{message.channel}.{message.purpose}",
                       event_id=str(uuid.uuid4()), payload=sealed)


def unseal(message: OutboxMessage) -> dict:
    """The message's content (to, subject, text, purpose, expires_at), or Undeliverable when it is
    gone (erased once sent) or was sealed with another key."""
    try:
        return json.loads(fernet(_KEY_PURPOSE).decrypt(message.payload.encode()))
    except (InvalidToken, ValueError):
        raise Undeliverable("the message's content cannot be read (erased, or sealed with another key)") from None


def _open(message: OutboxMessage) -> dict:
    """The content of a message still worth sending; Undeliverable when it is gone or expired."""
    content = unseal(message)
    if datetime.fromisoformat(content["expires_at"]) <= utcnow_naive():
        raise Undeliverable("expired before it could be sent: the code in it no longer works")
    return content


# ---------------------------------------------------------------- mail

@dataclass
class OutgoingMail:
    message: EmailMessage
    audit: tuple[str, dict] | None = None

    def send(self) -> tuple[bool, int | None, str | None]:
        host, port = _config("LMS_SMTP_HOST"), int(_config("LMS_SMTP_PORT"))
        timeout = float(_config("LMS_OUTBOX_TIMEOUT_SECONDS"))
        tls = _config("LMS_SMTP_TLS")
        try:
            if tls == "ssl":
                smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(host, port, timeout=timeout)
            with smtp:
                if tls == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if _config("LMS_SMTP_USER"):
                    smtp.login(_config("LMS_SMTP_USER"), _config("LMS_SMTP_PASSWORD"))
                refused = smtp.send_message(self.message)
        except smtplib.SMTPResponseException as exc:
            return False, exc.smtp_code, f"SMTP {exc.smtp_code}: {exc.__class__.__name__}"
        # Connection refused, timeout, TLS, recipients refused; an address the server cannot take (ValueError).
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            return False, None, f"{exc.__class__.__name__} talking to {host}:{port}"
        if refused:
            return False, None, "the mail server refused the recipient"
        return True, 250, None


@sender(messages.Channel.MAIL, private=True)
def build_mail(message: OutboxMessage) -> OutgoingMail:
    content = _open(message)
    if not _config("LMS_SMTP_HOST"):
        raise NotReady("LMS_SMTP_HOST is not set")
    mail = EmailMessage()
    mail["From"] = _config("LMS_MAIL_FROM")
    mail["To"] = content["to"]
    mail["Subject"] = content["subject"]
    mail["Date"] = formatdate(localtime=False)
    # The same id on every retry: a mail server or reader can tell a resent copy.
    mail["Message-ID"] = make_msgid(idstring=message.event_id, domain="gongxu-lms")
    mail.set_content(content["text"])
    return OutgoingMail(mail)


# ---------------------------------------------------------------- text messages

@dataclass
class ConsoleText:
    to: str
    text: str
    audit: tuple[str, dict] | None = None

    def send(self) -> tuple[bool, int | None, str | None]:
        print(f"[SMS → {self.to}] {self.text}", file=sys.stderr, flush=True)
        return True, None, None


def gateway_body(message: OutboxMessage, content: dict) -> dict:
    """The JSON the gateway receives (docs/sms-gateway.md)."""
    return {"id": message.event_id, "to": content["to"], "text": content["text"], "purpose": content["purpose"],
            "expires_at": content["expires_at"] + "Z"}


@sender(messages.Channel.SMS, private=True)
def build_text(message: OutboxMessage) -> "OutgoingRequest | ConsoleText":
    content = _open(message)
    kind = _config("LMS_SMS_SENDER")
    if kind == "console":
        return ConsoleText(content["to"], content["text"])
    if kind != "http" or not _config("LMS_SMS_GATEWAY_URL"):
        raise NotReady("no SMS sender configured (LMS_SMS_SENDER=http with LMS_SMS_GATEWAY_URL)")
    headers = {"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": message.event_id}
    if _config("LMS_SMS_GATEWAY_KEY"):
        headers["Authorization"] = f"Bearer {_config('LMS_SMS_GATEWAY_KEY')}"
    body = json.dumps(gateway_body(message, content), ensure_ascii=False).encode()
    return OutgoingRequest(url=_config("LMS_SMS_GATEWAY_URL"), body=body, headers=headers, quote_response=False)


def connect() -> None:
    """Let services queue personal messages (lms.core.messages)."""
    messages.register_queue(queue)
