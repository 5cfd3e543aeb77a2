"""Work that reads for a while and writes now and then keeps going while other writers commit.

On SQLite a deferred transaction that has read cannot write once another writer has committed
("database is locked", at once, whatever the busy timeout). Export jobs write their progress between
chunks and the audit event at the end; here a second thread commits all the while, with real
commits on a database of the test's own (on PostgreSQL the same test simply passes)."""

import threading
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from lms.accounts import services as accounts
from lms.accounts.models import EmploymentStatus, Role
from lms.catalog.models import Course
from lms.core.audit import AuditEvent, record_event
from lms.credits import services as ledger
from lms.exports import records
from lms.exports import services as exports
from lms.exports.models import ExportJob, ExportStatus
from lms.extensions import db
from tests.conftest import committed_app, id_number, session_per_thread
from tests.records_helpers import UNIT_A


@pytest.fixture(scope="module")
def own_app(tmp_path_factory):
    with committed_app(tmp_path_factory.mktemp("sqlite-writers"), "writers", packages=("GX-NS-001", "GX-DT-002"),
                       LMS_EXPORT_CHUNK_ROWS=3) as application:
        yield application


def keep_writing(app, stop: threading.Event, errors: list, count: list):
    try:
        with app.app_context():
            while not stop.is_set():
                record_event(None, "test.background_write", None)
                db.session.commit()
                count[0] += 1
                time.sleep(0.001)
            db.session.remove()
    except Exception as exc:
        errors.append(exc)


def test_an_export_job_finishes_while_another_writer_commits(own_app, monkeypatch):
    session_per_thread(own_app, monkeypatch)
    with own_app.test_request_context():
        admin = None
        courses = db.session.scalars(select(Course).order_by(Course.code)).all()
        for n in range(12):
            user = accounts.create_person(None, accounts.PersonData(
                real_name=f"职工{n}", id_number=id_number(f"11010519900105{n:03d}"), password="Study2026ok",
                mobile=f"1371111{n:04d}", region_code="110000", employer_name="单位甲", employer_credit_code=UNIT_A),
                roles=(Role.ADMIN,) if n == 0 else ())
            user.employment_status = EmploymentStatus.APPROVED
            admin = admin or user
            for i, course in enumerate(courses):
                ledger.record_course_completion(user, course, completed_at=datetime(2026, 3, 1) + timedelta(hours=i),
                                                exam_score=90)
        scope = records.scope_for(admin, unit=UNIT_A)
        job = exports.start_export_job(admin, scope, year=2026, fmt="csv")
        db.session.commit()
        job_id = job.id

    stop, errors, count = threading.Event(), [], [0]
    writer = threading.Thread(target=keep_writing, args=(own_app, stop, errors, count))
    writer.start()
    try:
        with own_app.test_request_context():
            while count[0] < 3:  # the writer is under way
                time.sleep(0.01)
            job = exports.run_export_job(db.session.get(ExportJob, job_id), commit=db.session.commit)
            assert job.status == ExportStatus.DONE, job.error
            assert job.rows_done == 24
            assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "records.export")) is not None
            db.session.remove()
    finally:
        stop.set()
        writer.join(timeout=30)
    assert not errors, errors
    assert count[0] > 3
