"""The outbox itself: claims under several deliverers (real database, committed), giving up, the CLI,
and the periodic sweep."""

import json
import os
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import scoped_session, sessionmaker

from lms.accounts import crypto
from lms.api.webhooks import CHANNEL as WEBHOOK
from lms.core import clock
from lms.outbox import delivery as outbox_delivery
from lms.outbox.delivery import add_message, claim_due, deliver_due
from lms.outbox.models import OutboxMessage, OutboxStatus
from lms.xapi.services import CHANNEL as XAPI
from tests.conftest import ROOT, TEST_PASSWORD, build_database, fresh_database, id_number, make_test_app
from tests.records_helpers import UNIT_A, completion, employee
from tests.unit.test_webhooks import Receiver, subscribe

T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def loopback_receivers(app, monkeypatch):
    """The receivers of these tests listen on 127.0.0.1, which production refuses at send time."""
    monkeypatch.setitem(app.config, "LMS_WEBHOOK_ALLOW_PRIVATE", True)


# ---------------------------------------------------------------- several deliverers, committed for real

@pytest.fixture
def shared_db(app, tmp_path):
    """A database of its own with real commits, and a receiver; yields (app, receiver)."""
    from lms.core import jobs
    from lms.extensions import db

    with Receiver() as receiver, fresh_database(tmp_path, "outbox") as url:
        other = make_test_app(url, tmp_path, LMS_XAPI_ENDPOINT=receiver.url, LMS_XAPI_USERNAME="",
                              LMS_OUTBOX_TIMEOUT_SECONDS=5, LMS_WEBHOOK_ALLOW_PRIVATE=True)
        saved = db.session
        with other.app_context():
            db.session = scoped_session(sessionmaker(bind=db.engine))  # one session per thread
        try:
            build_database(other, packages=("GX-NS-001",))
            yield other, receiver
        finally:
            with other.app_context():
                db.session.remove()
                db.engine.dispose()
            db.session = saved
            jobs.init_app(app)
            os.environ["LMS_INSTANCE_PATH"] = str(Path(app.instance_path))


