"""Course certificates are rendered and signed after the completion's ledger transaction commits
(issue 14 item 6): one job per completion on the default queue, run here by a real
``huey_consumer``; the learner sees "证书签发中…" meanwhile; a lost job is made good by the sweep;
the job is idempotent, and two issuers at once make one certificate (``uq_certificate_course``)."""

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tests.conftest import _csrf_token, credit_code, id_number
from tests.queue_helpers import queue_site, start_consumer, stop

PASSWORD = "Study2026-queue"


@pytest.fixture(params=["sqlite-queue", "redis-queue"])
def site(request, app, tmp_path):
    with queue_site(app, tmp_path, "certificates", use_redis=request.param == "redis-queue",
                    packages=("GX-NS-001",)) as queued:
        yield queued


def complete_course(queue_app, session, n: int, *, commit: bool = True) -> tuple[int, int]:
    """A learner who watches every lesson and passes the exam (the exam's transaction committed, or
    left open); (user id, ledger entry id)."""
    from lms.accounts import services as accounts
    from lms.credits import services as ledger
    from lms.learning import exam
    from lms.learning import services as learning
    from tests.learning_helpers import Clock, correct_answers, course, study_all_lessons

    with queue_app.test_request_context():
        learner = accounts.create_person(None, accounts.PersonData(
            real_name=f"证书队列{n}", id_number=id_number(f"11010519900201{n:03d}"), password=PASSWORD,
            mobile=f"1365551{n:04d}", email=None, region_code="110000", employer_name="证书单位",
            employer_credit_code=credit_code("91110108MA00CERT0")), roles=())
        session.commit()
        c = course(session)
        enrollment = learning.enroll(learner, c.code)
        tick = Clock()
        study_all_lessons(learner.id, c, tick)
        with tick():
            attempt = exam.start_attempt(learner, enrollment)
            session.commit()
            exam.submit_attempt(learner, attempt, correct_answers(attempt))
        if commit:
            session.commit()
        record = ledger.active_record_for_course(learner.id, c.code)
        assert record is not None
        return learner.id, record.id


def certificate_jobs() -> int:
    """Certificate jobs waiting in the default queue (other domains queue theirs there too)."""
    from lms.core.jobs import huey

    return sum(task.name.endswith("issue_certificate_job") for task in huey.pending())


def after_completion(session, record_id: int, later: timedelta = timedelta(minutes=5)):
    """The clock frozen ``later`` after the entry was written (the completions happen on the tests'
    clock, months before today's date; the sweep reads a window of recent entries)."""
    from lms.core import clock
    from lms.credits.models import CreditRecord

    return clock.freeze(session.get(CreditRecord, record_id).created_at + later)


def certificates_of(session, user_id: int) -> list:
    from lms.certificates.models import Certificate

    session.rollback()  # a new transaction: see what the consumer committed
    return list(session.scalars(select(Certificate).where(Certificate.user_id == user_id)))


def my_certificates_page(queue_app, user_id: int, session) -> str:
    from lms.accounts.models import User

    mobile = session.get(User, user_id).mobile
    client = queue_app.test_client()
    token = _csrf_token(client.get("/login").get_data(as_text=True))
    assert client.post("/login", data={"login": mobile, "password": PASSWORD, "csrf_token": token}).status_code == 302
    return client.get("/me/certificates").get_data(as_text=True)


def test_a_completion_commits_without_its_certificate_which_a_real_consumer_then_issues(site, tmp_path):
    from lms.core.jobs import huey

    queue_app, env, session = site
    assert not huey.immediate
    user_id, record_id = complete_course(queue_app, session, 1)

    assert certificates_of(session, user_id) == []  # not drawn inside the completing transaction
    assert certificate_jobs() == 1  # one job, queued after the commit
    page = my_certificates_page(queue_app, user_id, session)
    assert "证书签发中" in page and 'http-equiv="refresh"' in page and "issuing-course" in page

    consumer = start_consumer(env, tmp_path, "huey")
    try:
        deadline = time.monotonic() + 90
        while not (issued := certificates_of(session, user_id)) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        log = stop(consumer)
    assert len(issued) == 1, log
    cert = issued[0]
    assert cert.kind == "course" and cert.credit_record_id == record_id and cert.pdf_sha256 and cert.credential_jwt
    page = my_certificates_page(queue_app, user_id, session)
    assert "证书签发中" not in page and 'http-equiv="refresh"' not in page and cert.number in page

    # Idempotent: the job again, and the sweep, issue nothing more.
    from lms.certificates import tasks

    with queue_app.app_context(), after_completion(session, record_id):
        assert tasks.issue_certificate_job.call_local(record_id) == cert.number
        assert tasks.sweep_certificates.call_local() == 0
    assert [c.number for c in certificates_of(session, user_id)] == [cert.number]


