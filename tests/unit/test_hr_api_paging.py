"""Paging the HR API while completions are being recorded: every entry is seen exactly once.

Writers record completions through the credits services in their own threads, each with its own
session and real commits (several at once on PostgreSQL, where lock_ledger orders them), while the
test pages through /api/v1/credit-records with a small limit on a database of its own.
"""

import random
import threading
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from lms.accounts import services as accounts
from lms.accounts.models import EmploymentStatus, Role, User
from lms.api import services as api
from lms.catalog.models import Course
from lms.core.database import writing
from lms.core.signals import credit_record_created
from lms.credits import services as ledger
from lms.credits.models import CreditRecord
from lms.extensions import db
from tests.conftest import committed_app, id_number, session_per_thread
from tests.records_helpers import UNIT_A, UNIT_B

# Several writers at once on both databases (SQLite: each transaction takes the write lock at BEGIN,
# as the web app's POST requests do, see lms.core.database.writing).
WRITERS = 3
ENTRIES_PER_WRITER = 12


@pytest.fixture(scope="module")
def own_app(tmp_path_factory):
    with committed_app(tmp_path_factory.mktemp("hrapi-paging"), "hrapi", packages=("GX-NS-001", "GX-DT-002"),
                       LMS_API_RATE_LIMIT="100000 per minute") as application:
        yield application


def person(n: int, unit: str, region: str, **roles) -> User:
    user = accounts.create_person(None, accounts.PersonData(
        real_name=f"职工{n}", id_number=id_number(f"11010519900101{n:03d}"), password="Study2026ok",
        mobile=f"1370000{n:04d}", region_code=region, employer_name=f"单位{unit[-4:]}", employer_credit_code=unit),
        roles=())
    user.employment_status = EmploymentStatus.APPROVED
    for role in roles.get("roles", ()):
        accounts.grant_role(None, user, role)
    db.session.flush()
    return user


def linger(record):
    """A slow writer: keep the transaction open a moment after the insert, before its commit.

    This widens the window in which an entry with a smaller id is still uncommitted while later ones
    could commit (what lock_ledger prevents); nothing asserted depends on how long it lasts."""
    time.sleep(random.uniform(0, 0.02))


def write_entries(app, user_ids: list[int], errors: list, start: threading.Event):
    """Record completions one transaction at a time, as the learning module does."""
    try:
        with app.app_context():
            start.wait(timeout=30)
            courses = db.session.scalars(select(Course).order_by(Course.code)).all()
            db.session.commit()  # end this read: each write below begins its own transaction
            for n in range(ENTRIES_PER_WRITER):
                with writing():
                    user = db.session.get(User, user_ids[n % len(user_ids)])
                    ledger.record_course_completion(user, courses[n % len(courses)],
                                                    completed_at=datetime(2026, 3, 1, 2) + timedelta(hours=n),
                                                    exam_score=80 + n % 20)
                    db.session.commit()
            db.session.remove()
    except Exception as exc:  # reported by the test, with the thread's traceback
        errors.append(exc)


def test_paging_while_writers_commit_sees_every_entry_exactly_once(own_app, monkeypatch):
    session_per_thread(own_app, monkeypatch)
    with own_app.test_request_context():
        admin = person(1, UNIT_A, "110000", roles=(Role.ADMIN,))
        unit_a = [person(10 + n, UNIT_A, "110000").id for n in range(3)]
        unit_b = [person(20, UNIT_B, "440000").id]
        client, token = api.issue_client(admin, api.ClientRequest(name="人事系统", unit=UNIT_A))
        db.session.commit()
        db.session.remove()

    errors: list = []
    start = threading.Event()
    # Each writer also records entries of another unit, which the client must never see.
    writers = [threading.Thread(target=write_entries, args=(own_app, unit_a + unit_b, errors, start))
               for _ in range(WRITERS)]
    for writer in writers:
        writer.start()

    http = own_app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    seen: list[int] = []
    cursor = None
    pages = 0

    def page() -> dict:
        nonlocal cursor, pages
        response = http.get("/api/v1/credit-records", headers=headers,
                            query_string={"limit": 2, "year": 2026, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        seen.extend(row["id"] for row in body["data"])
        cursor = body["next_cursor"] or cursor
        pages += 1
        return body

    credit_record_created.connect(linger)
    try:
        start.set()
        while any(writer.is_alive() for writer in writers):
            page()
        for writer in writers:
            writer.join(timeout=60)
    finally:
        credit_record_created.disconnect(linger)
    assert not errors, errors
    while page()["has_more"]:
        pass
    assert page()["data"] == []  # one last page after the writers are done: nothing left behind

    with own_app.app_context():
        expected = db.session.scalars(select(CreditRecord.id).where(CreditRecord.user_id.in_(unit_a))
                                      .order_by(CreditRecord.id)).all()
        others = set(db.session.scalars(select(CreditRecord.id).where(CreditRecord.user_id.in_(unit_b))))
        db.session.remove()
    assert len(expected) + len(others) == WRITERS * ENTRIES_PER_WRITER and others
    assert len(seen) == len(set(seen)), "an entry was returned twice"
    assert seen == expected  # every entry once, in id order
    assert not others & set(seen)
    assert pages > 1
