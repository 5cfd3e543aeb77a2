"""Notices: who publishes where, what a visitor sees, unread marks, and bodies that carry script."""

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from lms.accounts.models import Role
from lms.core.audit import AuditEvent
from lms.core.errors import InvalidInput, NotAllowed, NotFound
from lms.notices import services
from lms.notices.models import Notice, NoticeRead

pytestmark = pytest.mark.usefixtures("ctx")


def data(**kw) -> services.NoticeData:
    values = dict(title="关于2026年度公需科目学习的通知", body="请于 **12 月 31 日** 前完成。", region_code="110000")
    values.update(kw)
    return services.NoticeData(**values)


@pytest.fixture
def people(make_user):
    return {
        "admin": make_user(roles=(Role.ADMIN,), real_name="管理员"),
        "beijing": make_user(roles=(Role.HR_AUDITOR,), real_name="京审", region_code="110000"),
        "learner_bj": make_user(real_name="京学员", region="110000"),
        "learner_gd": make_user(real_name="粤学员", region="440000"),
    }


def test_an_hr_auditor_publishes_for_their_region_only(people, db_session):
    auditor = people["beijing"]
    notice = services.publish_notice(auditor, data())
    assert notice.region_code == "110000" and notice.author_id == auditor.id
    before = db_session.scalar(select(func.count(Notice.id)))
    with pytest.raises(NotAllowed, match="北京市") as other:
        services.publish_notice(auditor, data(region_code="440000"))
    assert other.value.field == "region_code"
    with pytest.raises(NotAllowed, match="全国"):
        services.publish_notice(auditor, data(region_code=None))
    assert db_session.scalar(select(func.count(Notice.id))) == before
    with pytest.raises(NotAllowed):
        services.publish_notice(people["learner_bj"], data())


def test_an_admin_publishes_nationwide_and_for_any_region(people):
    admin = people["admin"]
    assert services.publish_notice(admin, data(region_code=None)).region_code is None
    assert services.publish_notice(admin, data(region_code="440000")).region_code == "440000"


def test_an_hr_auditor_cannot_edit_or_withdraw_another_regions_notice(people):
    notice = services.publish_notice(people["admin"], data(region_code="440000"))
    with pytest.raises(NotAllowed):
        services.notice_to_manage(people["beijing"], notice.id)
    with pytest.raises(NotAllowed):
        services.withdraw_notice(people["beijing"], notice)
    assert notice.withdrawn_at is None
    own = services.publish_notice(people["beijing"], data())
    with pytest.raises(NotAllowed):  # nor move their own to another region
        services.update_notice(people["beijing"], own, data(region_code="440000"))


@pytest.mark.parametrize("body", [
    "<script>alert(1)</script>", "通知<SCRIPT src=//x.example/a.js></SCRIPT>", "<img src=x onerror=alert(1)>",
    "<iframe src=https://x.example></iframe>", "[点我](javascript:alert(1))", "<svg onload=alert(1)>",
    "< script >alert(1)</script>",
])
def test_a_body_with_script_is_refused_with_the_reason_and_nothing_is_stored(people, db_session, body):
    before = db_session.scalar(select(func.count(Notice.id)))
    with pytest.raises(InvalidInput, match="脚本或网页代码") as refused:
        services.publish_notice(people["admin"], data(body=body))
    assert refused.value.field == "body"
    assert db_session.scalar(select(func.count(Notice.id))) == before


def test_markup_that_gets_through_is_shown_as_text_never_as_markup(people):
    from lms.core.markdown import render_markdown

    notice = services.publish_notice(people["admin"], data(body="<b>粗</b> 与 <span>标签</span>\n\n**加粗**"))
    html = render_markdown(notice.body)
    assert "<b>" not in html and "&lt;b&gt;" in html and "<strong>加粗</strong>" in html


@pytest.mark.parametrize("kw, field", [
    (dict(title="通"), "title"), (dict(title="长" * 101), "title"), (dict(body="  "), "body"),
    (dict(region_code="999999"), "region_code"),
    (dict(starts_on=date(2026, 12, 1), ends_on=date(2026, 11, 30)), "ends_on"),
])
def test_bad_fields_are_named(people, kw, field):
    with pytest.raises(InvalidInput) as refused:
        services.publish_notice(people["admin"], data(**kw))
    assert refused.value.field == field