def run_deliverers(app, count: int) -> list:
    from lms.extensions import db

    start = threading.Barrier(count)
    reports, errors = [], []

    def work():
        try:
            with app.app_context():
                start.wait()
                reports.append(deliver_due())
        except Exception as exc:  # reported to the test below
            errors.append(exc)
        finally:
            db.session.remove()

    threads = [threading.Thread(target=work) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    return reports


def test_several_deliverers_send_each_statement_once(shared_db):
    app, receiver = shared_db
    from lms.extensions import db

    receiver.delay = 0.01
    with app.app_context():
        ids = [str(uuid.uuid4()) for _ in range(40)]
        for statement_id in ids:
            add_message(channel=XAPI, event_type="xapi.launched", event_id=statement_id, payload={"id": statement_id})
        db.session.commit()
        db.session.remove()

    reports = run_deliverers(app, 4)

    assert sum(r.delivered for r in reports) == 40
    assert len(receiver.requests) == 40 and sorted(receiver.applied) == sorted(ids)
    with app.app_context():
        rows = db.session.scalars(select(OutboxMessage)).all()
        assert {m.status for m in rows} == {OutboxStatus.DELIVERED} and {m.attempts for m in rows} == {1}
        db.session.remove()


def a_completion(app) -> int:
    """A learner of region 110000 and one ledger entry in the shared database; the entry's id."""
    from lms.accounts import services as accounts
    from lms.catalog.models import Course
    from lms.credits import services as ledger
    from lms.extensions import db

    with app.test_request_context():
        user = accounts.create_person(None, accounts.PersonData(
            real_name="测试学员", id_number=id_number("32010219900101001"), password=TEST_PASSWORD,
            mobile="13900000001", email=None, region_code="110000", employer_name="测试单位",
            employer_credit_code=UNIT_A), roles=())
        course = db.session.scalar(select(Course).where(Course.code == "GX-NS-001"))
        record = ledger.record_course_completion(user, course, completed_at=datetime(2026, 3, 10, 2, 0),
                                                 exam_score=90)
        db.session.commit()
        record_id = record.id
        db.session.remove()
    return record_id


def test_several_deliverers_keep_a_subscriptions_events_in_order(shared_db):
    app, receiver = shared_db
    from lms.api.models import ApiClient, WebhookSubscription
    from lms.extensions import db

    receiver.delay = 0.005
    record_id = a_completion(app)
    with app.app_context():
        client = ApiClient(name="人事系统", key_id="k1", secret_hash="0" * 64, region_code="110000")
        subs = [WebhookSubscription(client=client, url=receiver.url, secret_encrypted=crypto.encrypt(f"s{i}"))
                for i in range(2)]
        db.session.add_all([client, *subs])
        db.session.flush()
        sent = {sub.id: [] for sub in subs}
        for _ in range(15):
            for sub in subs:
                event_id = str(uuid.uuid4())
                add_message(channel=WEBHOOK, event_type="credit_record.created", event_id=event_id,
                            subscription_id=sub.id, payload={"id": event_id, "record_id": record_id})
                sent[sub.id].append(event_id)
        db.session.commit()
        db.session.remove()

    run_deliverers(app, 3)

    assert len(receiver.requests) == 30
    for event_ids in sent.values():
        arrived = [e for e in receiver.order if e in event_ids]
        assert arrived == event_ids
    assert {receiver.applied[e]["data"]["id"] for e in receiver.order} == {record_id}


def test_a_lease_covers_one_send(shared_db):
    """While one message is being sent, the next is not claimed yet (its lease has not started)."""
    app, receiver = shared_db
    from lms.extensions import db

    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    claimed_while_sending = []

    def count_claimed():
        with engine.connect() as conn:
            claimed_while_sending.append(conn.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.attempts > 0)))

    receiver.on_request = count_claimed
    try:
        with app.app_context():
            for _ in range(3):
                statement_id = str(uuid.uuid4())
                add_message(channel=XAPI, event_type="xapi.launched", event_id=statement_id,
                            payload={"id": statement_id})
            db.session.commit()
            assert deliver_due().delivered == 3
            db.session.remove()
    finally:
        engine.dispose()
    assert claimed_while_sending == [1, 2, 3]


def test_a_claimed_message_is_left_alone_until_its_lease_ends(db_session, app, ctx):
    with clock.freeze(T0):
        add_message(channel=XAPI, event_type="xapi.launched", event_id=str(uuid.uuid4()), payload={})
        db_session.commit()
        [claimed] = claim_due()
        assert claim_due() == []  # a second worker finds nothing
    message = db_session.get(OutboxMessage, claimed)
    db_session.refresh(message)
    assert message.attempts == 1 and message.status == OutboxStatus.PENDING
    # The worker died mid-send: once the lease is over, another worker takes the message again.
    with clock.freeze(T0 + timedelta(seconds=2 * app.config["LMS_OUTBOX_TIMEOUT_SECONDS"] + 31)):
        assert claim_due() == [claimed]


def test_a_claim_takes_no_more_than_its_limit(db_session, ctx):
    with clock.freeze(T0):
        for _ in range(5):
            add_message(channel=XAPI, event_type="xapi.launched", event_id=str(uuid.uuid4()), payload={})
        db_session.commit()
        first = claim_due(1)
        assert len(first) == 1 and len(claim_due(3)) == 3 and len(claim_due(3)) == 1 and claim_due() == []


# ---------------------------------------------------------------- giving up, the CLI, the sweep