def test_a_lost_job_is_made_good_by_the_sweep_and_a_rolled_back_completion_queues_nothing(site):
    from lms.certificates import services, tasks
    from lms.core.jobs import huey

    queue_app, _env, session = site
    user_id, record_id = complete_course(queue_app, session, 2)
    assert certificate_jobs() == 1
    huey.flush()  # the job is lost (the queue's storage wiped, as a Redis without persistence would be)
    assert certificate_jobs() == 0 and certificates_of(session, user_id) == []

    with queue_app.app_context():
        assert [r.id for r in services.pending_course_records(user_id)] == [record_id]
    with queue_app.app_context(), after_completion(session, record_id, tasks.SWEEP_AFTER / 2):
        assert tasks.sweep_certificates.call_local() == 0  # its job still has time to run
    with queue_app.app_context(), after_completion(session, record_id):
        assert tasks.sweep_certificates.call_local() == 1
        assert services.pending_course_records(user_id) == []
    assert len(certificates_of(session, user_id)) == 1

    # A completion whose transaction rolls back leaves nothing queued.
    from lms.credits.models import CreditRecord

    _other, other_record = complete_course(queue_app, session, 3, commit=False)
    session.rollback()
    with queue_app.app_context():
        assert session.get(CreditRecord, other_record) is None
    assert certificate_jobs() == 0


def test_two_issuers_at_once_make_one_certificate(site):
    """The job and the sweep (or a retried job) for one completion at the same moment."""
    from lms.certificates import tasks
    from lms.certificates.models import Certificate
    from lms.core.jobs import huey

    queue_app, _env, session = site
    user_id, record_id = complete_course(queue_app, session, 4)
    huey.flush()
    barrier, numbers, errors = threading.Barrier(2), [], []

    def issue():
        with queue_app.app_context():
            try:
                barrier.wait(timeout=30)
                numbers.append(tasks.issue_certificate_job.call_local(record_id))
            except Exception as exc:  # noqa: BLE001 (reported below)
                errors.append(exc)
            finally:
                from lms.extensions import db

                db.session.remove()

    threads = [threading.Thread(target=issue) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    issued = certificates_of(session, user_id)
    assert len(issued) == 1 and numbers == [issued[0].number] * 2

    # The database's backstop: a second course certificate for the learner and course is refused.
    with queue_app.app_context():
        duplicate = Certificate(number="GX-DUP-1", kind="course", user_id=user_id, course_code=issued[0].course_code,
                                credit_year=issued[0].credit_year, title="t", hours=1, holder_name_masked="x",
                                holder_id_masked="x", issuer_name="x", pdf_path="", pdf_sha256="",
                                credential_jwt="")
        session.add(duplicate)
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()
        assert session.scalar(select(func.count(Certificate.id)).where(Certificate.user_id == user_id)) == 1


def test_the_minute_sweep_reads_recent_entries_and_the_whole_ledger_sweep_reads_the_rest(site, monkeypatch):
    """The minute's sweep looks back ``SWEEP_WINDOW`` (an index range: its cost does not grow with
    the ledger); an entry whose job was lost longer ago is issued by the nightly sweep of the whole
    ledger, or by ``flask certificates sweep --all``."""
    from lms.certificates import tasks
    from lms.core.jobs import huey

    queue_app, _env, session = site
    user_id, _record_id = complete_course(queue_app, session, 5)
    other_id, other_record = complete_course(queue_app, session, 6)
    huey.flush()  # both jobs lost
    monkeypatch.setattr(tasks, "SWEEP_BATCH", 1)  # the whole-ledger sweep pages on
    runner = queue_app.test_cli_runner()
    days_later = tasks.SWEEP_WINDOW + tasks.SWEEP_AFTER

    with after_completion(session, other_record, days_later):
        result = runner.invoke(args=["certificates", "sweep"])
    assert result.exit_code == 0, result.output
    assert "最近 2 天" in result.output and "补发证书 0 张" in result.output
    assert certificates_of(session, user_id) == [] and certificates_of(session, other_id) == []

    with after_completion(session, other_record, days_later):
        result = runner.invoke(args=["certificates", "sweep", "--all"])
    assert result.exit_code == 0, result.output
    assert "整个学时账本" in result.output and "补发证书 2 张" in result.output, result.output
    assert len(certificates_of(session, user_id)) == 1 and len(certificates_of(session, other_id)) == 1
    with queue_app.app_context():
        assert tasks.sweep_all_certificates.call_local() == 0  # the nightly sweep: nothing left
