"""The outbox itself: claims under several deliverers (real database, committed), giving up, the CLI,
and the periodic sweep."""

import json
import os
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import scoped_session, sessionmaker

from lms.accounts import crypto
from lms.core import clock
from lms.core.outbox import OutboxMessage, OutboxStatus
from lms.core.outbox_delivery import WEBHOOK, XAPI, add_message, claim_due, deliver_due
from tests.conftest import build_database, fresh_database, make_test_app
from tests.records_helpers import UNIT_A, completion, employee
from tests.unit.test_webhooks import Receiver, subscribe

T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


# ---------------------------------------------------------------- several deliverers, committed for real

@pytest.fixture
def shared_db(app, tmp_path):
    """A database of its own with real commits, and a receiver; yields (app, receiver)."""
    from lms.core import jobs
    from lms.extensions import db

    with Receiver() as receiver, fresh_database(tmp_path, "outbox") as url:
        other = make_test_app(url, tmp_path, LMS_XAPI_ENDPOINT=receiver.url, LMS_XAPI_USERNAME="",
                              LMS_OUTBOX_TIMEOUT_SECONDS=5)
        saved = db.session
        with other.app_context():
            db.session = scoped_session(sessionmaker(bind=db.engine))  # one session per thread
        try:
            build_database(other)
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
                reports.append(deliver_due(batch=3))
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


def test_several_deliverers_keep_a_subscriptions_events_in_order(shared_db):
    app, receiver = shared_db
    from lms.api.models import ApiClient, WebhookSubscription
    from lms.extensions import db

    receiver.delay = 0.005
    with app.app_context():
        client = ApiClient(name="人事系统", key_id="k1", secret_hash="0" * 64, region_code="110000")
        subs = [WebhookSubscription(client=client, url=receiver.url, secret_encrypted=crypto.encrypt(f"s{i}"))
                for i in range(2)]
        db.session.add_all([client, *subs])
        db.session.flush()
        sent = {sub.id: [] for sub in subs}
        for n in range(15):
            for sub in subs:
                event_id = str(uuid.uuid4())
                add_message(channel=WEBHOOK, event_type="credit_record.created", event_id=event_id,
                            subscription_id=sub.id, payload={"id": event_id, "n": n, "sub": sub.id})
                sent[sub.id].append(event_id)
        db.session.commit()
        db.session.remove()

    run_deliverers(app, 3)

    assert len(receiver.requests) == 30
    for sub_id, event_ids in sent.items():
        arrived = [e for e in receiver.order if receiver.applied[e]["sub"] == sub_id]
        assert arrived == event_ids


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
    assert message.status == OutboxStatus.FAILED and "订阅已删除" in message.last_error


def test_statements_wait_while_no_lrs_is_configured(db_session, app, ctx, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_XAPI_ENDPOINT", None)
    with clock.freeze(T0):
        message = add_message(channel=XAPI, event_type="xapi.launched", event_id=str(uuid.uuid4()),
                              payload=json.dumps({"id": "x"}))
        db_session.commit()
        assert deliver_due().retrying == 1
    db_session.refresh(message)
    assert message.status == OutboxStatus.PENDING and "LMS_XAPI_ENDPOINT" in message.last_error


def test_the_sweep_runs_every_minute_in_the_default_worker(app):
    from lms.core import jobs, tasks

    assert "lms.core.tasks" in jobs.TASK_MODULES
    periodic = [t for t in jobs.huey._registry.periodic_tasks if t.name == "lms.core.tasks.sweep_outbox"]
    assert len(periodic) == 1
    for minute in range(0, 60, 7):
        assert periodic[0].validate_datetime(datetime(2026, 3, 10, 2, minute))
    assert tasks.sweep_outbox.call_local() == 0  # what the worker runs: nothing due, nothing sent