def test_visitors_see_nationwide_notices_and_their_regions_in_force_pinned_first(people, db_session):
    admin = people["admin"]
    today = services.today()
    national = services.publish_notice(admin, data(title="全国通知", region_code=None))
    beijing = services.publish_notice(admin, data(title="北京通知", region_code="110000"))
    pinned = services.publish_notice(admin, data(title="北京置顶", region_code="110000", pinned=True,
                                                 starts_on=today - timedelta(days=30)))
    services.publish_notice(admin, data(title="广东通知", region_code="440000"))
    services.publish_notice(admin, data(title="明天起", region_code=None, starts_on=today + timedelta(days=1)))
    services.publish_notice(admin, data(title="已过期", region_code=None, starts_on=today - timedelta(days=9),
                                        ends_on=today - timedelta(days=1)))
    withdrawn = services.publish_notice(admin, data(title="已撤回", region_code=None))
    services.withdraw_notice(admin, withdrawn)
    ending_today = services.publish_notice(admin, data(title="今天截止", region_code=None, ends_on=today))

    def titles(viewer, region=None):
        return [n.title for n, _unread in services.notices_for(viewer, region_code=region).items]

    assert titles(people["learner_bj"])[0] == pinned.title
    assert set(titles(people["learner_bj"])) == {national.title, beijing.title, pinned.title, ending_today.title}
    assert set(titles(people["learner_gd"])) == {national.title, "广东通知", ending_today.title}
    from flask_login import AnonymousUserMixin

    anonymous = AnonymousUserMixin()
    assert set(titles(anonymous)) == {national.title, ending_today.title}
    assert "北京通知" in titles(anonymous, "110000")
    assert [n.title for n, _ in services.home_notices(people["learner_bj"])][0] == pinned.title


def test_unread_marks_follow_what_a_learner_opened(people, db_session):
    admin, learner = people["admin"], people["learner_bj"]
    first = services.publish_notice(admin, data(title="第一条"))
    services.publish_notice(admin, data(title="第二条", region_code=None))
    services.publish_notice(admin, data(title="广东的", region_code="440000"))
    assert services.unread_count(learner) == 2
    services.read_notice(learner, first.id)
    services.read_notice(learner, first.id)  # twice: still one row
    assert db_session.scalar(select(func.count(NoticeRead.id)).where(NoticeRead.user_id == learner.id)) == 1
    assert services.unread_count(learner) == 1
    marks = {n.title: unread for n, unread in services.notices_for(learner).items}
    assert marks == {"第一条": False, "第二条": True}
    assert services.mark_all_read(learner) == 1 and services.unread_count(learner) == 0


def test_a_notice_not_in_force_is_not_found_except_by_who_may_manage_it(people):
    notice = services.publish_notice(people["admin"], data(title="广东的", region_code="440000"))
    assert services.read_notice(people["learner_bj"], notice.id) is notice  # its link opens for anyone
    later = services.publish_notice(people["admin"], data(region_code="440000",
                                                          starts_on=services.today() + timedelta(days=3)))
    with pytest.raises(NotFound):
        services.read_notice(people["learner_gd"], later.id)
    with pytest.raises(NotFound):
        services.read_notice(people["beijing"], later.id)
    services.withdraw_notice(people["admin"], notice)
    with pytest.raises(NotFound):
        services.read_notice(people["learner_gd"], notice.id)
    assert services.read_notice(people["admin"], notice.id) is notice


def test_publishing_editing_and_withdrawing_are_audited(people, db_session):
    admin = people["admin"]
    notice = services.publish_notice(admin, data())
    services.update_notice(admin, notice, data(title="改过的标题"))
    services.withdraw_notice(admin, notice)
    events = db_session.scalars(select(AuditEvent).where(AuditEvent.target_type == "Notice",
                                                         AuditEvent.target_id == str(notice.id))
                                .order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == ["notice.published", "notice.updated", "notice.withdrawn"]
    assert all(e.actor_id == admin.id for e in events) and events[1].detail["title"] == "改过的标题"
