"""The publisher's editor and the review workflow, as services."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from lms.accounts.models import OrgKind, Role
from lms.accounts.services import get_or_create_organization
from lms.catalog.models import Course, CourseStatus, Subject
from lms.core.errors import Conflict, InvalidInput, NotAllowed
from lms.media.models import MediaAsset, MediaStatus
from lms.publishing import services
from lms.publishing.models import ReviewEvent

pytestmark = pytest.mark.usefixtures("ctx")


@pytest.fixture
def org(db_session):
    return get_or_create_organization("省级专业技术人员继续教育基地", OrgKind.PUBLISHER)


@pytest.fixture
def publisher(make_user, org):
    return make_user(roles=(Role.PUBLISHER,), organization=org)


@pytest.fixture
def reviewer(make_user):
    return make_user(roles=(Role.REVIEWER,), real_name="审核员")


def data(db_session, **kw):
    subject = db_session.scalar(select(Subject).where(Subject.code == "cybersecurity"))
    values = dict(title="数据安全合规实务", subject_id=subject.id, category="public", summary="面向专业技术人员的数据安全课程。",
                  syllabus="一、数据安全法\n二、合规实践", tags="数据安全，合规 GDPR", credit_hours=None, has_exam=True,
                  pass_score=60)
    values.update(kw)
    return services.CourseData(**values)


def ready_asset(db_session, org, seconds=45 * 60):
    asset = MediaAsset(organization_id=org.id, original_name="lecture.mp4", path="videos/x.mp4", sha256="0" * 64,
                       size_bytes=1, duration_seconds=seconds, status=MediaStatus.READY, mp4_path="videos/x.mp4")
    db_session.add(asset)
    db_session.flush()
    return asset


def complete_course(db_session, publisher, org, code="GX-TEST-101"):
    course = services.create_course(publisher, org, code, data(db_session))
    chapter = services.add_chapter(publisher, course, "第一章 数据安全法")
    lesson = services.add_lesson(publisher, chapter, services.LessonData("数据分类分级", "video"))
    services.attach_video(publisher, lesson, ready_asset(db_session, org))
    services.add_lesson(publisher, chapter, services.LessonData("阅读材料", "reading", "# 正文\n\n内容"))
    for n in range(5):
        services.add_question(publisher, course, services.QuestionData("single", f"第 {n + 1} 题", ["甲", "乙", "丙"], "B"))
    return course


def test_create_course_checks_code_and_fields(db_session, publisher, org):
    course = services.create_course(publisher, org, "gx-test-100", data(db_session))
    assert course.code == "GX-TEST-100" and course.status == CourseStatus.DRAFT and course.version == 1
    assert course.tags == ["数据安全", "合规", "GDPR"]
    with pytest.raises(Conflict, match="已被使用"):
        services.create_course(publisher, org, "GX-TEST-100", data(db_session))
    with pytest.raises(InvalidInput, match="课程编号"):
        services.create_course(publisher, org, "坏编号", data(db_session))
    with pytest.raises(InvalidInput, match="课程名称"):
        services.create_course(publisher, org, "GX-TEST-102", data(db_session, title="x"))


def test_publishers_of_other_organizations_cannot_touch_a_course(db_session, publisher, org, make_user):
    course = services.create_course(publisher, org, "GX-TEST-103", data(db_session))
    other_org = get_or_create_organization("另一家发布机构", OrgKind.PUBLISHER)
    outsider = make_user(roles=(Role.PUBLISHER,), organization=other_org)
    with pytest.raises(NotAllowed):
        services.update_course(outsider, course, data(db_session, title="被篡改"))
    with pytest.raises(NotAllowed):
        services.add_chapter(outsider, course, "第一章")
    with pytest.raises(NotAllowed):
        services.create_course(outsider, org, "GX-TEST-104", data(db_session))
    assert course.id not in {c.id for c in services.publisher_courses(outsider)}
    foreign_asset = ready_asset(db_session, other_org)
    chapter = services.add_chapter(publisher, course, "第一章")
    lesson = services.add_lesson(publisher, chapter, services.LessonData("视频", "video"))
    with pytest.raises(NotAllowed, match="本机构媒体库"):
        services.attach_video(publisher, lesson, foreign_asset)


def test_outline_reorders_by_buttons_and_by_drag(db_session, publisher, org):
    course = services.create_course(publisher, org, "GX-TEST-105", data(db_session))
    one = services.add_chapter(publisher, course, "一")
    two = services.add_chapter(publisher, course, "二")
    a = services.add_lesson(publisher, one, services.LessonData("甲", "reading", "正文"))
    b = services.add_lesson(publisher, one, services.LessonData("乙", "reading", "正文"))
    c = services.add_lesson(publisher, two, services.LessonData("丙", "reading", "正文"))
    services.move(publisher, course, "lesson", b.id, -1)
    assert [lesson.title for lesson in one.lessons] == ["乙", "甲"]
    services.move(publisher, course, "lesson", a.id, +1)  # past the end: into the next chapter
    assert [lesson.title for lesson in two.lessons] == ["甲", "丙"]
    services.move(publisher, course, "chapter", two.id, -1)
    assert [ch.title for ch in course.chapters] == ["二", "一"]
    services.reorder_outline(publisher, course, [(one.id, [c.id, b.id]), (two.id, [a.id])])
    assert [(ch.title, [lesson.title for lesson in ch.lessons]) for ch in course.chapters] == \
        [("一", ["丙", "乙"]), ("二", ["甲"])]
    assert [lesson.position for lesson in one.lessons] == [1, 2]
    with pytest.raises(InvalidInput, match="刷新页面"):
        services.reorder_outline(publisher, course, [(one.id, [c.id]), (two.id, [a.id])])  # one lesson missing


def test_credit_hours_are_suggested_from_video_minutes(db_session, publisher, org):
    course = complete_course(db_session, publisher, org)  # 45 minutes of video
    assert services.suggested_credit_hours(course) == Decimal("1.0")
    assert services.credit_hours_bounds(course) == (Decimal("0.5"), Decimal("1.0"))  # 1.5: more than 45 minutes
    services.update_course(publisher, course, data(db_session, credit_hours=Decimal("1.0")))
    assert course.credit_hours == Decimal("1.0")
    with pytest.raises(InvalidInput, match="课程标称 1.5 学时，但视频与阅读时长合计 45 分 1 秒（视频 45 分 0 秒，阅读约 1 秒），按每学时 45 分钟最多可认定 1.0 学时"):
        services.update_course(publisher, course, data(db_session, credit_hours=Decimal("1.5")))
    assert course.credit_hours == Decimal("1.0")
    with pytest.raises(InvalidInput, match="整数倍"):
        services.update_course(publisher, course, data(db_session, credit_hours=Decimal("1.2")))


def test_submit_lists_what_is_missing(db_session, publisher, org):
    course = services.create_course(publisher, org, "GX-TEST-106", data(db_session))
    chapter = services.add_chapter(publisher, course, "第一章")
    services.add_lesson(publisher, chapter, services.LessonData("没有视频的视频课", "video"))
    with pytest.raises(InvalidInput) as info:
        services.submit_course(publisher, course)
    assert "还没有关联视频" in info.value.message and "至少需要 5 道题" in info.value.message
    assert course.status == CourseStatus.DRAFT


def test_review_approve_publishes_and_records_every_transition(db_session, publisher, reviewer, org):
    course = complete_course(db_session, publisher, org)
    with pytest.raises(NotAllowed):
        services.approve_course(publisher, course)
    services.submit_course(publisher, course)
    with pytest.raises(Conflict, match="审核中"):
        services.update_course(publisher, course, data(db_session))
    services.approve_course(reviewer, course)
    assert course.status == CourseStatus.PUBLISHED and course.published_at
    events = services.review_history(course)
    assert [(e.from_status, e.to_status, e.actor_id) for e in events] == [
        ("draft", "in_review", publisher.id), ("in_review", "published", reviewer.id)]
    with pytest.raises(Conflict, match="创建新版本"):
        services.add_chapter(publisher, course, "第二章")


def test_reject_needs_a_reason_and_returns_the_course_for_editing(db_session, publisher, reviewer, org):
    course = complete_course(db_session, publisher, org)
    services.submit_course(publisher, course)
    with pytest.raises(InvalidInput, match="退回原因"):
        services.reject_course(reviewer, course, "不行")
    services.reject_course(reviewer, course, "第二节视频声音过小，请重新录制。")
    assert course.status == CourseStatus.REJECTED
    assert services.review_history(course)[-1].reason == "第二节视频声音过小，请重新录制。"
    services.add_chapter(publisher, course, "第二章 补充")  # editable again
    services.submit_course(publisher, course)
    assert course.status == CourseStatus.IN_REVIEW


def test_new_version_copies_content_and_replaces_the_old_one_on_approval(db_session, publisher, reviewer, org):
    first = complete_course(db_session, publisher, org)
    services.submit_course(publisher, first)
    services.approve_course(reviewer, first)
    second = services.new_version(publisher, first)
    assert (second.code, second.version, second.status) == (first.code, 2, CourseStatus.DRAFT)
    assert [lesson.title for lesson in second.lessons] == [lesson.title for lesson in first.lessons]
    assert [lesson.media_asset_id for lesson in second.lessons] == [lesson.media_asset_id for lesson in first.lessons]
    assert len(services.questions_of(second)) == 5
    assert services.new_version(publisher, first) is second  # one draft at a time
    services.rename_chapter(publisher, second.chapters[0], "第一章（修订）")
    assert first.chapters[0].title == "第一章 数据安全法"  # the published version is untouched
    services.submit_course(publisher, second)
    services.approve_course(reviewer, second)
    assert (first.status, second.status) == (CourseStatus.RETIRED, CourseStatus.PUBLISHED)
    assert services.publisher_courses(publisher)[0].id == second.id
    retired = db_session.scalar(select(ReviewEvent).where(ReviewEvent.course_id == first.id,
                                                          ReviewEvent.to_status == "retired"))
    assert "第 2 版" in retired.reason
    assert [c.version for c in db_session.scalars(select(Course).where(Course.code == first.code)
                                                  .order_by(Course.version))] == [1, 2]
