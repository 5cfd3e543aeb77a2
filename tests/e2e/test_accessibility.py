"""Accessibility checked by a machine: axe-core (tests/e2e/axe.py) on the main pages of every role at
desktop (1280×800) and phone (375×812) width, with no serious or critical WCAG 2.1 A/AA violation.

Also: a keyboard-only journey (Tab, Enter, Space) from login through a lesson, the player's controls
and the exam, with a visible focus at every stop; on phones, /unit's approve / refuse within reach
without sideways scrolling, and /me/hours's headers whole words.

The pages are those of the authorization matrix's world (tests/authz_world.py): courses in every
state, a learner with progress, an exam attempt and a certificate, a pending learner of a unit, an
export job, HR API clients. Each role signs in through the login form in a browser context of its
own. axe is injected as a script tag, so these contexts bypass the page's Content-Security-Policy."""

import io
import re
from urllib.parse import unquote

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from sqlalchemy import select

from tests.authz_world import _NUMBERS, build
from tests.conftest import TEST_PASSWORD, committed_app
from tests.e2e.axe import assert_accessible
from tests.e2e.conftest import enrolled_learner, serving, until

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 812}

PAGES = {
    "anonymous": ["/", "/courses", "/courses/{published_code}", "/login", "/register", "/verify",
                  "/verify?no={certificate}", "/help", "/search?q=网络安全"],
    "learner": ["/my/learning", "/learn/{published_code}/{published_lesson}", "/learn/{published_code}/exam",
                "/learn/exam/{attempt}", "/me/hours", "/me/certificates", "/profile", "/me/claims", "/me/claims/new",
                "/claims/{claim}", "/me/transfers", "/me/consent-links"],
    "publisher": ["/publish/", "/publish/courses/{draft}", "/publish/lessons/{lesson}", "/publish/import",
                  "/publish/media", "/publish/courses/new"],
    "reviewer": ["/review/", "/review/courses/{in_review}"],
    "unit-admin": ["/unit", "/exports/new", "/exports", "/exports/{job}", "/claims/review", "/claims/{claim}"],
    "hr-auditor": ["/region", "/api-clients"],
    "admin": ["/admin/rules", "/admin/rules/{rule}", "/admin/rules/new", "/admin/certificates",
              "/admin/certificates/{certificate}", "/api-clients", "/admin/federation/issuers"],
    "programme-office": ["/programme/?year=2022", "/programme/plans",
                         "/programme/cell?year=2022&department=教育部&domain=digital"],
    "programme-office-region": ["/programme/"],
}


@pytest.fixture(scope="module")
def site(tmp_path_factory, live_server):
    """The authorization matrix's world, served (depends on live_server only so the per-test
    rollback fixture stands aside)."""
    tmp = tmp_path_factory.mktemp("a11y")
    with committed_app(tmp, "a11y", packages=("GX-NS-001", "GX-DT-002"), LMS_LOGIN_RATE_LIMIT="100 per minute",
                       LMS_WEBHOOK_ALLOW_HTTP=True, LMS_WEBHOOK_ALLOW_PRIVATE=True,
                       LMS_HEARTBEAT_SECONDS=2, LMS_READING_MIN_SECONDS=5) as app:
        world = build(app)
        world.ids["keyboard_learner"] = keyboard_learner(app)
        with serving(app) as base:
            yield app, base, world


CAPTIONS = "WEBVTT\n\n00:00:00.000 --> 00:00:30.000\n本课时的字幕\n"


def keyboard_learner(app) -> str:
    """A learner of GX-NS-001 with every lesson done but the last (a reading), whose videos have
    captions; returns the mobile to sign in with."""
    from lms.catalog.models import Course
    from lms.extensions import db
    from lms.media import services as media
    from tests.learning_helpers import Clock, read_lesson, watch_video

    user_id, mobile, _ = enrolled_learner(app, "GX-NS-001", name="键盘学员")
    with app.test_request_context():
        course = db.session.scalar(select(Course).where(Course.code == "GX-NS-001"))
        *done, last = course.lessons
        assert last.kind == "reading"
        tick = Clock()
        for lesson in done:
            (watch_video if lesson.kind == "video" else read_lesson)(user_id, lesson, tick)
            if lesson.media_asset is not None:
                media.save_captions(lesson.media_asset, io.BytesIO(CAPTIONS.encode()), original_name="字幕.vtt")
        db.session.commit()
        db.session.remove()
    return mobile


