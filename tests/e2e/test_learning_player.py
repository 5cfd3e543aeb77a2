"""The player in a real browser: progress rises and resumes, forward seeks are undone, a second
tab takes the lease, an unanswered attention check is reported. Beats every 2 s (config)."""

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from lms.credits.models import RuleSet
from lms.extensions import db
from lms.learning.models import LessonProgress
from tests.conftest import build_database, fresh_database, make_test_app
from tests.e2e.conftest import enrolled_learner, serving, until
from tests.e2e.pages import sign_in

pytestmark = pytest.mark.e2e
CODE = "GX-NS-001"


@pytest.fixture(scope="module")
def site(tmp_path_factory, live_server):
    """A server of its own whose app the tests can reach (to create learners and read progress).
    Depends on live_server only so the per-test rollback fixture stands aside."""
    tmp = tmp_path_factory.mktemp("player")
    with fresh_database(tmp, "player") as url:
        app = make_test_app(url, tmp, LMS_HEARTBEAT_SECONDS=2, LMS_READING_MIN_SECONDS=5)
        build_database(app, packages=(CODE,))
        with app.app_context():
            # Shanghai learners get an attention check after ~3 s of play, with 3 s to answer.
            db.session.add(RuleSet(name="测试：频繁确认", region_code="310000", attention_check_min_seconds=3,
                                   attention_check_max_seconds=3, attention_window_seconds=3))
            db.session.commit()
        with serving(app) as base:
            yield app, base


def learner(app, region="110000"):
    return enrolled_learner(app, CODE, region=region)


def play(page: Page):
    # Muted playback may start without a user gesture (browser autoplay policy).
    until(page, "document.getElementById('lesson-video').readyState >= 1")
    page.evaluate("() => { const v = document.getElementById('lesson-video'); v.muted = true; return v.play(); }")


def progress_of(app, user_id, lesson_id):
    with app.app_context():
        row = db.session.scalar(select(LessonProgress).where(LessonProgress.user_id == user_id,
                                                             LessonProgress.lesson_id == lesson_id))
        db.session.remove()
        return row


def test_progress_rises_and_reload_resumes(page: Page, site):
    app, base = site
    user_id, mobile, lessons = learner(app)
    sign_in(page, base, mobile)
    page.goto(f"{base}/learn/{CODE}/{lessons[0]}")
    expect(page.get_by_role("heading", name="课程目录")).to_be_visible()
    play(page)
    expect(page.locator("#st-watched")).not_to_have_text("0", timeout=10_000)
    page.wait_for_timeout(4_000)
    page.evaluate("document.getElementById('lesson-video').pause()")
    page.wait_for_timeout(1_000)
    saved = progress_of(app, user_id, lessons[0])
    assert saved.resume_position >= 3 and saved.watched_seconds >= 3
    # The time played waits for the next attention check: a pause credits nothing by itself.
    assert saved.credited_seconds == 0 and saved.pending_seconds >= 3
    expect(page.locator("#st-pending")).to_contain_text("待您下次确认在线学习后计入")
    page.reload()
    until(page, "document.getElementById('lesson-video').currentTime > 0", timeout=10)
    position = page.evaluate("document.getElementById('lesson-video').currentTime")
    assert abs(position - saved.resume_position) < 1.5
    expect(page.locator(f"#outline-{lessons[0]}")).to_contain_text("学习中")


def test_forward_seek_is_undone_and_credits_nothing(page: Page, site):
    app, base = site
    user_id, mobile, lessons = learner(app)
    sign_in(page, base, mobile)
    page.goto(f"{base}/learn/{CODE}/{lessons[0]}")
    play(page)
    page.wait_for_timeout(2_500)
    page.evaluate("document.getElementById('lesson-video').currentTime = 25")
    expect(page.locator("#player-message")).to_contain_text("不能拖动到尚未观看的位置")
    page.wait_for_timeout(500)
    assert page.evaluate("document.getElementById('lesson-video').currentTime") < 10
    page.wait_for_timeout(2_500)
    page.evaluate("document.getElementById('lesson-video').pause()")
    page.wait_for_timeout(1_000)
    saved = progress_of(app, user_id, lessons[0])
    assert saved.furthest_point < 15 and all(end < 15 for _, end in saved.watched_intervals)


