"""Messages to a person (an e-mail, a text message), sent once after the transaction commits.

A domain service calls :func:`queue_message` inside the transaction that makes the change (a
password-reset code, a verification code). How it travels is not its concern: the outbox
(:mod:`lms.outbox.personal`, a floor above) registers itself here with :func:`register_queue`
when the app starts, writes the message into the transaction, and delivers it after the commit,
with retries. A transaction that rolls back sends nothing.

The text may hold a secret (a one-time code or link), so whoever carries it must not write it to
logs nor keep it after it is delivered or has expired.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime


class Channel:
    MAIL = "mail"
    SMS = "sms"


@dataclass(frozen=True)
class PersonalMessage:
    channel: str  # Channel.MAIL or Channel.SMS
    to: str  # an e-mail address or an 11-digit mobile number
    subject: str  # mail only
    text: str
    purpose: str  # what it is for, e.g. "password_reset" (the SMS gateway's template may depend on it)
    expires_at: datetime  # naive UTC: after this the message is useless and is not sent


_queue: Callable[[PersonalMessage], None] | None = None


def register_queue(queue: Callable[[PersonalMessage], None]) -> None:
    global _queue
    _queue = queue


def queue_message(message: PersonalMessage) -> None:
    """Write ``message`` into the current transaction; it is sent after the commit."""
    if _queue is None:
        raise RuntimeError("no message queue registered (lms.outbox.personal.connect)")
    _queue(message)