def test_a_message_fails_after_the_last_attempt_and_is_retried_by_hand(db_session, make_user, app, ctx, runner,
                                                                      monkeypatch):
    monkeypatch.setitem(app.config, "LMS_OUTBOX_MAX_ATTEMPTS", 3)
    monkeypatch.setitem(app.config, "LMS_OUTBOX_BACKOFF_SECONDS", 1)
    learner = employee(make_user, UNIT_A)
    with Receiver(plan=[404, 503, 429]) as receiver:
        sub, _ = subscribe(db_session, receiver.url, organization_id=learner.employer_id)
        at = T0
        with clock.freeze(at):
            completion(db_session, learner)
        [message] = db_session.scalars(select(OutboxMessage).where(OutboxMessage.subscription_id == sub.id))
        for _ in range(3):
            with clock.freeze(at):
                deliver_due()
            at += timedelta(hours=1)
        db_session.refresh(message)
        assert (message.status, message.attempts, message.last_status) == (OutboxStatus.FAILED, 3, 429)
        with clock.freeze(at):
            assert deliver_due().ids == []  # failed messages are not sent again by themselves
        assert [r[0]["X-Gongxu-Delivery"] for r in receiver.requests] == [message.event_id] * 3

        result = runner.invoke(args=["outbox", "status"])
        assert result.exit_code == 0, result.output
        assert "webhook" in result.output and "已放弃" in result.output and f"#{message.id}" in result.output
        assert "HTTP 429" in result.output

        result = runner.invoke(args=["outbox", "retry"])
        assert result.exit_code != 0 and "--all-failed" in result.output
        with clock.freeze(at):
            result = runner.invoke(args=["outbox", "retry", "--all-failed"])
        assert result.exit_code == 0 and "已重新排队 1 条" in result.output
        db_session.refresh(message)
        assert (message.status, message.attempts) == (OutboxStatus.PENDING, 0)

        with clock.freeze(at):
            result = runner.invoke(args=["outbox", "deliver"])
        assert result.exit_code == 0 and "已送达 1 条" in result.output, result.output
    db_session.refresh(message)
    assert message.status == OutboxStatus.DELIVERED and len(receiver.applied) == 1


def test_a_4xx_answer_is_recorded_and_retried(db_session, make_user, ctx):
    learner = employee(make_user, UNIT_A)
    with Receiver(plan=[401]) as receiver:
        sub, _ = subscribe(db_session, receiver.url, organization_id=learner.employer_id)
        with clock.freeze(T0):
            completion(db_session, learner)
            assert deliver_due().retrying == 1
        [message] = db_session.scalars(select(OutboxMessage).where(OutboxMessage.subscription_id == sub.id))
        assert message.last_status == 401 and "check its URL" in message.last_error
        with clock.freeze(T0 + timedelta(hours=1)):
            assert deliver_due().delivered == 1


def test_events_of_a_deleted_subscription_are_not_sent(db_session, make_user, ctx):
    learner = employee(make_user, UNIT_A)
    with Receiver() as receiver:
        sub, _ = subscribe(db_session, receiver.url, organization_id=learner.employer_id)
        with clock.freeze(T0):
            completion(db_session, learner)
        sub.deleted_at = clock.utcnow_naive()
        db_session.commit()
        with clock.freeze(T0):
            assert deliver_due().failed == 1
    assert receiver.requests == []
    [message] = db_session.scalars(select(OutboxMessage).where(OutboxMessage.subscription_id == sub.id))
    assert message.status == OutboxStatus.UNDELIVERABLE and "订阅已删除" in message.last_error


def test_a_failed_webhook_holds_back_its_subscription_until_retried(db_session, make_user, app, ctx, runner,
                                                                    monkeypatch):
    monkeypatch.setitem(app.config, "LMS_OUTBOX_MAX_ATTEMPTS", 2)
    monkeypatch.setitem(app.config, "LMS_OUTBOX_BACKOFF_SECONDS", 1)
    learner = employee(make_user, UNIT_A)
    with Receiver(plan=[500, 500]) as down, Receiver() as up:
        stuck, _ = subscribe(db_session, down.url, organization_id=learner.employer_id)
        flowing, _ = subscribe(db_session, up.url, region_code="110000")
        with clock.freeze(T0):
            completion(db_session, learner, code="GX-NS-001")
            completion(db_session, learner, code="GX-DT-002")
        a1, a2 = db_session.scalars(select(OutboxMessage).where(OutboxMessage.subscription_id == stuck.id)
                                    .order_by(OutboxMessage.id)).all()
        b1, b2 = db_session.scalars(select(OutboxMessage).where(OutboxMessage.subscription_id == flowing.id)
                                    .order_by(OutboxMessage.id)).all()
        with clock.freeze(T0):
            assert deliver_due().ids == [a1.id, b1.id, b2.id]  # a2 waits behind a1; the other flows
        with clock.freeze(T0 + timedelta(hours=1)):
            report = deliver_due()
        db_session.refresh(a1)
        assert report.ids == [a1.id] and a1.status == OutboxStatus.FAILED
        with clock.freeze(T0 + timedelta(days=3)):
            assert deliver_due().ids == []  # given up, a1 still holds a2 back
        db_session.refresh(a2)
        assert (a2.status, a2.attempts) == (OutboxStatus.PENDING, 0)
        assert list(up.applied) == [b1.event_id, b2.event_id]

        with clock.freeze(T0 + timedelta(days=3)):
            assert runner.invoke(args=["outbox", "retry", "--all-failed"]).exit_code == 0
            assert deliver_due().ids == [a1.id, a2.id]
    assert [h["X-Gongxu-Delivery"] for h, _ in down.requests] == [a1.event_id] * 3 + [a2.event_id]
    assert down.order == [a1.event_id, a2.event_id]


