"""Migration publishing02 on a database with courses in it: down to accounts03 and up again fills in
what the audit log and review events already knew (creator, submitter, approver)."""

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from lms.accounts import services as accounts
from lms.accounts.models import OrgKind, Role
from lms.catalog.models import Course
from lms.extensions import db
from lms.publishing import services
from tests.conftest import ROOT, TEST_PASSWORD, committed_app, credit_code, id_number, session_per_thread
from tests.unit.test_publishing import data


def person(n: int, name: str, role: Role, org):
    user = accounts.create_person(None, accounts.PersonData(
        real_name=name, id_number=id_number(f"11010519900101{n:03d}"), password=TEST_PASSWORD,
        mobile=f"1390000{n:04d}", region_code="110000", employer_name="迁移测试单位",
        employer_credit_code=credit_code("91110105MA01MGRT0")), roles=())
    accounts.grant_role(None, user, role, organization=org if role == Role.PUBLISHER else None)
    return user


@pytest.fixture(scope="module")
def own_app(tmp_path_factory):
    """A database of its own (built before the per-test session is swapped in), migrated up and down."""
    with committed_app(tmp_path_factory.mktemp("publishing02"), "pub02", packages=()) as application:
        yield application


def test_down_and_up_again_backfills_authorship(own_app, monkeypatch):
    migrations = str(ROOT / "migrations")
    app = own_app
    session_per_thread(app, monkeypatch)
    with app.test_request_context():
        org = accounts.get_or_create_organization("迁移测试发布机构", OrgKind.PUBLISHER)
        author, reviewer = person(1, "作者", Role.PUBLISHER, org), person(2, "审核员", Role.REVIEWER, org)
        course = services.create_course(author, org, "GX-MIG-001", data(db.session, has_exam=False))
        chapter = services.add_chapter(author, course, "第一章")
        services.add_lesson(author, chapter, services.LessonData("阅读", "reading", "正文"))
        services.submit_course(author, course)
        services.approve_course(reviewer, course)
        db.session.commit()
        course_id, author_id, reviewer_id = course.id, author.id, reviewer.id
        db.session.remove()

        downgrade(directory=migrations, revision="accounts03")
        with db.engine.connect() as connection:
            columns = set(connection.execute(text("SELECT * FROM course WHERE 1 = 0")).keys())
        assert "created_by_id" not in columns and "approved_by_id" not in columns
        upgrade(directory=migrations)

        course = db.session.get(Course, course_id)
        assert (course.created_by_id, course.approved_by_id) == (author_id, reviewer_id)
        rows = db.session.execute(text("SELECT user_id, kind FROM course_editor WHERE course_id = :id"),
                                  {"id": course_id}).all()
        assert sorted(map(tuple, rows)) == [(author_id, "created"), (author_id, "submitted")]
        assert services.involved_user_ids(course) == {author_id}
        db.session.remove()
