"""Search in a real browser: type a query, narrow by a facet, open a result."""

import re
from urllib.parse import unquote

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e


def test_learner_searches_filters_by_subject_and_opens_a_course(page: Page, live_server):
    page.goto(live_server + "/")
    page.get_by_label("搜索课程").first.fill("安全")
    page.get_by_role("button", name="搜索").first.click()
    expect(page).to_have_url(re.compile(r"/search\?q="))
    expect(page.locator("#result-count")).to_contain_text("“安全”共找到")
    expect(page.locator(".search-hit mark").first).to_be_visible()

    page.locator(".facets").get_by_role("link", name=re.compile("应急管理")).click()
    expect(page).to_have_url(re.compile(r"subject=emergency"))
    expect(page.locator(".search-hit")).to_have_count(2)
    expect(page.locator(".facets").get_by_text("✓ 应急管理")).to_be_visible()

    page.get_by_role("link", name="学时从多到少").click()
    expect(page).to_have_url(re.compile(r"sort=hours"))
    first = page.locator(".search-hit h2 a").first
    expect(first).to_have_text("突发事件应对与应急管理")
    first.click()
    expect(page.get_by_role("heading", name="突发事件应对与应急管理", level=1)).to_be_visible()


def test_mixed_language_query_and_no_result_suggestions(page: Page, live_server):
    page.goto(live_server + "/search?q=AI 伦理")
    expect(page.locator(".search-hit h2 a").first).to_have_text("人工智能通识")
    page.goto(live_server + "/search?q=烘焙蛋糕")
    expect(page.get_by_text("没有找到与“烘焙蛋糕”相关的课程")).to_be_visible()
    page.locator(".suggestions").get_by_role("link").first.click()
    expect(page.locator(".search-hit").first).to_be_visible()


def test_suggestions_while_typing_are_keyboard_navigable_at_phone_width(page: Page, live_server):
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(live_server + "/search")
    box = page.locator("#search-q")
    box.press_sequentially("个人信", delay=40)
    listbox = page.locator("#search-q-list")
    expect(listbox).to_be_visible()
    expect(box).to_have_attribute("aria-expanded", "true")
    options = listbox.get_by_role("option")
    expect(options.first).to_contain_text("个人信息")
    # The list fits the phone's width.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    box.press("Escape")
    expect(listbox).to_be_hidden()
    expect(box).to_have_attribute("aria-expanded", "false")
    box.fill("")
    box.press_sequentially("网络安", delay=40)
    expect(options.first).to_contain_text("网络安全")
    box.press("ArrowDown")
    expect(options.first).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", "search-q-option-0")
    chosen = options.first.evaluate("li => li.firstChild.textContent")
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q="))
    expect(page.locator("#result-count")).to_contain_text(f"“{chosen}”共找到")
    expect(page.locator(".search-hit").first).to_be_visible()


def test_a_late_reply_does_not_move_the_list_under_the_arrow_keys(page: Page, live_server):
    """The learner arrows onto an option while the reply for the last typed character is still on
    its way; when it lands, Enter still searches the option picked, not the half-typed words."""
    page.goto(live_server + "/search")
    box = page.locator("#search-q")
    box.press_sequentially("网络", delay=40)
    options = page.locator("#search-q-list").get_by_role("option")
    expect(options.first).to_contain_text("网络安全")
    held = []

    def hold(route):
        held.append(route)

    page.route(lambda url: "/search/suggest" in url and unquote(url).endswith("q=网络安"), hold)
    with page.expect_request(lambda r: unquote(r.url).endswith("q=网络安")):
        box.press_sequentially("安", delay=40)
    box.press("ArrowDown")
    expect(box).to_have_attribute("aria-activedescendant", "search-q-option-0")
    chosen = options.first.evaluate("li => li.firstChild.textContent")
    assert chosen != "网络安"
    with page.expect_response(lambda r: unquote(r.url).endswith("q=网络安")):
        held[0].continue_()
    page.wait_for_timeout(100)  # the reply's handler runs after the response event
    expect(box).to_have_attribute("aria-activedescendant", "search-q-option-0")
    box.press("Enter")
    expect(page.locator("#result-count")).to_contain_text(f"“{chosen}”共找到")


def test_every_word_must_match_then_a_partial_match_is_announced(page: Page, live_server):
    page.goto(live_server + "/search?q=" + "个人信息 跨境")
    expect(page.locator(".search-hit h2 a").first).to_have_text("个人信息保护实务")
    expect(page.locator(".partial-notice")).to_have_count(0)
    page.goto(live_server + "/search?q=" + "个人信息 跨境 烘焙")
    expect(page.get_by_role("status")).to_have_text("未找到同时包含全部词语的课程，以下为部分匹配")
    expect(page.locator(".search-hit h2 a").first).to_have_text("个人信息保护实务")


def test_a_nonsense_query_returns_nothing_and_suggests_other_searches(page: Page, live_server):
    page.goto(live_server + "/search?q=应急预案不存在的词xyz")
    expect(page.get_by_text("没有找到与“应急预案不存在的词xyz”相关的课程")).to_be_visible()
    expect(page.locator(".search-hit")).to_have_count(0)
    expect(page.locator("#result-count")).to_contain_text("共找到 0 门课程")
    expect(page.locator(".suggestions").get_by_role("link").first).to_be_visible()


def test_on_a_phone_the_catalog_folds_its_filters_so_a_course_is_on_the_first_screen(page: Page, live_server):
    page.set_viewport_size({"width": 375, "height": 667})
    page.goto(live_server + "/courses")
    toggle = page.get_by_role("button", name="筛选条件")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(page.locator("#facet-panel")).to_be_hidden()
    first = page.locator(".result-card").first
    box = first.bounding_box()
    assert box is not None and box["y"] < 667, f"the first course starts at {box} (below the first screen)"
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    panel = page.locator("#facet-panel")
    expect(panel).to_be_visible()
    panel.get_by_role("link", name=re.compile("网络安全")).click()
    expect(page).to_have_url(re.compile(r"subject=cybersecurity"))
    expect(page.locator(".result-card")).to_have_count(2)
    # From a tablet up the filters show beside the courses, with no toggle.
    page.set_viewport_size({"width": 1200, "height": 800})
    expect(page.locator("#facet-panel")).to_be_visible()
    expect(toggle).to_be_hidden()
