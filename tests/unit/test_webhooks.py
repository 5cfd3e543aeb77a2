"""Webhook events through the outbox, to a real HTTP receiver on loopback, under a moved clock."""

import json
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from lms.accounts import crypto
from lms.api import webhooks
from lms.api.models import WEBHOOK_EVENTS, ApiClient, WebhookSubscription
from lms.core import clock
from lms.credits import services as ledger
from lms.outbox.delivery import deliver_due
from lms.outbox.models import OutboxMessage, OutboxStatus
from tests.records_helpers import UNIT_A, UNIT_B, completion, employee

pytestmark = pytest.mark.usefixtures("ctx", "loopback_receivers")

T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
BACKOFF = 10


class Receiver:
    """A webhook receiver on loopback. Each request gets the next planned answer (then 200):

    - an int: that status (the event is not stored unless 2xx);
    - ``"store-500"``: the event is stored, but the answer is 500 (so it will come again);
    - ``"hang"``: no answer until :attr:`release` is set (the sender times out).

    Stored events are applied once per event id, only when the signature and timestamp verify."""

    def __init__(self, secret: str | None = None, plan=()):
        self.secret = secret
        self.plan = list(plan)
        self.requests: list[tuple[dict, bytes]] = []
        self.applied: dict[str, dict] = {}
        self.order: list[str] = []
        self.bad_signatures = 0
        self.delay = 0.0  # seconds before each answer (lets concurrent senders overlap)
        self.on_request = None  # called (in the server's thread) as each request arrives
        self.release = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items()}
                if receiver.on_request is not None:
                    receiver.on_request()
                with receiver.lock:
                    receiver.requests.append((headers, body))
                    action = receiver.plan.pop(0) if receiver.plan else 200
                if receiver.delay:
                    time.sleep(receiver.delay)
                if action == "hang":
                    receiver.release.wait(30)
                    return
                if action == "store-500" or (isinstance(action, int) and 200 <= action < 300):
                    receiver.store(headers, body)
                status = 500 if action == "store-500" else action
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/gongxu"

    def store(self, headers: dict, body: bytes) -> None:
        if self.secret is not None and not webhooks.verify(
                self.secret, headers.get("X-Gongxu-Timestamp"), body, headers.get("X-Gongxu-Signature"),
                at=clock.now().timestamp()):
            self.bad_signatures += 1
            return
        event_id = headers.get("X-Gongxu-Delivery") or json.loads(body)["id"]
        with self.lock:
            if event_id not in self.applied:
                self.applied[event_id] = json.loads(body)
                self.order.append(event_id)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def subscribe(db_session, url, *, organization_id=None, region_code=None, events=WEBHOOK_EVENTS,
              full_id_numbers=False, secret=None):
    secret = secret or secrets.token_urlsafe(24)
    client = ApiClient(name="人事系统", key_id=secrets.token_hex(8), secret_hash="0" * 64,
                       organization_id=organization_id, region_code=region_code, full_id_numbers=full_id_numbers)
    sub = WebhookSubscription(client=client, url=url, secret_encrypted=crypto.encrypt(secret), events=",".join(events))
    db_session.add_all([client, sub])
    db_session.commit()
    return sub, secret


def messages(db_session, sub=None):
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if sub is not None:
        query = query.where(OutboxMessage.subscription_id == sub.id)
    return list(db_session.scalars(query))


def assert_signed(receiver, secret):
    """Every request the receiver got carries a valid signature over its own timestamp."""
    for headers, body in receiver.requests:
        assert webhooks.verify(secret, headers["X-Gongxu-Timestamp"], body, headers["X-Gongxu-Signature"],
                               at=int(headers["X-Gongxu-Timestamp"]))
        assert headers["X-Gongxu-Event"] == json.loads(body)["type"]
        assert headers["X-Gongxu-Delivery"] == json.loads(body)["id"]


