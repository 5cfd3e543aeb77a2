"""The /search page, the JSON API and the `search rebuild` command (session app: GX-NS-001, GX-DT-002)."""

import re


def test_search_page_shows_highlighted_results_and_facets(client):
    response = client.get("/search?q=网络安全法")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<mark>" in html and "《网络安全法》与数据安全" in re.sub(r"</?mark>", "", html)
    assert "科目主题" in html and "学时" in html and "发布机构" in html
    assert 'href="/courses/GX-NS-001"' in html
    assert "/search?q=%E7%BD%91%E7%BB%9C%E5%AE%89%E5%85%A8%E6%B3%95&amp;subject=cybersecurity" in html


def test_facet_filter_and_sort_links_keep_the_query(client):
    html = client.get("/search?q=安全&subject=digital&sort=newest").get_data(as_text=True)
    assert "《网络安全法》与数据安全" not in re.sub(r"</?mark>", "", html)
    assert 'aria-current="true">✓ 数字技术' in html or "✓ 数字技术" in html
    assert "清除全部筛选" in html


def test_the_query_is_escaped_on_the_page(client):
    html = client.get("/search?q=<script>alert(1)</script>").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_no_results_page_offers_alternatives(client):
    html = client.get("/search?q=烘焙蛋糕").get_data(as_text=True)
    assert "没有找到与“烘焙蛋糕”相关的课程" in html
    assert "您可以试试" in html and "/search?q=" in html and "浏览全部课程" in html


def test_site_search_box_goes_to_the_search_page(client):
    html = client.get("/").get_data(as_text=True)
    assert 'action="/search"' in html


def test_bad_input_on_the_page_is_a_chinese_message(client):
    response = client.get("/search?q=专利&sort=price")
    assert response.status_code == 400 and "排序方式无效" in response.get_data(as_text=True)


def test_api_returns_hits_facets_and_highlights(client):
    response = client.get("/api/v1/search?q=AI 伦理")
    assert response.status_code == 200 and response.is_json
    body = response.get_json()
    assert body["total"] >= 1 and body["hits"][0]["code"] == "GX-DT-002"
    hit = body["hits"][0]
    assert hit["url"].endswith("/courses/GX-DT-002") and hit["credit_hours"] == "2"
    assert "<mark>" in hit["highlights"]["title"] + hit["highlights"]["snippet"]
    assert {"subject", "category", "hours", "publisher"} == set(body["facets"])
    assert body["facets"]["subject"][0] == {"value": "digital", "label": "数字技术", "count": 1, "selected": False}


def test_api_filters_and_pages(client):
    body = client.get("/api/v1/search?category=public&sort=hours&page=1").get_json()
    assert body["total"] >= 2 and body["filters"] == {"category": "public"} and body["sort"] == "hours"
    assert body["page"] == 1 and body["pages"] == 1
    hidden = client.get("/api/v1/search?q=人工智能&subject=emergency").get_json()
    assert hidden["total"] == 0 and hidden["unfiltered_total"] >= 1


def test_api_errors_are_json(client):
    for query, field_text in (("sort=price", "排序方式无效"), ("page=abc", "页码"), ("page=0", "页码"),
                              ("hours=9", "学时范围无效"), ("q=" + "长" * 101, "搜索词过长")):
        response = client.get("/api/v1/search?" + query)
        assert response.status_code == 400 and response.is_json, query
        error = response.get_json()["error"]
        assert error["code"] == "invalid_input" and field_text in error["message"]


def test_api_no_results_lists_suggestions(client):
    body = client.get("/api/v1/search?q=烘焙蛋糕").get_json()
    assert body["total"] == 0 and body["hits"] == [] and body["suggestions"]


def test_rebuild_command_rebuilds_from_the_database(runner, app):
    from lms.search import services

    result = runner.invoke(args=["search", "rebuild"])
    assert result.exit_code == 0, result.output
    assert "索引已重建" in result.output
    with app.app_context():
        assert {"GX-NS-001", "GX-DT-002"} <= services.indexed_codes()
    result = runner.invoke(args=["search", "rebuild", "--inline"])
    assert result.exit_code == 0 and "索引已重建" in result.output


def test_suggest_endpoint_answers_terms_and_titles_as_json(client):
    data = client.get("/search/suggest?q=网络安").get_json()
    texts = [s["text"] for s in data["suggestions"]]
    assert "网络安全" in texts and "《网络安全法》与数据安全" in texts
    assert "《网络安全法》与数据安全" in [s["text"] for s in client.get("/search/suggest?q=wlaq").get_json()["suggestions"]]
    assert client.get("/search/suggest?q=").get_json() == {"suggestions": []}


