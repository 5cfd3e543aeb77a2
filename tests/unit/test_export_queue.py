"""A large export through a real ``huey_consumer`` on the ``media`` queue (SQLite queue and Redis).

The test's database is committed (the consumer is another process); the session app's queue
settings are restored afterwards, as in test_media_queue."""

import csv
import io
import time
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import credit_code, id_number
from tests.queue_helpers import queue_site, start_consumer, stop

ROWS = 9
CHUNK = 2


@pytest.fixture(params=["sqlite-queue", "redis-queue"])
def export_queue(request, app, tmp_path):
    with queue_site(app, tmp_path, "exports", use_redis=request.param == "redis-queue", packages=("GX-NS-001",),
                    LMS_EXPORT_CHUNK_ROWS=CHUNK) as site:
        yield site


def seed(queue_app, session):
    """ROWS employees of one unit with a completion each, and an admin; returns the admin's id."""
    from lms.accounts import services as accounts
    from lms.accounts.models import EmploymentStatus, Role
    from lms.catalog.models import Course
    from lms.credits import services as ledger

    unit = credit_code("91110108MA00QQQQ0")
    with queue_app.test_request_context():
        course = session.scalar(select(Course).where(Course.code == "GX-NS-001"))
        for n in range(ROWS):
            user = accounts.create_person(None, accounts.PersonData(
                real_name=f"队列学员{n}", id_number=id_number(f"11010519900101{n:03d}"), password="Study2026ok",
                mobile=f"137{n:08d}", email=None, region_code="110000", employer_name="队列单位",
                employer_credit_code=unit), roles=())
            user.employment_status = EmploymentStatus.APPROVED
            ledger.record_course_completion(user, course, completed_at=datetime(2026, 3, 10, 2, 0), exam_score=80)
        admin = accounts.create_person(None, accounts.PersonData(
            real_name="管理员", id_number=id_number("11010519800101999"), password="Study2026ok",
            mobile="13699999999", email=None, region_code="110000", employer_name="队列单位",
            employer_credit_code=unit), roles=(Role.ADMIN,))
        session.commit()
        return admin.id


def watch(queue_app, session, job_id, timeout=90):
    """Poll the job as its progress page does; returns the (status, rows_done, rows_total) seen."""
    from lms.exports.models import ExportJob

    seen, deadline = [], time.monotonic() + timeout
    with queue_app.app_context():
        while time.monotonic() < deadline:
            session.rollback()  # a new transaction each time: see what the consumer committed
            job = session.get(ExportJob, job_id)
            seen.append((job.status, job.rows_done, job.rows_total))
            if job.status in ("done", "failed"):
                return seen
            time.sleep(0.02)
    raise AssertionError(f"export job {job_id} never finished; last {seen[-3:]}")


def test_a_real_consumer_runs_the_export_and_reports_progress(export_queue, tmp_path):
    from lms.accounts.models import User
    from lms.core.audit import AuditEvent
    from lms.exports import records, services
    from lms.exports.tasks import export_job

    queue_app, env, session = export_queue
    admin_id = seed(queue_app, session)
    with queue_app.test_request_context():
        admin = session.get(User, admin_id)
        scope = records.scope_for(admin)
        job = services.start_export_job(admin, scope, year=2026, fmt="csv", rows=services.count_rows(scope, 2026))
        session.commit()
        job_id = job.id
    consumer = start_consumer(env, tmp_path)
    try:
        export_job(job_id)
        seen = watch(queue_app, session, job_id)
    finally:
        log = stop(consumer)
    assert seen[-1] == ("done", ROWS, ROWS), log
    done = [rows for _, rows, _ in seen]
    assert done == sorted(done)  # progress only moves forward
    assert {status for status, _, _ in seen} <= {"queued", "running", "done"}
    with queue_app.test_request_context():
        from lms.exports.models import ExportJob

        job = session.get(ExportJob, job_id)
        assert job.expires_at is not None and services.job_status(job)["percent"] == 100
        raw = (Path(env["LMS_MEDIA_ROOT"]) / job.file_path).read_bytes()
        rows = list(csv.reader(io.StringIO(raw[3:].decode("utf-8"), newline="")))
        assert raw.startswith(b"\xef\xbb\xbf") and tuple(rows[0]) == records.HEADER and len(rows) == ROWS + 1
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "records.export"))
        assert event.actor_id == admin_id and event.detail["via"] == "job" and event.detail["rows"] == ROWS
