"""Shared by the recovery tests: switch the ways of sending on, and read what was queued."""

import re
import socket

from sqlalchemy import select

from lms.extensions import db
from lms.outbox import personal
from lms.outbox.models import OutboxMessage

# Small limits, so that tests reach them in a few steps.
LIMITS = {"LMS_RECOVERY_PER_ACCOUNT": 3, "LMS_RECOVERY_PER_SOURCE": 6, "LMS_RECOVERY_WINDOW_MINUTES": 60,
          "LMS_RECOVERY_CODE_ATTEMPTS": 3, "LMS_RESET_LINK_MINUTES": 30, "LMS_RESET_CODE_MINUTES": 10}


def enable_recovery(app, monkeypatch, *, smtp_port: int = 25, **more) -> None:
    """Mail (to an SMTP server that is only contacted when a test delivers) and console texts."""
    settings = {"LMS_SMTP_HOST": "127.0.0.1", "LMS_SMTP_PORT": smtp_port, "LMS_SMS_SENDER": "console",
                **LIMITS, **more}
    for key, value in settings.items():
        monkeypatch.setitem(app.config, key, value)


def queued(channel: str | None = None) -> list[dict]:
    """The personal messages waiting in the outbox, oldest first, opened as the sender opens them."""
    query = select(OutboxMessage).where(OutboxMessage.channel.in_([channel] if channel else ["mail", "sms"]),
                                        OutboxMessage.status == "pending").order_by(OutboxMessage.id)
    return [personal.unseal(message) for message in db.session.scalars(query)]


def secret_in(text: str) -> str:
    """The code of a text message, or the token of a reset link (after its #)."""
    found = re.search(r"#(\S+)", text) or re.search(r"验证码 (\d{6})", text)
    assert found, text
    return found.group(1)


def last_secret(channel: str | None = None) -> str:
    return secret_in(queued(channel)[-1]["text"])


class MailBox:
    """A real SMTP server on loopback (aiosmtpd) keeping what it receives."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages = []  # email.message.EmailMessage
        box = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                from email import message_from_bytes, policy

                box.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
                return "250 Message accepted for delivery"

        with socket.socket() as probe:  # aiosmtpd checks its server by connecting: it needs a real port
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()