def test_partial_matches_are_announced_on_the_page(client):
    html = client.get("/search?q=网络安全法 数据安全 烘焙").get_data(as_text=True)
    assert "未找到同时包含全部词语的课程，以下为部分匹配" in html and "网络安全法" in html
    assert client.get("/api/v1/search?q=网络安全法 数据安全 烘焙").get_json()["partial"] is True
    html = client.get("/search?q=应急预案不存在的词xyz").get_data(as_text=True)
    assert "没有找到与“应急预案不存在的词xyz”相关的课程" in html and 'class="search-hit' not in html


def test_admin_edits_the_search_dictionary(client, login, make_user, db_session):
    from lms.accounts.models import Role
    from lms.search.models import SearchTerm
    from tests.conftest import _csrf_token

    login(make_user(roles=(Role.ADMIN,), real_name="管理员"))
    page = client.get("/admin/search/terms")
    assert page.status_code == 200 and "个人信息保护法" in page.get_data(as_text=True)
    token = _csrf_token(page.get_data(as_text=True))
    bad = client.post("/admin/search/terms", data={"term": "网络,安全", "synonyms": "", "csrf_token": token})
    assert bad.status_code == 400 and "不含标点" in bad.get_data(as_text=True)
    saved = client.post("/admin/search/terms", data={"term": "零信任架构", "synonyms": "ZTA", "csrf_token": token})
    assert saved.status_code == 302
    row = db_session.query(SearchTerm).filter_by(term="零信任架构").one()
    assert row.synonym_list == ("ZTA",)
    client.post("/admin/search/terms/delete", data={"term_id": row.id, "csrf_token": token})
    assert db_session.query(SearchTerm).filter_by(term="零信任架构").count() == 0


def test_control_and_direction_characters_are_not_echoed_into_the_page(client):
    html = client.get("/search", query_string={"q": "\x00网络\u202e安全"}).get_data(as_text=True)
    assert "\x00" not in html and "\u202e" not in html


def test_the_dictionary_page_edits_a_term_and_refuses_what_cannot_work(client, login, make_user, db_session):
    from lms.accounts.models import Role
    from lms.search.models import SearchTerm
    from tests.conftest import _csrf_token

    login(make_user(roles=(Role.ADMIN,), real_name="管理员"))
    row = db_session.query(SearchTerm).filter_by(term="个人信息保护法").one()
    page = client.get(f"/admin/search/terms?edit={row.id}").get_data(as_text=True)
    assert "修改词语" in page and f'value="{row.id}"' in page and "个保法" in page
    token = _csrf_token(page)
    saved = client.post("/admin/search/terms", data={"term_id": row.id, "term": "个人信息保护法",
                                                     "synonyms": "个保法 PIPL 个信法", "csrf_token": token})
    assert saved.status_code == 302
    db_session.expire_all()
    assert "个信法" in row.synonym_list
    for data, status, message in (
            ({"term": "的"}, 400, "忽略的常用词"), ({"term": "the"}, 400, "忽略的常用词"),
            ({"term": "网络\n安全"}, 400, "中文词语中间不能有空格"),
            ({"term": "个人信息保护法".upper(), "synonyms": "the"}, 400, "不能作为同义词"),
            ({"term": "ＰＩＰＬ法"}, 302, None),
            ({"term": "pipl法"}, 409, "已在词典中"),
            ({"term": "溢出", "term_id": "9223372036854775808"}, 404, "不存在"),
            ({"term": "页面过期", "csrf_token": ""}, 400, "页面已过期")):
        answer = client.post("/admin/search/terms", data={"synonyms": "", "csrf_token": token, **data})
        assert answer.status_code == status, (data, answer.status_code)
        if message:
            assert message in answer.get_data(as_text=True), data
    assert client.post("/admin/search/terms/delete", data={"term_id": "9223372036854775808",
                                                           "csrf_token": token}).status_code == 302


def test_programs_get_json_errors_that_say_what_to_do(client):
    wrong = client.post("/api/v1/search", json={"q": "网络安全"})
    assert wrong.status_code == 405 and wrong.is_json
    assert "GET" in wrong.get_json()["error"]["message"] and "POST" in wrong.get_json()["error"]["message"]
    wrong = client.post("/search/suggest")
    assert wrong.status_code in (400, 405) and wrong.is_json
