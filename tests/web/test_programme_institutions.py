"""The institution directories (issue 17 item 3): codes assigned in order and checked when typed, the
public searchable directory, suspension and restoration in each entry's dated history (audited),
bad input refused without changes, and who may change which entry."""

import re

import pytest
from sqlalchemy import func, select

from lms.accounts.models import Role
from lms.core.audit import AuditEvent
from lms.programme import institution_codes
from lms.programme import institutions as service
from lms.programme.models import Institution, InstitutionChange


@pytest.fixture
def offices(make_user):
    return {"national": make_user(roles=(Role.PROGRAMME_OFFICE,), real_name="全国项目办"),
            "beijing": make_user(roles=(Role.PROGRAMME_OFFICE,), region_code="110000", real_name="北京项目办"),
            "inspector": make_user(roles=(Role.INSPECTOR,), real_name="检查员"),
            "learner": make_user(real_name="学员")}


@pytest.fixture
def directory(app, db_session, offices):
    with app.test_request_context():
        national = offices["national"]
        made = [service.list_institution(national, service.InstitutionData(kind, name, "", region, fields))
                for kind, name, region, fields in (
                    ("training", "北京智能制造培训中心", "110000", ["intelligent_manufacturing", "big_data"]),
                    ("training", "北京区块链学院", "110000", ["blockchain"]),
                    ("evaluation", "北京数字技术评价中心", "110000", ["big_data", "ai"]),
                    ("training", "广东大数据培训学校", "440000", ["big_data"]))]
        db_session.commit()
    return {i.name: i.code for i in made}


def _state(db_session) -> tuple:
    return (tuple(db_session.execute(select(Institution.code, Institution.status, Institution.name)
                                     .order_by(Institution.id)).all()),
            db_session.scalar(select(func.count()).select_from(InstitutionChange)),
            db_session.scalar(select(func.count()).select_from(AuditEvent)
                              .where(AuditEvent.action.like("institution.%"))))


def test_codes_are_assigned_in_order_per_kind_and_region_and_check_out(directory):
    codes = directory
    assert codes["北京智能制造培训中心"] == institution_codes.compose("T", "110000", 1) == "T1100000001A"
    assert codes["北京区块链学院"] == institution_codes.compose("T", "110000", 2)
    assert codes["北京数字技术评价中心"] == institution_codes.compose("E", "110000", 1)
    assert codes["广东大数据培训学校"] == institution_codes.compose("T", "440000", 1)
    assert all(institution_codes.parse(code) == code for code in codes.values())


def test_the_public_directory_is_searchable_by_name_code_field_kind_and_region(client, directory):
    def found(query: str) -> list[str]:
        page = client.get("/programme/institutions" + query)
        assert page.status_code == 200
        return re.findall(r'<tr data-code="([^"]+)"', page.get_data(as_text=True))

    assert sorted(found("")) == sorted(directory.values())
    assert found("?q=区块链") == [directory["北京区块链学院"]]
    typed = directory["北京区块链学院"].lower()[:7] + " " + directory["北京区块链学院"][7:]  # lower case, a space
    assert found(f"?q={typed}") == [directory["北京区块链学院"]]
    assert sorted(found("?field=big_data")) == sorted(directory[n] for n in ("北京智能制造培训中心", "北京数字技术评价中心",
                                                                             "广东大数据培训学校"))
    assert found("?kind=evaluation") == [directory["北京数字技术评价中心"]]
    assert found("?region=440000") == [directory["广东大数据培训学校"]]
    assert found("?field=nonsense") == [] and found("?kind=nonsense") == []
    wrong = directory["北京区块链学院"][:-1] + ("A" if directory["北京区块链学院"][-1] != "A" else "B")
    page = client.get(f"/programme/institutions?q={wrong}").get_data(as_text=True)
    assert "校验位不正确" in page and 'id="no-institutions"' in page
    entry = client.get(f"/programme/institutions/{directory['北京区块链学院']}")
    assert entry.status_code == 200 and "区块链" in entry.get_data(as_text=True)
    assert client.get(f"/programme/institutions/{wrong}").status_code == 400
    assert client.get("/programme/institutions/T4400000099X").status_code in (400, 404)


def test_suspending_and_restoring_show_in_the_dated_history_and_are_audited(client, login, offices, directory,
                                                                            db_session, csrf_token, client_factory):
    code = directory["北京区块链学院"]
    login(offices["beijing"])
    token = csrf_token(client.get(f"/programme/institutions/{code}").get_data(as_text=True))
    sent = client.post(f"/programme/institutions/{code}/suspend",
                       data={"csrf_token": token, "change-reason": "年度检查发现培训记录不完整"})
    assert sent.status_code == 303
    sent = client.post(f"/programme/institutions/{code}/restore",
                       data={"csrf_token": token, "change-reason": "整改完成，恢复列入目录"})
    assert sent.status_code == 303
    html = client_factory().get(f"/programme/institutions/{code}").get_data(as_text=True)
    assert re.findall(r'data-kind="(\w+)"', html) == ["restored", "suspended", "listed"]
    assert "年度检查发现培训记录不完整" in html and "整改完成，恢复列入目录" in html and "<time datetime=" in html
    actions = db_session.scalars(select(AuditEvent.action).where(AuditEvent.target_type == "Institution")
                                 .order_by(AuditEvent.id)).all()
    assert actions[-2:] == ["institution.suspended", "institution.restored"]
    assert 'data-status="suspended"' not in client_factory().get(
        "/programme/institutions?q=区块链").get_data(as_text=True)