@pytest.fixture
def loopback_receivers(app, monkeypatch):
    """The receivers of these tests listen on 127.0.0.1, which production refuses at send time."""
    monkeypatch.setitem(app.config, "LMS_WEBHOOK_ALLOW_PRIVATE", True)


@pytest.fixture
def backoff(app, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_OUTBOX_BACKOFF_SECONDS", BACKOFF)
    monkeypatch.setitem(app.config, "LMS_OUTBOX_TIMEOUT_SECONDS", 2)


def test_a_created_event_is_signed_and_delivered_after_two_failures(db_session, make_user, backoff):
    learner = employee(make_user, UNIT_A)
    with Receiver(plan=[500, 500]) as receiver:
        sub, secret = subscribe(db_session, receiver.url, organization_id=learner.employer_id)
        receiver.secret = secret
        at = T0
        with clock.freeze(at):
            record = completion(db_session, learner)
        [message] = messages(db_session, sub)
        assert message.status == OutboxStatus.PENDING and receiver.requests == []  # nothing sent in the transaction

        with clock.freeze(at):
            assert deliver_due().retrying == 1
            assert deliver_due().ids == []  # not due again before its backoff
        db_session.refresh(message)
        assert (message.attempts, message.last_status, message.status) == (1, 500, OutboxStatus.PENDING)
        assert "HTTP 500" in message.last_error
        assert at.replace(tzinfo=None) + timedelta(seconds=BACKOFF / 2) <= message.next_attempt_at \
            <= at.replace(tzinfo=None) + timedelta(seconds=BACKOFF)

        at += timedelta(seconds=BACKOFF)
        with clock.freeze(at):
            assert deliver_due().retrying == 1
        db_session.refresh(message)
        assert message.attempts == 2 and message.next_attempt_at > at.replace(tzinfo=None) + timedelta(seconds=BACKOFF - 1)

        at += timedelta(seconds=2 * BACKOFF)
        with clock.freeze(at):
            assert deliver_due().delivered == 1
            assert deliver_due().ids == []
        db_session.refresh(message)
        assert message.status == OutboxStatus.DELIVERED and message.delivered_at == at.replace(tzinfo=None)
        assert message.last_error is None and message.last_status == 200

    assert len(receiver.requests) == 3 and receiver.bad_signatures == 0
    bodies = {body for _, body in receiver.requests}
    assert len(bodies) == 1  # the same body and event id on every attempt; only the timestamp changes
    assert [h["X-Gongxu-Timestamp"] for h, _ in receiver.requests] == [
        str(int((T0 + timedelta(seconds=s)).timestamp())) for s in (0, BACKOFF, 3 * BACKOFF)]
    assert_signed(receiver, secret)
    event = receiver.applied[message.event_id]
    assert event["type"] == "credit_record.created" and event["created_at"] == "2026-03-10T02:00:00Z"
    data = event["data"]
    assert data["id"] == record.id and data["counts"] is True and data["course"]["code"] == "GX-NS-001"
    assert data["learner"]["id_number_masked"] is True and data["learner"]["id_number"] == learner.id_number_masked
    assert "voided_by" not in event


def test_a_tampered_or_stale_delivery_does_not_verify(app):
    body = b'{"id":"x"}'
    signature = webhooks.sign("k", 1_700_000_000, body)
    assert webhooks.verify("k", "1700000000", body, signature, at=1_700_000_000 + 299)
    assert not webhooks.verify("k", "1700000000", body, signature, at=1_700_000_000 + 301)
    assert not webhooks.verify("k", "1700000000", body + b" ", signature, at=1_700_000_000)
    assert not webhooks.verify("other", "1700000000", body, signature, at=1_700_000_000)
    assert not webhooks.verify("k", "1700000001", body, signature, at=1_700_000_000)
    assert not webhooks.verify("k", "soon", body, signature)


def test_a_receiver_that_times_out_is_retried(db_session, make_user, backoff, app, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_OUTBOX_TIMEOUT_SECONDS", 0.5)
    learner = employee(make_user, UNIT_A)
    with Receiver(plan=["hang"]) as receiver:
        sub, secret = subscribe(db_session, receiver.url, organization_id=learner.employer_id)
        receiver.secret = secret
        with clock.freeze(T0):
            completion(db_session, learner)
            assert deliver_due().retrying == 1
        [message] = messages(db_session, sub)
        assert message.status == OutboxStatus.PENDING and message.attempts == 1
        assert message.last_status is None and "timeout" in message.last_error
        receiver.release.set()
        with clock.freeze(T0 + timedelta(seconds=BACKOFF)):
            assert deliver_due().delivered == 1
    db_session.refresh(message)
    assert message.status == OutboxStatus.DELIVERED
    assert list(receiver.applied) == [message.event_id] and len(receiver.requests) == 2


def test_events_arrive_in_order_and_are_applied_once(db_session, make_user, backoff):
    learner = employee(make_user, UNIT_A)
    admin = make_user()
    with Receiver(plan=["store-500", 200, 500]) as receiver:
        sub, secret = subscribe(db_session, receiver.url, organization_id=learner.employer_id)
        receiver.secret = secret
        at = T0
        with clock.freeze(at):
            first = completion(db_session, learner)
            corrected = ledger.correct_record(admin, first.id, reason="学时核定有误", hours="2")
            db_session.commit()
            revoked = ledger.revoke_record(admin, corrected.id, reason="重复报送")
            db_session.commit()
        sent = messages(db_session, sub)
        assert [m.event_type for m in sent] == ["credit_record.created", "credit_record.voided",
                                                "credit_record.created", "credit_record.voided"]

        with clock.freeze(at):
            # The first is stored by the receiver but answered 500: the others wait behind it.
            report = deliver_due()
        assert report.ids == [sent[0].id] and len(receiver.requests) == 1
        at += timedelta(seconds=BACKOFF)
        with clock.freeze(at):
            report = deliver_due()  # the first again (200, already applied), the second fails
        assert report.delivered == 1 and report.retrying == 1 and len(receiver.requests) == 3
        at += timedelta(seconds=2 * BACKOFF)
        with clock.freeze(at):
            assert deliver_due().delivered == 3

    assert receiver.bad_signatures == 0
    assert_signed(receiver, secret)
    assert [h["X-Gongxu-Delivery"] for h, _ in receiver.requests] == [
        sent[0].event_id, sent[0].event_id, sent[1].event_id, sent[1].event_id, sent[2].event_id, sent[3].event_id]
    assert receiver.order == [m.event_id for m in sent]  # each applied once, in the order they happened
    events = [receiver.applied[m.event_id] for m in sent]
    assert [e["data"]["id"] for e in events] == [first.id, first.id, corrected.id, corrected.id]
    assert events[1]["voided_by"]["id"] == corrected.id and events[1]["voided_by"]["entry_kind"] == "correction"
    assert events[1]["data"]["counts"] is False and events[1]["data"]["voided_by_id"] == corrected.id
    assert events[2]["data"]["hours"] == 2.0
    assert events[3]["voided_by"]["id"] == revoked.id and events[3]["voided_by"]["entry_kind"] == "revocation"


def test_only_subscriptions_whose_scope_covers_the_record_receive_it(db_session, make_user, backoff):
    learner = employee(make_user, UNIT_A, region="110000")
    other = employee(make_user, UNIT_B, region="440000")
    with Receiver() as receiver:
        own_unit, _ = subscribe(db_session, receiver.url, organization_id=learner.employer_id)
        own_region, _ = subscribe(db_session, receiver.url, region_code="110000", full_id_numbers=True)
        other_unit, _ = subscribe(db_session, receiver.url, organization_id=other.employer_id)
        other_region, _ = subscribe(db_session, receiver.url, region_code="440000")
        voided_only, _ = subscribe(db_session, receiver.url, organization_id=learner.employer_id,
                                   events=["credit_record.voided"])
        deleted, _ = subscribe(db_session, receiver.url, organization_id=learner.employer_id)
        deleted.deleted_at = clock.utcnow_naive()
        revoked, _ = subscribe(db_session, receiver.url, organization_id=learner.employer_id)
        revoked.client.revoked_at = clock.utcnow_naive()
        db_session.commit()
        # A learner whose employment the unit has not approved is not the unit's: nothing for it.
        pending = employee(make_user, UNIT_A, approved=False)
        with clock.freeze(T0):
            completion(db_session, learner)
            completion(db_session, pending)
            deliver_due()

        assert [m.subscription_id for m in messages(db_session)] == [own_unit.id, own_region.id, own_region.id]
        assert len(receiver.requests) == 3
        bodies = [json.loads(body) for _, body in receiver.requests]
        # Only the client granted full ID numbers gets them.
        assert bodies[1]["data"]["learner"] == {"name": learner.real_name, "id_number_masked": False,
                                                "id_number": crypto.decrypt(learner.id_number_encrypted)}
        assert bodies[0]["data"]["learner"]["id_number"] == learner.id_number_masked
        assert bodies[2]["data"]["unit"] is None  # the pending employee, seen by the region only


def test_a_rolled_back_transaction_enqueues_nothing(db_session, make_user, app):
    from lms.core import jobs

    learner = employee(make_user, UNIT_A)
    with Receiver() as receiver:
        subscribe(db_session, receiver.url, organization_id=learner.employer_id)
        huey = jobs.huey
        huey.immediate = False  # a real queue (the test instance's SQLite file)
        try:
            huey.flush()
            completion_failed = False
            try:
                with clock.freeze(T0):
                    ledger.record_course_completion(learner, _course(db_session), completed_at=T0.replace(tzinfo=None),
                                                    exam_score=80)
                    db_session.flush()
                    assert db_session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
                    raise RuntimeError("the request failed after writing")
            except RuntimeError:
                completion_failed = True
                db_session.rollback()
            assert completion_failed
            assert db_session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
            db_session.commit()  # a later, unrelated commit queues nothing either
            assert huey.pending_count() == 0

            with clock.freeze(T0):
                completion(db_session, learner)
            assert huey.pending_count() == 1  # queued after the commit
            [task] = huey.pending()
            assert task.name.endswith("deliver_outbox_job")
            assert receiver.requests == []
            huey.execute(task)  # what a worker does
            assert len(receiver.requests) == 1
        finally:
            huey.flush()
            jobs.init_app(app)


def _course(db_session):
    from tests.learning_helpers import course

    return course(db_session)


def test_the_body_is_built_and_signed_at_send_time_and_the_outbox_holds_no_personal_data(db_session, make_user):
    learner = employee(make_user, UNIT_A)
    sub, secret = subscribe(db_session, "http://127.0.0.1:9/unused", region_code="110000", full_id_numbers=True)
    with clock.freeze(T0):
        record = completion(db_session, learner)
    [message] = messages(db_session, sub)
    stored = json.loads(message.payload)
    assert stored == {"id": message.event_id, "type": "credit_record.created", "created_at": "2026-03-10T02:00:00Z",
                      "record_id": record.id, "voided_by_id": None}
    full_id = crypto.decrypt(learner.id_number_encrypted)
    for secret_text in (full_id, learner.id_number_masked, learner.real_name):
        assert secret_text not in message.payload
    with clock.freeze(T0 + timedelta(seconds=42)):
        request = webhooks.build_request(message)
    assert request.url == sub.url and request.extensions == {}  # loopback allowed here: no pinning
    assert request.headers["X-Gongxu-Timestamp"] == str(int(T0.timestamp()) + 42)
    assert request.headers["X-Gongxu-Signature"] == webhooks.sign(secret, int(T0.timestamp()) + 42, request.body)
    body = json.loads(request.body)
    assert body["id"] == message.event_id and body["created_at"] == "2026-03-10T02:00:00Z"
    assert body["data"]["learner"]["id_number"] == full_id
    assert request.audit == ("webhook.full_id_numbers", {
        "api_client_id": sub.api_client_id, "subscription_id": sub.id, "message_id": message.id,
        "record_id": record.id, "event_id": message.event_id})


def test_a_completion_is_sent_with_the_certificate_issued_with_it(db_session, make_user, backoff):
    from lms.certificates.models import Certificate

    learner = employee(make_user, UNIT_A)
    with Receiver() as receiver:
        full, _ = subscribe(db_session, receiver.url, region_code="110000", full_id_numbers=True)
        masked, _ = subscribe(db_session, receiver.url, organization_id=learner.employer_id)
        with clock.freeze(T0):
            # As on course_completed: the entry and its certificate in one transaction.
            record = completion(db_session, learner, certificate=True)
            stored = messages(db_session)
            assert len(stored) == 2
            for message in stored:
                assert learner.real_name not in message.payload and learner.id_number_masked not in message.payload
                assert crypto.decrypt(learner.id_number_encrypted) not in message.payload
            assert deliver_due().delivered == 2
    certificate = db_session.scalar(select(Certificate).where(Certificate.credit_record_id == record.id))
    assert certificate is not None
    [to_full] = messages(db_session, full)
    [to_masked] = messages(db_session, masked)
    data = receiver.applied[to_full.event_id]["data"]
    assert data["certificate_number"] == certificate.number and data["verification_url"].endswith(certificate.number)
    assert data["credential_url"].endswith(f"/api/v1/credentials/{certificate.number}")
    assert data["learner"]["id_number"] == crypto.decrypt(learner.id_number_encrypted)
    # A client without full ID numbers gets the number and the public verification page, not the
    # signed credential (it identifies the person).
    data = receiver.applied[to_masked.event_id]["data"]
    assert data["certificate_number"] == certificate.number and data["verification_url"].endswith(certificate.number)
    assert data["credential_url"] is None and data["learner"]["id_number"] == learner.id_number_masked


def test_full_id_numbers_sent_in_a_webhook_are_audited_with_the_outcome(db_session, make_user, backoff):
    from lms.core.audit import AuditEvent

    learner = employee(make_user, UNIT_A)
    with Receiver(plan=[503]) as receiver:
        full, _ = subscribe(db_session, receiver.url, region_code="110000", full_id_numbers=True)
        masked, _ = subscribe(db_session, receiver.url, organization_id=learner.employer_id)
        with clock.freeze(T0):
            record = completion(db_session, learner)
            deliver_due()
        with clock.freeze(T0 + timedelta(seconds=BACKOFF)):
            assert deliver_due().delivered == 1
    [message] = messages(db_session, full)
    events = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "webhook.full_id_numbers")
                                .order_by(AuditEvent.id)).all()
    assert [(e.detail["delivered"], e.detail["http_status"]) for e in events] == [(False, 503), (True, 200)]
    for event in events:
        assert {k: event.detail[k] for k in ("api_client_id", "subscription_id", "message_id", "record_id")} == {
            "api_client_id": full.api_client_id, "subscription_id": full.id, "message_id": message.id,
            "record_id": record.id}
    assert masked.id not in {e.detail["subscription_id"] for e in events}


