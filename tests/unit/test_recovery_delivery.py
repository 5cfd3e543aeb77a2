"""Mail and text messages to a person, delivered for real: a reset link read from a real SMTP server
on loopback (aiosmtpd) and followed, and the SMS gateway's JSON contract (docs/sms-gateway.md)
against a real HTTP server on loopback. Retries, expiry and the erasing of the sealed text."""

import json
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select
from werkzeug.security import check_password_hash

from lms.accounts import recovery
from lms.core.clock import freeze
from lms.extensions import db
from lms.outbox.delivery import deliver_due
from lms.outbox.models import OutboxMessage
from tests.recovery_helpers import MailBox, enable_recovery, secret_in

pytestmark = pytest.mark.usefixtures("ctx")

T0 = datetime(2026, 3, 2, 1, 0)
NEW = "NewStudy2026a"


class Gateway:
    """An SMS gateway on loopback: answers with ``status`` and keeps what it was sent."""

    def __init__(self):
        self.received, self.status = [], 200
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                gateway.received.append((dict(self.headers), json.loads(body)))
                echo = body if gateway.status >= 400 else b""  # a careless gateway echoes what it got
                self.send_response(gateway.status)
                self.send_header("Content-Length", str(len(echo)))
                self.end_headers()
                self.wfile.write(echo)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/sms/send"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def mailbox(app, monkeypatch):
    with MailBox() as box:
        enable_recovery(app, monkeypatch, smtp_port=box.port, LMS_MAIL_FROM="平台 <noreply@lms.example.org>")
        yield box


@pytest.fixture
def person(make_user):
    return make_user(email="zhang@example.org", real_name="张三")


def _message(channel):
    return db.session.scalars(select(OutboxMessage).where(OutboxMessage.channel == channel)
                              .order_by(OutboxMessage.id.desc())).first()


def test_the_reset_mail_arrives_and_its_link_resets_the_password(app, db_session, mailbox, person):
    with freeze(T0):
        recovery.request_reset("ZHANG@example.org", "mail", source="203.0.113.7")
        db_session.commit()
        assert mailbox.messages == []  # nothing leaves before the outbox delivers, after the commit
        assert deliver_due().delivered == 1
    [mail] = mailbox.messages
    assert mail["To"] == "zhang@example.org" and mail["Subject"] == "重设密码"
    assert "noreply@lms.example.org" in mail["From"]
    body = mail.get_content()
    assert "张三" in body and "30 分钟" in body
    link = next(word for word in body.split() if word.startswith("http"))
    assert link.startswith(app.config["LMS_PUBLIC_URL"].rstrip("/") + "/password/reset#")
    assert _message("mail").payload == ""  # sent: the sealed copy is gone
    with freeze(T0 + timedelta(minutes=29)):
        assert recovery.reset_with_link(secret_in(body), NEW) is person
    assert check_password_hash(person.password_hash, NEW)
    assert person.email_verified_at is not None  # the link reached the registered address


def test_a_mail_server_that_is_down_is_retried_until_the_link_expires(app, db_session, monkeypatch, person):
    enable_recovery(app, monkeypatch, smtp_port=1)  # nothing listens on port 1
    with freeze(T0):
        recovery.request_reset(person.email, "mail", source="203.0.113.7")
        db_session.commit()
        report = deliver_due()
    message = _message("mail")
    assert report.retrying == 1 and message.status == "pending" and message.payload  # kept, sealed
    assert "127.0.0.1:1" in message.last_error and person.email not in message.last_error
    with MailBox() as box:
        monkeypatch.setitem(app.config, "LMS_SMTP_PORT", box.port)
        with freeze(T0 + timedelta(minutes=31)):  # the retry comes after the link's 30 minutes
            assert deliver_due().failed == 1
        assert box.messages == []  # a dead link is not sent
    db_session.refresh(message)
    assert message.status == "undeliverable" and message.payload == ""


def test_the_sms_gateway_receives_the_documented_json(app, db_session, monkeypatch, person):
    with Gateway() as gateway:
        enable_recovery(app, monkeypatch, LMS_SMS_SENDER="http", LMS_SMS_GATEWAY_URL=gateway.url,
                        LMS_SMS_GATEWAY_KEY="gw-key-1")
        with freeze(T0):
            recovery.request_reset(person.mobile, "sms", source="203.0.113.7")
            db_session.commit()
            gateway.status = 503
            assert deliver_due().retrying == 1
            code = secret_in(gateway.received[0][1]["text"])
            assert "HTTP 503" in _message("sms").last_error and code not in _message("sms").last_error
        gateway.status = 200
        with freeze(T0 + timedelta(minutes=5)):
            assert deliver_due().delivered == 1
    (first_headers, first), (headers, body) = gateway.received
    assert first == body and first_headers["Idempotency-Key"] == headers["Idempotency-Key"] == body["id"]
    assert headers["Authorization"] == "Bearer gw-key-1"
    assert headers["Content-Type"].startswith("application/json")
    assert set(body) == {"id", "to", "text", "purpose", "expires_at"}
    assert body["to"] == person.mobile and body["purpose"] == "reset"
    assert body["expires_at"].startswith("2026-03-02T01:10:00") and body["expires_at"].endswith("Z")
    assert secret_in(body["text"]) == code and _message("sms").payload == ""
    with freeze(T0 + timedelta(minutes=6)):
        assert recovery.reset_with_code(person.mobile, code, NEW).user is person


def test_an_expired_text_is_not_sent(app, db_session, monkeypatch, person):
    with Gateway() as gateway:
        enable_recovery(app, monkeypatch, LMS_SMS_SENDER="http", LMS_SMS_GATEWAY_URL=gateway.url)
        with freeze(T0):
            recovery.request_reset(person.mobile, "sms", source="203.0.113.7")
            db_session.commit()
        with freeze(T0 + timedelta(minutes=10)):
            assert deliver_due().failed == 1
    assert gateway.received == [] and _message("sms").status == "undeliverable"
