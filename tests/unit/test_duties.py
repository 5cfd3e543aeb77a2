"""Separation of duties: whoever created, edited or submitted a course version may not approve it.

The rule itself (lms.core.duties) and its use by the review workflow; a second reviewer approves."""

from types import SimpleNamespace

import pytest
from sqlalchemy import select

from lms.accounts.models import OrgKind, Role
from lms.accounts.services import get_or_create_organization, grant_role
from lms.catalog.models import CourseStatus
from lms.core.duties import ensure_not_involved
from lms.core.errors import NotAllowed
from lms.publishing import services
from lms.publishing.models import CourseEditor
from tests.unit.test_publishing import complete_course, data

pytestmark = pytest.mark.usefixtures("ctx")


# ---------------------------------------------------------------- the rule


def test_the_rule_refuses_anyone_involved_and_names_the_action():
    person = SimpleNamespace(id=7)
    ensure_not_involved(person, {3, 4, None}, "审核通过", subject="《数据安全》第 2 版")
    with pytest.raises(NotAllowed) as info:
        ensure_not_involved(person, [3, 7], "审核通过", subject="《数据安全》第 2 版")
    message = info.value.message
    assert "《数据安全》第 2 版" in message and "不能由您审核通过" in message and "其他" in message
    assert info.value.status == 403


def test_the_rule_wants_a_named_person():
    with pytest.raises(NotAllowed, match="指明"):
        ensure_not_involved(None, [], "审核通过")


# ---------------------------------------------------------------- the review workflow


@pytest.fixture
def org(db_session):
    return get_or_create_organization("省级专业技术人员继续教育基地", OrgKind.PUBLISHER)


@pytest.fixture
def dual(make_user, org, db_session):
    """A publisher of ``org`` who also holds the reviewer role."""
    user = make_user(roles=(Role.PUBLISHER,), organization=org, real_name="兼任审核员")
    grant_role(None, user, Role.REVIEWER)
    db_session.flush()
    return user


@pytest.fixture
def reviewer(make_user):
    return make_user(roles=(Role.REVIEWER,), real_name="独立审核员")


@pytest.fixture
def publisher(make_user, org):
    return make_user(roles=(Role.PUBLISHER,), organization=org, real_name="发布员")


def test_a_publisher_who_is_also_a_reviewer_cannot_approve_their_own_course(db_session, dual, reviewer, org):
    course = complete_course(db_session, dual, org)
    services.submit_course(dual, course)
    with pytest.raises(NotAllowed) as info:
        services.approve_course(dual, course)
    assert "参与了" in info.value.message and "审核通过" in info.value.message and course.title in info.value.message
    assert course.status == CourseStatus.IN_REVIEW and course.approved_by_id is None

    services.approve_course(reviewer, course)
    assert course.status == CourseStatus.PUBLISHED and course.approved_by_id == reviewer.id


def test_every_editor_of_the_version_is_recorded(db_session, publisher, dual, org):
    course = complete_course(db_session, publisher, org)
    assert course.created_by_id == publisher.id
    services.rename_chapter(dual, course.chapters[0], "第一章（修订）")
    services.submit_course(publisher, course)
    kinds = {(row.user_id, row.kind) for row in db_session.scalars(
        select(CourseEditor).where(CourseEditor.course_id == course.id))}
    assert kinds == {(publisher.id, "created"), (publisher.id, "edited"), (dual.id, "edited"),
                     (publisher.id, "submitted")}
    assert services.involved_user_ids(course) == {publisher.id, dual.id}


@pytest.mark.parametrize("edit", [
    lambda user, course: services.rename_chapter(user, course.chapters[0], "第一章（改）"),
    lambda user, course: services.update_course(user, course, services.CourseData(
        title="数据安全合规实务（修订）", subject_id=course.subject_id, category="public", summary="简介。",
        syllabus="", tags="", credit_hours=None, has_exam=True, pass_score=60)),
    lambda user, course: services.add_question(user, course, services.QuestionData("truefalse", "判断题", [], "true")),
    lambda user, course: services.delete_lesson(user, course.chapters[0].lessons[-1]),
    lambda user, course: services.move(user, course, "lesson", course.chapters[0].lessons[0].id, 1),
])
def test_any_edit_of_the_version_bars_approving_it(db_session, publisher, dual, reviewer, org, edit):
    course = complete_course(db_session, publisher, org)
    edit(dual, course)
    services.submit_course(publisher, course)
    with pytest.raises(NotAllowed, match="参与了"):
        services.approve_course(dual, course)
    services.approve_course(reviewer, course)
    assert course.status == CourseStatus.PUBLISHED


def test_an_edit_refused_by_validation_does_not_count(db_session, publisher, dual, reviewer, org):
    from lms.core.errors import InvalidInput

    course = complete_course(db_session, publisher, org)
    with pytest.raises(InvalidInput):
        services.rename_chapter(dual, course.chapters[0], "")
    services.submit_course(publisher, course)
    services.approve_course(dual, course)  # dual changed nothing
    assert course.approved_by_id == dual.id


def test_whoever_made_a_new_version_may_not_approve_it(db_session, publisher, dual, reviewer, org):
    first = complete_course(db_session, publisher, org)
    services.submit_course(publisher, first)
    services.approve_course(dual, first)  # dual had no part in version 1
    second = services.new_version(dual, first)
    assert second.created_by_id == dual.id
    services.submit_course(publisher, second)
    with pytest.raises(NotAllowed, match="第 2 版"):
        services.approve_course(dual, second)
    services.approve_course(reviewer, second)
    assert (first.status, second.status) == (CourseStatus.RETIRED, CourseStatus.PUBLISHED)


def test_admins_are_held_to_the_same_rule(db_session, make_user, publisher, org):
    admin = make_user(roles=(Role.ADMIN,), real_name="平台管理员")
    course = services.create_course(admin, org, "GX-TEST-190", data(db_session))
    chapter = services.add_chapter(publisher, course, "第一章")
    services.add_lesson(publisher, chapter, services.LessonData("阅读", "reading", "正文"))
    services.update_course(publisher, course, data(db_session, has_exam=False))
    services.submit_course(publisher, course)
    with pytest.raises(NotAllowed, match="参与了"):
        services.approve_course(admin, course)


def test_a_package_imported_on_the_web_counts_as_created_by_the_importer(db_session, dual, reviewer, org, tmp_path):
    from lms.catalog.models import Course
    from lms.catalog.services import export_archive

    source = db_session.scalar(select(Course).where(Course.code == "GX-NS-001"))
    archive = export_archive(source, tmp_path / "GX-NS-001.zip")
    db_session.delete(source)
    db_session.flush()
    [course] = services.import_package_archive(dual, archive, max_bytes=100 * 1024 * 1024, organization=org).imported
    assert course.status == CourseStatus.DRAFT and course.created_by_id == dual.id
    services.submit_course(dual, course)
    with pytest.raises(NotAllowed, match="参与了"):
        services.approve_course(dual, course)
    services.approve_course(reviewer, course)