def test_a_record_that_left_the_clients_scope_is_not_sent(db_session, make_user, backoff):
    from lms.accounts.models import EmploymentStatus

    learner = employee(make_user, UNIT_A)
    stays = employee(make_user, UNIT_A)
    with Receiver() as receiver:
        sub, _ = subscribe(db_session, receiver.url, organization_id=learner.employer_id)
        with clock.freeze(T0):
            completion(db_session, learner)
            completion(db_session, stays)
        first, second = messages(db_session, sub)
        learner.employment_status = EmploymentStatus.REJECTED  # no longer the unit's employee
        db_session.commit()
        with clock.freeze(T0):
            report = deliver_due()
    assert report.ids == [first.id, second.id] and report.failed == 1 and report.delivered == 1
    db_session.refresh(first)
    assert first.status == OutboxStatus.UNDELIVERABLE and "不在此接口凭证的查看范围内" in first.last_error
    assert list(receiver.applied) == [second.event_id]  # the next event was not held back by it


def test_a_receiver_address_that_turned_private_gets_nothing(db_session, make_user, backoff, app, monkeypatch):
    learner = employee(make_user, UNIT_A)
    with Receiver() as receiver:
        # Registered while private addresses were allowed (or the name resolved elsewhere then).
        sub, _ = subscribe(db_session, receiver.url, organization_id=learner.employer_id)
        monkeypatch.setitem(app.config, "LMS_WEBHOOK_ALLOW_PRIVATE", False)
        with clock.freeze(T0):
            completion(db_session, learner)
            assert deliver_due().retrying == 1
        with clock.freeze(T0 + timedelta(hours=1)):
            assert deliver_due().retrying == 1
    assert receiver.requests == []
    [message] = messages(db_session, sub)
    assert (message.status, message.attempts, message.last_status) == (OutboxStatus.PENDING, 2, None)
    assert "127.0.0.1" in message.last_error and "内部网络" in message.last_error


