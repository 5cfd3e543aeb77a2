"""通知公告 pages: publishing, the home page and the list by region, unread marks, script refused."""

import pytest
from sqlalchemy import func, select

from lms.accounts.models import Role
from lms.notices import services
from lms.notices.models import Notice
from tests.conftest import TEST_PASSWORD


@pytest.fixture
def auditor(make_user):
    return make_user(roles=(Role.HR_AUDITOR,), real_name="京审", region_code="110000")


def publish(client, csrf_token, **form):
    page = client.get("/notices/new")
    assert page.status_code == 200
    data = {"title": "北京市2026年度公需科目学习安排", "body": "请于 **12 月 31 日** 前完成 90 学时。",
            "region_code": "110000", "csrf_token": csrf_token(page.get_data(as_text=True)), **form}
    return client.post("/notices/new", data=data)


def test_an_auditor_publishes_and_learners_of_the_region_see_it_on_the_home_page(
        client, client_factory, login, make_user, auditor, csrf_token, db_session):
    login(auditor)
    page = client.get("/notices/new").get_data(as_text=True)
    assert "北京市" in page and "广东省" not in page and "全国（所有地区）" not in page  # only their region
    sent = publish(client, csrf_token, pinned="y")
    assert sent.status_code == 303
    notice = db_session.scalar(select(Notice).order_by(Notice.id.desc()))
    assert notice.pinned and notice.region_code == "110000"

    reader = client_factory()
    learner = make_user(real_name="京学员", region="110000")
    page = reader.get("/login")
    reader.post("/login", data={"login": learner.mobile, "password": TEST_PASSWORD,
                                "csrf_token": csrf_token(page.get_data(as_text=True))})
    home = reader.get("/").get_data(as_text=True)
    assert "北京市2026年度公需科目学习安排" in home and "未读" in home and 'id="unread-notices"' in home
    opened = reader.get(f"/notices/{notice.id}").get_data(as_text=True)
    assert "<strong>12 月 31 日</strong>" in opened
    home = reader.get("/").get_data(as_text=True)
    assert "未读" not in home and 'id="unread-notices"' not in home

    anonymous = client_factory()
    assert "北京市2026年度公需科目学习安排" not in anonymous.get("/").get_data(as_text=True)
    assert "北京市2026年度公需科目学习安排" in anonymous.get("/notices?region=110000").get_data(as_text=True)
    assert "北京市2026年度公需科目学习安排" not in anonymous.get("/notices?region=440000").get_data(as_text=True)


def test_a_body_with_script_comes_back_with_the_reason_and_nothing_published(client, login, auditor, csrf_token,
                                                                              db_session):
    login(auditor)
    before = db_session.scalar(select(func.count(Notice.id)))
    sent = publish(client, csrf_token, body="请注意<script>alert('x')</script>")
    html = sent.get_data(as_text=True)
    assert sent.status_code == 400
    assert "脚本或网页代码" in html and "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html  # what was typed is kept, as text
    assert db_session.scalar(select(func.count(Notice.id))) == before


def test_html_in_a_published_body_is_shown_as_text(client, make_user, ctx, db_session):
    admin = make_user(roles=(Role.ADMIN,))
    notice = services.publish_notice(admin, services.NoticeData(
        title="含标签的通知", body='<b>粗体</b> 与 <u>下划线</u>', region_code=None))
    db_session.commit()
    html = client.get(f"/notices/{notice.id}").get_data(as_text=True)
    assert "<u>" not in html and "&lt;u&gt;下划线&lt;/u&gt;" in html


def test_an_auditor_of_another_region_is_refused_and_nothing_changes(client, login, make_user, auditor, ctx,
                                                                    csrf_token, db_session):
    notice = services.publish_notice(auditor, services.NoticeData(title="北京的通知", body="正文。", region_code="110000"))
    db_session.commit()
    other = make_user(roles=(Role.HR_AUDITOR,), region_code="440000")
    login(other)
    assert client.get(f"/notices/{notice.id}/edit").status_code == 403
    sent = publish(client, csrf_token)  # naming Beijing, which is not theirs
    assert sent.status_code == 403 and "广东省" in sent.get_data(as_text=True)
    token = csrf_token(client.get("/notices/manage").get_data(as_text=True))
    assert client.post(f"/notices/{notice.id}/withdraw", data={"csrf_token": token}).status_code == 403
    db_session.refresh(notice)
    assert notice.withdrawn_at is None and "北京的通知" not in client.get("/notices/manage").get_data(as_text=True)
    assert client.get("/admin/people").status_code == 403  # nor the console


def test_withdrawing_takes_a_notice_off_the_lists(client, login, auditor, csrf_token, ctx, db_session):
    notice = services.publish_notice(auditor, services.NoticeData(title="将撤回的通知", body="正文。", region_code="110000"))
    db_session.commit()
    login(auditor)
    token = csrf_token(client.get("/notices/manage").get_data(as_text=True))
    assert client.post(f"/notices/{notice.id}/withdraw", data={"csrf_token": token}).status_code == 302
    assert "将撤回的通知" not in client.get("/notices").get_data(as_text=True)
    assert "已撤回" in client.get("/notices/manage").get_data(as_text=True)


def test_read_all_clears_the_unread_marks(client, login, make_user, ctx, csrf_token, db_session):
    admin = make_user(roles=(Role.ADMIN,))
    for n in range(3):
        services.publish_notice(admin, services.NoticeData(title=f"全国通知{n}", body="正文。"))
    db_session.commit()
    learner = make_user()
    login(learner)
    listing = client.get("/notices").get_data(as_text=True)
    assert listing.count("notice-unread") >= 3
    assert client.post("/notices/read-all", data={"csrf_token": csrf_token(listing)}).status_code == 302
    assert "notice-unread" not in client.get("/notices").get_data(as_text=True)
    assert services.unread_count(learner) == 0
