"""Search in a real browser: type a query, narrow by a facet, open a result."""

import re

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