def test_the_request_goes_to_the_checked_address_with_the_hosts_name(db_session, make_user, app, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_WEBHOOK_ALLOW_PRIVATE", False)
    learner = employee(make_user, UNIT_A)
    sub, secret = subscribe(db_session, "https://93.184.216.34:8443/hooks/in?k=1", organization_id=learner.employer_id)
    with clock.freeze(T0):
        completion(db_session, learner)
    [message] = messages(db_session, sub)
    request = webhooks.build_request(message)  # built, not sent
    assert request.url == "https://93.184.216.34:8443/hooks/in?k=1"
    assert request.headers["Host"] == "93.184.216.34:8443"
    assert request.extensions == {"sni_hostname": "93.184.216.34"}
    assert webhooks.verify(secret, request.headers["X-Gongxu-Timestamp"], request.body,
                           request.headers["X-Gongxu-Signature"])

    assert webhooks.pinned_target("https://[2606:2800:220:1:248:1893:25c8:1946]/in") == (
        "https://[2606:2800:220:1:248:1893:25c8:1946]/in", {"Host": "[2606:2800:220:1:248:1893:25c8:1946]"},
        {"sni_hostname": "2606:2800:220:1:248:1893:25c8:1946"})
    assert webhooks.pinned_target("http://93.184.216.34/in") == (
        "http://93.184.216.34/in", {"Host": "93.184.216.34"}, {})

    # A name: the URL names the address it resolved to; Host and the TLS name stay the name.
    import socket

    def resolve(host, port, *args, **kwargs):
        assert host == "hr.example.cn"
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2606:2800:220:1:248:1893:25c8:1946", port, 0, 0)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    assert webhooks.pinned_target("https://hr.example.cn/hooks/in") == (
        "https://[2606:2800:220:1:248:1893:25c8:1946]/hooks/in", {"Host": "hr.example.cn"},
        {"sni_hostname": "hr.example.cn"})
    assert webhooks.pinned_target("https://HR.example.cn.:444/x") == (
        "https://[2606:2800:220:1:248:1893:25c8:1946]:444/x", {"Host": "HR.example.cn.:444"},
        {"sni_hostname": "hr.example.cn"})


def test_an_unresolvable_receiver_is_retried_with_the_reason(db_session, make_user, app, monkeypatch):
    import socket

    def fail(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setitem(app.config, "LMS_WEBHOOK_ALLOW_PRIVATE", False)
    monkeypatch.setattr(socket, "getaddrinfo", fail)
    from lms.outbox.delivery import NotReady

    with pytest.raises(NotReady, match="无法解析"):
        webhooks.pinned_target("https://gone.example.cn/in")