def test_second_tab_takes_the_lease(page: Page, site):
    app, base = site
    user_id, mobile, lessons = learner(app)
    sign_in(page, base, mobile)
    page.goto(f"{base}/learn/{CODE}/{lessons[0]}")
    play(page)
    page.wait_for_timeout(2_500)
    other = page.context.new_page()
    other.goto(f"{base}/learn/{CODE}/{lessons[1]}")
    play(other)
    expect(page.get_by_text("已在其他页面或设备播放")).to_be_visible(timeout=10_000)
    assert page.evaluate("document.getElementById('lesson-video').paused")
    # Time counts in the tab holding the lease: credited, or on a long lesson held until the learner
    # confirms at the attention check (a few seconds of a 40-minute lesson are still 0 % watched).
    until(other, "() => document.getElementById('st-credited').textContent.trim() !== '0 秒'"
                " || document.getElementById('st-pending').textContent.trim() !== ''", timeout=10)
    other.close()


def test_unanswered_attention_check_is_reported(page: Page, site):
    app, base = site
    user_id, mobile, lessons = learner(app, region="310000")
    sign_in(page, base, mobile)
    page.goto(f"{base}/learn/{CODE}/{lessons[0]}")
    play(page)
    expect(page.get_by_role("alertdialog")).to_be_visible(timeout=15_000)
    expect(page.get_by_role("button", name="我在学习，继续计时")).to_be_focused()
    assert page.evaluate("document.getElementById('lesson-video').paused")
    expect(page.get_by_text(re.compile("未在规定时间内确认学习提示"))).to_be_visible(timeout=20_000)
    saved = progress_of(app, user_id, lessons[0])
    assert saved.not_counted.get("attention", 0) >= 3 and saved.credited_seconds == 0
    expect(page.locator("#st-not-counted")).to_contain_text("未及时确认在线学习提示")


def test_completing_the_last_lesson_updates_the_outline_and_offers_the_exam(page: Page, site):
    """No reload: the outline's count, the exam's state and a prompt to take it follow the beat that
    completed the course's last lesson."""
    from lms.catalog.models import Course
    from tests.learning_helpers import Clock, read_lesson, watch_video

    app, base = site
    user_id, mobile, _ = learner(app)
    with app.test_request_context():
        course = db.session.scalar(select(Course).where(Course.code == CODE))
        lessons = course.lessons
        last = next(lesson for lesson in lessons if lesson.kind == "reading")
        tick = Clock()
        for lesson in lessons:
            if lesson.id != last.id:
                (watch_video if lesson.kind == "video" else read_lesson)(user_id, lesson, tick)
        db.session.commit()
        total, last_id = len(lessons), last.id
        db.session.remove()

    sign_in(page, base, mobile)
    page.goto(f"{base}/learn/{CODE}/{last_id}")
    expect(page.locator("#outline-progress")).to_have_text(f"已完成 {total - 1} / {total}")
    expect(page.locator("#exam-status")).to_have_text("完成全部课时后开放")
    expect(page.locator("#course-ready")).to_be_hidden()
    # Reading for LMS_READING_MIN_SECONDS (5 s) completes it; the page follows without a reload.
    expect(page.locator("#outline-progress")).to_have_text(f"已完成 {total} / {total}", timeout=30_000)
    expect(page.locator("#exam-status")).to_have_text("可以参加")
    ready = page.locator("#course-ready")
    expect(ready).to_be_visible()
    ready.get_by_role("link", name="参加结业测验").click()
    expect(page).to_have_url(re.compile(rf"/learn/{CODE}/exam"))