def test_an_office_lists_an_institution_from_the_page(client, login, offices, directory, db_session, csrf_token):
    login(offices["beijing"])
    token = csrf_token(client.get("/programme/institutions/manage").get_data(as_text=True))
    sent = client.post("/programme/institutions/manage", data={
        "csrf_token": token, "inst-kind": "training", "inst-name": "北京人工智能培训学院", "inst-region_code": "110000",
        "inst-fields": ["ai", "cloud"], "inst-credit_code": "", "inst-reason": "首批遴选"})
    assert sent.status_code == 303
    code = institution_codes.compose("T", "110000", 3)
    assert sent.headers["Location"].endswith(f"/programme/institutions/{code}")
    entry = db_session.scalar(select(Institution).where(Institution.code == code))
    assert entry.name == "北京人工智能培训学院" and [f.value for f in entry.field_list] == ["ai", "cloud"]


BAD = [
    ({"inst-kind": "school"}, "请从列表中选择"),
    ({"inst-name": " "}, "请填写机构名称"),
    ({"inst-region_code": "999999"}, "请选择机构所在地区"),
    ({"inst-fields": []}, "请至少选择一个工作领域"),
    ({"inst-fields": ["quantum"]}, "请从列表中选择工作领域"),
    ({"inst-credit_code": "91110108MA00AAAA00"}, "统一社会信用代码"),
    ({"inst-name": "北京区块链学院"}, "该机构已在目录中"),
]


@pytest.mark.parametrize(("changes", "message"), BAD, ids=[m for _c, m in BAD])
def test_bad_listings_say_why_and_change_nothing(client, login, offices, directory, db_session, csrf_token, changes,
                                                 message):
    login(offices["national"])
    token = csrf_token(client.get("/programme/institutions/manage").get_data(as_text=True))
    before = _state(db_session)
    data = {"csrf_token": token, "inst-kind": "training", "inst-name": "新的培训机构", "inst-region_code": "110000",
            "inst-fields": ["ai"], "inst-credit_code": "", **changes}
    sent = client.post("/programme/institutions/manage", data=data)
    assert sent.status_code in (400, 409) and message in sent.get_data(as_text=True)
    db_session.expire_all()
    assert _state(db_session) == before


def test_bad_suspensions_change_nothing(client, login, offices, directory, db_session, csrf_token):
    code = directory["北京区块链学院"]
    login(offices["national"])
    token = csrf_token(client.get(f"/programme/institutions/{code}").get_data(as_text=True))
    before = _state(db_session)
    for reason in ("", "不好"):
        sent = client.post(f"/programme/institutions/{code}/suspend", data={"csrf_token": token, "change-reason": reason})
        assert sent.status_code == 400 and "至少 4 个字" in sent.get_data(as_text=True)
    sent = client.post(f"/programme/institutions/{code}/restore", data={"csrf_token": token,
                                                                        "change-reason": "已经在册的机构"})
    assert sent.status_code == 409 and "当前已是" in sent.get_data(as_text=True)
    sent = client.post(f"/programme/institutions/{code}/suspend", data={"change-reason": "没有 CSRF 令牌的请求"})
    assert sent.status_code == 400
    db_session.expire_all()
    assert _state(db_session) == before


def test_a_regional_office_changes_only_its_region(client, login, offices, directory, db_session, csrf_token):
    login(offices["beijing"])
    html = client.get("/programme/institutions/manage").get_data(as_text=True)
    assert directory["广东大数据培训学校"] not in html and directory["北京区块链学院"] in html
    assert '<option value="440000"' not in html.split('id="list-h"', 1)[1]  # can list in its region only
    guangdong = directory["广东大数据培训学校"]
    page = client.get(f"/programme/institutions/{guangdong}").get_data(as_text=True)
    assert "/suspend" not in page  # public entry, no form
    token = csrf_token(client.get("/programme/institutions/manage").get_data(as_text=True))
    before = _state(db_session)
    sent = client.post(f"/programme/institutions/{guangdong}/suspend",
                       data={"csrf_token": token, "change-reason": "越权暂停测试"})
    assert sent.status_code == 403
    sent = client.post("/programme/institutions/manage", data={
        "csrf_token": token, "inst-kind": "training", "inst-name": "粤新机构", "inst-region_code": "440000",
        "inst-fields": ["ai"]})
    assert sent.status_code == 403
    db_session.expire_all()
    assert _state(db_session) == before


@pytest.mark.parametrize(("who", "status"), [("national", 200), ("beijing", 200), ("inspector", 403),
                                             ("learner", 403), ("anonymous", 302)])
def test_the_management_page_per_role(client, login, offices, directory, who, status):
    if who != "anonymous":
        login(offices[who])
    assert client.get("/programme/institutions/manage").status_code == status
    assert client.get("/programme/institutions").status_code == 200
    assert client.get(f"/programme/institutions/{directory['北京区块链学院']}").status_code == 200
