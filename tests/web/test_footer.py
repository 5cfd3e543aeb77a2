"""The footer names the operator from settings (主办单位, ICP 备案号, contact, help desk hours): values
shown as given, escaped, and nothing when unset."""

import re


def _footer(html: str) -> str:
    return html.split('<footer class="site-footer">', 1)[1].split("</footer>", 1)[0]


def test_the_footer_shows_the_configured_operator_escaped(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_SITE_SPONSOR", "某市人力资源和社会保障局<script>alert(1)</script>")
    monkeypatch.setitem(app.config, "LMS_SITE_ICP", '京ICP备12345678号-1"><b>')
    monkeypatch.setitem(app.config, "LMS_SITE_CONTACT", "010-12345678 & help@example.org")
    monkeypatch.setitem(app.config, "LMS_HELPDESK_HOURS", "工作日 9:00-17:00")
    for path in ("/", "/help", "/login"):
        footer = _footer(client.get(path).get_data(as_text=True))
        assert "主办单位：某市人力资源和社会保障局&lt;script&gt;alert(1)&lt;/script&gt;" in footer
        assert "联系方式：010-12345678 &amp; help@example.org" in footer
        assert "客服时间：工作日 9:00-17:00" in footer
        link = re.search(r'<a href="https://beian.miit.gov.cn/"[^>]*>([^<]*)</a>', footer)
        assert link and link.group(1) == "京ICP备12345678号-1&#34;&gt;&lt;b&gt;"
        assert "<script>" not in footer and "<b>" not in footer


def test_an_unset_operator_leaves_the_footer_as_it_was(app, client, monkeypatch):
    for key in ("LMS_SITE_SPONSOR", "LMS_SITE_ICP", "LMS_SITE_CONTACT", "LMS_HELPDESK_HOURS"):
        monkeypatch.setitem(app.config, key, "")
    footer = _footer(client.get("/").get_data(as_text=True))
    assert "site-operator" not in footer and "beian.miit.gov.cn" not in footer and "主办单位" not in footer
    monkeypatch.setitem(app.config, "LMS_SITE_ICP", "京ICP备12345678号")
    footer = _footer(client.get("/").get_data(as_text=True))
    assert "beian.miit.gov.cn" in footer and "主办单位" not in footer and "客服时间" not in footer