def role_page(browser: Browser, base: str, world, role: str, viewport: dict):
    """A page in a context of its own at ``viewport``, signed in as ``role`` (unless anonymous)."""
    context = browser.new_context(viewport=viewport, locale="zh-CN", bypass_csp=True)
    page = context.new_page()
    if role != "anonymous":
        page.goto(base + "/login")
        page.get_by_label("身份证号 / 手机号 / 邮箱").fill(f"1365000{_NUMBERS[role]:04d}")
        page.get_by_label("密码").fill(TEST_PASSWORD)
        page.get_by_role("button", name="登录").click()
        expect(page.get_by_role("button", name="退出", include_hidden=True)).to_be_attached()
    return context, page


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("role", list(PAGES))
def test_main_pages_have_no_serious_violations(browser: Browser, site, role, viewport):
    app, base, world = site
    context, page = role_page(browser, base, world, role, viewport)
    failures = []
    try:
        for path in PAGES[role]:
            url = base + path.format(**world.ids)
            response = page.goto(url)
            assert response.status == 200 and unquote(page.url) == url, f"{role} {url}: HTTP {response.status} at {page.url}"
            page.wait_for_load_state("load")
            try:
                assert_accessible(page, f"{role} {path} at {viewport['width']} px")
            except AssertionError as error:
                failures.append(str(error))
    finally:
        context.close()
    assert not failures, "\n\n".join(failures)


# ---------------------------------------------------------------- keyboard only

def focused(locator: Locator) -> bool:
    return locator.evaluate("el => el === document.activeElement")


def assert_focus_visible(page: Page) -> None:
    """The focused element shows a focus ring (the site's :focus-visible outline) and is on screen."""
    ring = page.evaluate("""() => {
      const el = document.activeElement, style = getComputedStyle(el), box = el.getBoundingClientRect();
      return {tag: el.tagName + (el.id ? '#' + el.id : ''), outline: style.outlineStyle, width: parseFloat(style.outlineWidth),
              shown: box.width > 0 && box.height > 0};
    }""")
    assert ring["outline"] != "none" and ring["width"] >= 2 and ring["shown"], ring


