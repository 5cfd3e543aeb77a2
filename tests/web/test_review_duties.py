"""Separation of duties over HTTP and on the command line: an author cannot approve their own course
version; a CLI import that publishes names the approving reviewer."""

from sqlalchemy import func, select

from lms.accounts.models import Role
from lms.accounts.services import grant_role
from lms.catalog.models import Course, CourseStatus
from lms.core.audit import AuditEvent
from tests.conftest import ROOT
from tests.web.test_publishing_pages import new_course, other_client


def test_an_author_with_the_reviewer_role_is_refused_and_another_reviewer_approves(
        app, client, client_factory, make_user, login, csrf_token, db_session, org):  # noqa: F811
    dual = make_user(roles=(Role.PUBLISHER,), organization=org, real_name="兼任审核员")
    with app.test_request_context():
        grant_role(None, dual, Role.REVIEWER)
        db_session.commit()
    login(dual)
    new_course(client, csrf_token, code="GX-WEB-090", has_exam="")
    course = db_session.scalar(select(Course).where(Course.code == "GX-WEB-090"))
    token = csrf_token(client.get(f"/publish/courses/{course.id}").get_data(as_text=True))
    client.post(f"/publish/courses/{course.id}/chapters", data={"title": "第一章", "csrf_token": token})
    client.post(f"/publish/chapters/{course.chapters[0].id}/lessons",
                data={"title": "阅读材料", "kind": "reading", "body": "# 应急预案\n\n正文", "csrf_token": token})
    assert client.post(f"/publish/courses/{course.id}/submit", data={"csrf_token": token}).status_code == 302
    assert course.status == CourseStatus.IN_REVIEW

    page = client.get(f"/review/courses/{course.id}").get_data(as_text=True)
    assert "您参与了" in page and "通过并发布" not in page  # told why, and no button that cannot work
    refused = client.post(f"/review/courses/{course.id}/approve", data={"csrf_token": token}, follow_redirects=True)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 200 and "职责分离" in html and "不能由您审核通过" in html
    assert course.status == CourseStatus.IN_REVIEW

    reviewer = other_client(client_factory, make_user(roles=(Role.REVIEWER,), real_name="独立审核员"), csrf_token)
    page = reviewer.get(f"/review/courses/{course.id}").get_data(as_text=True)
    assert "通过并发布" in page
    assert reviewer.post(f"/review/courses/{course.id}/approve", data={"csrf_token": csrf_token(page)}).status_code == 302
    assert course.status == CourseStatus.PUBLISHED


def _count(db_session, code):
    return db_session.scalar(select(func.count(Course.id)).where(Course.code == code))


def test_a_publishing_cli_import_must_name_the_approving_reviewer(runner, db_session):
    result = runner.invoke(args=["courses", "import", str(ROOT / "courses" / "GX-EM-002")])
    assert result.exit_code != 0
    assert "--approved-by" in result.output and "--draft" in result.output
    assert _count(db_session, "GX-EM-002") == 0


def test_the_named_approver_must_be_a_reviewer(runner, db_session, make_user):
    learner = make_user()
    for login, message in ((learner.mobile, "不是课程审核员"), ("13000000000", "找不到")):
        result = runner.invoke(args=["courses", "import", "--approved-by", login, str(ROOT / "courses" / "GX-EM-002")])
        assert result.exit_code != 0 and message in result.output, result.output
    assert _count(db_session, "GX-EM-002") == 0


def test_a_cli_import_records_the_named_approver(runner, db_session, make_user):
    reviewer = make_user(roles=(Role.REVIEWER,), real_name="导入审核员")
    result = runner.invoke(args=["courses", "import", "--approved-by", reviewer.mobile,
                                 str(ROOT / "courses" / "GX-EM-002")])
    assert result.exit_code == 0, result.output
    assert "审核人：导入审核员" in result.output
    course = db_session.scalar(select(Course).where(Course.code == "GX-EM-002"))
    assert course.status == CourseStatus.PUBLISHED and course.created_by_id is None
    assert course.approved_by_id == reviewer.id
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "course.approved",
                                                       AuditEvent.target_id == str(course.id)))
    assert event.actor_id == reviewer.id and event.detail["via"] == "import"


def test_a_draft_import_needs_no_approver(runner, db_session):
    result = runner.invoke(args=["courses", "import", "--draft", str(ROOT / "courses" / "GX-EM-002")])
    assert result.exit_code == 0, result.output
    course = db_session.scalar(select(Course).where(Course.code == "GX-EM-002"))
    assert course.status == CourseStatus.DRAFT and course.approved_by_id is None