def test_the_default_retries_last_about_three_days(tmp_path, monkeypatch):
    from lms.config import load_config

    monkeypatch.delenv("LMS_OUTBOX_MAX_ATTEMPTS", raising=False)
    monkeypatch.delenv("LMS_OUTBOX_BACKOFF_SECONDS", raising=False)
    config = load_config(str(tmp_path))
    assert config["LMS_OUTBOX_MAX_ATTEMPTS"] == 24
    base, cap = config["LMS_OUTBOX_BACKOFF_SECONDS"], outbox_delivery.BACKOFF_CAP_SECONDS
    longest = sum(min(cap, base * 2 ** (n - 1)) for n in range(1, 24))
    assert timedelta(days=2.5) < timedelta(seconds=longest) < timedelta(days=4)


def test_statements_wait_while_no_lrs_is_configured(db_session, app, ctx, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_XAPI_ENDPOINT", None)
    with clock.freeze(T0):
        message = add_message(channel=XAPI, event_type="xapi.launched", event_id=str(uuid.uuid4()),
                              payload=json.dumps({"id": "x"}))
        db_session.commit()
        assert deliver_due().retrying == 1
    db_session.refresh(message)
    assert message.status == OutboxStatus.PENDING and "LMS_XAPI_ENDPOINT" in message.last_error


def test_the_sweep_runs_every_minute_in_the_default_worker(app, tmp_path):
    from lms.core import jobs
    from lms.outbox import tasks

    # The worker's entry point, in a process of its own, knows the sweep and the delivery job.
    probe = ("import lms.worker as w; registry = w.huey._registry; "
             "print(sorted(t.name for t in registry.periodic_tasks)); print(sorted(registry._registry))")
    env = {**os.environ, "LMS_INSTANCE_PATH": str(tmp_path / "instance"), "PYTHONPATH": str(ROOT),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'worker.sqlite3'}", "LMS_JOBS_FILE": str(tmp_path / "jobs.sqlite3"),
           "SECRET_KEY": "test-secret-key", "LMS_DATA_KEY": "test-data-key"}
    known = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=120, check=True).stdout
    assert "lms.outbox.tasks.sweep_outbox" in known and "lms.outbox.tasks.deliver_outbox_job" in known
    periodic = [t for t in jobs.huey._registry.periodic_tasks if t.name == "lms.outbox.tasks.sweep_outbox"]
    assert len(periodic) == 1
    for minute in range(0, 60, 7):
        assert periodic[0].validate_datetime(datetime(2026, 3, 10, 2, minute))
    assert tasks.sweep_outbox.call_local() == 0  # what the worker runs: nothing due, nothing sent


def test_kinds_of_message_register_their_sender_and_an_unknown_one_is_undeliverable(db_session, app, ctx):
    assert outbox_delivery.channels() == sorted([WEBHOOK, XAPI, "mail", "sms"])
    with pytest.raises(ValueError, match="has a sender already"):
        outbox_delivery.sender(XAPI)(lambda message: None)
    message = add_message(channel="fax", event_type="fax.sent", event_id=str(uuid.uuid4()), payload={"id": "x"})
    db_session.commit()
    assert deliver_due().failed == 1
    db_session.refresh(message)
    assert message.status == OutboxStatus.UNDELIVERABLE and "fax" in message.last_error
