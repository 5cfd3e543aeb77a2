"""App-wide template helpers live in lms/templating.py: no blueprint registers them, and the
workspace menu of base.html follows the roles of the pages it leads to."""

import re

from lms.accounts.models import Role
from tests.conftest import ROOT

MENU_ITEM = re.compile(r'<a class="dropdown-item" href="([^"]+)">([^<]+)</a>')


def _menu(client) -> list[tuple[str, str]]:
    return MENU_ITEM.findall(client.get("/courses").get_data(as_text=True))


def test_no_blueprint_registers_app_wide_template_helpers():
    registering = re.compile(r"\.(app_template_filter|add_app_template_filter|app_template_global|"
                             r"add_app_template_global|app_context_processor)\(")
    found = [f"{path.relative_to(ROOT)}:{n}" for path in sorted((ROOT / "lms").rglob("*.py"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if registering.search(line)]
    assert not found, "register app-wide template helpers in lms/templating.py:\n" + "\n".join(found)


def test_a_learner_has_no_workspace_menu(client, login, make_user):
    login(make_user())
    assert _menu(client) == []


def test_a_publisher_sees_the_publishing_workspace_only(client, login, publisher):
    login(publisher)
    assert _menu(client) == [("/publish/", "课程发布")]


def test_an_hr_auditor_sees_the_region_pages(client, login, make_user):
    login(make_user(roles=(Role.HR_AUDITOR,), region_code="110000"))
    assert [label for _href, label in _menu(client)] == ["地区学时", "学时登记审核", "接口凭证", "导出记录",
                                                          "通知管理"]


def test_an_admin_sees_every_workspace_page(client, login, make_user):
    login(make_user(roles=(Role.ADMIN,)))
    assert [label for _href, label in _menu(client)] == ["课程发布", "课程审核", "单位管理", "地区学时", "学时登记审核",
                                                          "接口凭证",
                                                          "导出记录", "通知管理", "计划完成情况", "继续教育基地", "机构目录",
                                                          "规则与证书", "人员与权限",
                                                          "审计日志"]
    for href, _label in _menu(client):
        assert client.get(href).status_code in (200, 302)