def tab_to(page: Page, target: Locator, limit: int = 80) -> None:
    """Press Tab until ``target`` has the focus, checking the focus ring at every stop."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement !== document.body"):
            assert_focus_visible(page)
        if focused(target):
            return
    raise AssertionError(f"Tab never reached {target}")


def follow(page: Page) -> None:
    """Enter on the focused link or submit button, and wait for the page it opens."""
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state("load")


def answer_by_keyboard(page: Page, target: Locator, limit: int = 40) -> None:
    """Tick ``target`` (a radio or a checkbox) with the keyboard: Tab into its group, arrows within a
    radio group, Space to tick."""
    name = target.get_attribute("name")
    for _ in range(limit):
        if focused(target):
            if not target.is_checked():
                page.keyboard.press("Space")
            expect(target).to_be_checked()
            return
        same_group = page.evaluate("n => document.activeElement.type === 'radio' && document.activeElement.name === n", name)
        page.keyboard.press("ArrowDown" if same_group else "Tab")
        assert_focus_visible(page)
    raise AssertionError(f"the keyboard never reached {target}")


def test_keyboard_only_from_login_through_a_lesson_and_the_exam(browser: Browser, site):
    from lms.extensions import db
    from lms.learning.models import QuizAttempt
    from tests.learning_helpers import correct_answers

    app, base, world = site
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(base + "/login")
        # The skip link comes first and takes the focus into the page's main content.
        tab_to(page, page.get_by_role("link", name="跳到主要内容"), limit=1)
        page.keyboard.press("Enter")
        tab_to(page, page.get_by_label("身份证号 / 手机号 / 邮箱"), limit=3)
        page.keyboard.type(world.ids["keyboard_learner"])
        tab_to(page, page.get_by_label("密码"), limit=3)
        page.keyboard.type(TEST_PASSWORD)
        follow(page)
        expect(page.get_by_role("button", name="退出")).to_be_visible()

        tab_to(page, page.get_by_role("link", name="我的学习"))
        follow(page)
        resume = page.get_by_role("link", name=re.compile("^继续学习"))
        tab_to(page, resume)
        follow(page)
        expect(page).to_have_url(re.compile(r"/learn/GX-NS-001/\d+$"))
        # The last lesson is a reading: staying on it completes the course's lessons.
        expect(page.locator("#course-ready")).to_be_visible(timeout=30_000)

        # Back to a video lesson through the outline, and its controls by keyboard.
        tab_to(page, page.locator(".outline .lesson-link").nth(4))
        follow(page)
        video = page.locator("#lesson-video")
        expect(video).to_have_attribute("aria-label", re.compile("课程视频"))
        until(page, "document.getElementById('lesson-video').readyState >= 1")
        play = page.get_by_role("button", name="播放")
        tab_to(page, play)
        page.keyboard.press("Enter")
        until(page, "!document.getElementById('lesson-video').paused")
        pause = page.get_by_role("button", name="暂停")
        expect(pause).to_be_focused()
        page.keyboard.press("Space")
        until(page, "document.getElementById('lesson-video').paused")
        expect(page.get_by_role("button", name="播放")).to_be_focused()

        captions = page.get_by_role("button", name="字幕")
        expect(captions).to_have_attribute("aria-pressed", "true")
        tab_to(page, captions, limit=3)
        track_mode = "document.getElementById('lesson-video').textTracks[0].mode"
        page.keyboard.press("Enter")
        expect(captions).to_have_attribute("aria-pressed", "false")
        assert page.evaluate(track_mode) == "hidden"
        page.keyboard.press("Space")
        expect(captions).to_have_attribute("aria-pressed", "true")
        assert page.evaluate(track_mode) == "showing"

        # The exam, from the outline.
        tab_to(page, page.locator(".outline").get_by_role("link", name="结业测验"))
        follow(page)
        expect(page).to_have_url(re.compile(r"/learn/GX-NS-001/exam$"))
        tab_to(page, page.get_by_role("button", name="开始测验"))
        follow(page)
        expect(page).to_have_url(re.compile(r"/learn/exam/\d+$"))
        attempt_id = int(page.url.rsplit("/", 1)[1])
        with app.app_context():
            answers = correct_answers(db.session.get(QuizAttempt, attempt_id))
            db.session.remove()
        for fieldset in page.locator("form fieldset").all():
            question_id = fieldset.locator("input").first.get_attribute("name").removeprefix("q-")
            for value in answers[question_id]:
                answer_by_keyboard(page, page.locator(f"#q{question_id}-{value}"))
        tab_to(page, page.get_by_role("button", name="提交"))
        follow(page)
        expect(page.get_by_role("heading", name="结业测验成绩")).to_be_visible()
        expect(page.get_by_role("status")).to_contain_text("通过")
        expect(page.get_by_role("status")).not_to_contain_text("未通过")
    finally:
        context.close()


# ---------------------------------------------------------------- phone layouts

def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways: {width[0]} px wide in a {width[1]} px window"


def within_viewport(page: Page, locator: Locator) -> None:
    box = locator.bounding_box()
    viewport = page.viewport_size
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], (locator, box)


def test_unit_approvals_are_cards_within_reach_on_a_phone(browser: Browser, site):
    app, base, world = site
    context, page = role_page(browser, base, world, "unit-admin", PHONE)
    try:
        page.goto(base + "/unit")
        card = page.locator("section[aria-labelledby='pending-h'] tbody tr", has_text="待审甲")
        expect(card).to_be_visible()
        no_sideways_scroll(page)
        within_viewport(page, card)
        approve, refuse = card.get_by_role("button", name="通过", exact=True), card.get_by_text("不通过", exact=True)
        within_viewport(page, approve)
        within_viewport(page, refuse)
        # Each value carries its label on the card, the table's header being out of sight.
        expect(card.locator("td[data-label='身份证号']")).to_be_visible()
        assert "身份证号" in card.locator("td[data-label='身份证号']").evaluate(
            "el => getComputedStyle(el, '::before').content")
        refuse.click()
        reason = card.get_by_label("不通过的原因（学员可见）")
        expect(reason).to_be_visible()
        within_viewport(page, reason)
        within_viewport(page, card.get_by_role("button", name="确认不通过"))
        no_sideways_scroll(page)
    finally:
        context.close()


def test_my_hours_headers_keep_words_whole_on_a_phone(browser: Browser, site):
    app, base, world = site
    context, page = role_page(browser, base, world, "learner", PHONE)
    try:
        page.goto(base + "/me/hours")
        headers = page.locator("main table th")
        expect(headers.first).to_be_visible()
        # A header's text on one line: its text node spans a single line box.
        lines = headers.evaluate_all("""ths => ths.map(th => {
          const range = document.createRange(); range.selectNodeContents(th);
          const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
          return [th.textContent.trim(), tops.size];
        })""")
        assert lines and all(count == 1 for _, count in lines), lines
        fits = page.locator("main table").evaluate("t => t.scrollWidth <= t.parentElement.clientWidth")
        assert fits, "the records table scrolls sideways"
        no_sideways_scroll(page)
    finally:
        context.close()
