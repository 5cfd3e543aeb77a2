"""The programme office (项目办): plans imported and checked, the fulfilment dashboard against an
independent SQL count, the drill-down, the XLSX file, the unit's supervising department, and who
may see what (national and regional office, other roles, learners, anonymous)."""

import io
import re
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import func, select, text

from lms.accounts.models import Organization, Role
from lms.catalog.models import Domain
from lms.core.audit import AuditEvent
from lms.core.errors import InvalidInput
from lms.programme import services
from lms.programme.models import NATIONAL, Plan, PlanDepartment, PlanTarget
from tests import programme_helpers

SEED = services.REFERENCE_PLAN.read_bytes()
# 工业和信息化部 × 新材料 raised from 0.1 to 0.6: its row and its column are both 0.5 over.
BROKEN = SEED.decode("utf-8").replace("4.5,0.1,0.3,0.1,1.0", "4.5,0.1,0.3,0.6,1.0").encode("utf-8")
PRINTED_TOTALS = {"新一代信息技术": "8.3", "生物技术": "2.6", "新能源": "2.5", "新材料": "1.2", "高端装备": "3.3",
                  "新能源汽车": "2.2", "绿色环保": "5.7", "航空航天": "1.7", "海洋装备": "2.3", "数字技术": "12.8",
                  "知识产权": "7.4", "网络安全": "3.9", "应急管理": "17.5", "乡村振兴": "8.4", "其他": "10.3"}


def plan_rows(db_session) -> tuple[int, int, int]:
    return (db_session.scalar(select(func.count()).select_from(Plan)),
            db_session.scalar(select(func.count()).select_from(PlanDepartment)),
            db_session.scalar(select(func.count()).select_from(PlanTarget)))


# ---------------------------------------------------------------- the 2022 plan

def test_the_2022_national_plan_ships_as_reference_data_and_its_totals_check_out(db_session):
    plan = db_session.scalar(select(Plan).where(Plan.year == 2022, Plan.scope == NATIONAL))
    assert plan is not None and plan.region_code is None
    assert len(plan.departments) == 16 and plan.departments[0].name == "中央网信办"
    assert plan.departments[-1].name == "乡村振兴局"
    assert sum(len(d.targets) for d in plan.departments) == 119
    assert sum((d.subtotal for d in plan.departments), Decimal(0)) == Decimal("90.0")
    for dep in plan.departments:
        assert abs(sum((t.target for t in dep.targets), Decimal(0)) - dep.subtotal) <= Decimal("0.05"), dep.name
    for domain in Domain:
        column = sum((t.target for d in plan.departments for t in d.targets if t.domain == domain), Decimal(0))
        assert abs(column - Decimal(PRINTED_TOTALS[domain.source_label])) <= Decimal("0.05"), domain
    cells = {(d.name, t.domain): t.target for d in plan.departments for t in d.targets}
    assert cells[("工业和信息化部", "new_it")] == Decimal("4.5")
    assert cells[("财政部", "cybersecurity")] == Decimal("0.05")
    assert ("中央网信办", "ip") not in cells  # a blank cell has no target
    assert services.ensure_reference_plan().id == plan.id  # idempotent


def test_importing_the_2022_plan_from_the_command_line_replaces_it(runner, db_session, tmp_path):
    before = plan_rows(db_session)
    path = tmp_path / "plan.csv"
    path.write_bytes(SEED)
    result = runner.invoke(args=["plan", "import", "--year", "2022", str(path)])
    assert result.exit_code == 0, result.output
    assert "16 个部门" in result.output and "119 项目标" in result.output
    assert plan_rows(db_session) == before


def test_a_broken_csv_names_the_cell_at_fault_and_imports_nothing(runner, db_session, tmp_path):
    before = plan_rows(db_session)
    events = db_session.scalar(select(func.count()).select_from(AuditEvent))
    with pytest.raises(InvalidInput) as refused:
        services.import_plan(None, 2023, BROKEN)
    assert "工业和信息化部 × 新材料" in refused.value.message
    db_session.rollback()
    path = tmp_path / "broken.csv"
    path.write_bytes(BROKEN)
    result = runner.invoke(args=["plan", "import", "--year", "2022", str(path)])
    assert result.exit_code == 1
    assert "工业和信息化部 × 新材料 = 0.6" in result.output and "多 0.5 万人" in result.output
    assert plan_rows(db_session) == before
    assert db_session.scalar(select(func.count()).select_from(AuditEvent)) == events
    plan = services.plan_for(2022, NATIONAL)
    assert next(t.target for d in plan.departments if d.name == "工业和信息化部"
                for t in d.targets if t.domain == "new_materials") == Decimal("0.1")  # the old plan untouched


# ---------------------------------------------------------------- the dashboard against raw SQL

INDEPENDENT = """
SELECT COALESCE(o.supervising_department, '') AS department, s.domain AS domain, COUNT(DISTINCT r.user_id) AS n
FROM credit_record r
JOIN "user" u ON u.id = r.user_id
LEFT JOIN organization o ON o.id = u.employer_id AND u.employment_status = 'approved'
JOIN course c ON c.id = r.course_id
JOIN subject s ON s.id = c.subject_id
WHERE r.credit_year = :year AND r.entry_kind <> 'revocation'
  AND NOT EXISTS (SELECT 1 FROM credit_record v WHERE v.voids_id = r.id)
  AND (:region = '' OR u.region_code = :region)
GROUP BY COALESCE(o.supervising_department, ''), s.domain
"""
INDEPENDENT_ROWS = """
SELECT COALESCE(o.supervising_department, '') AS department, COUNT(DISTINCT r.user_id) AS n
FROM credit_record r
JOIN "user" u ON u.id = r.user_id
LEFT JOIN organization o ON o.id = u.employer_id AND u.employment_status = 'approved'
WHERE r.credit_year = :year AND r.entry_kind <> 'revocation'
  AND NOT EXISTS (SELECT 1 FROM credit_record v WHERE v.voids_id = r.id)
  AND (:region = '' OR u.region_code = :region)
GROUP BY COALESCE(o.supervising_department, '')
"""


@pytest.fixture
def generated(app, db_session, make_user):
    with app.test_request_context():
        return programme_helpers.build(db_session, make_user)


def _expected(db_session, year: int, region: str = ""):
    cells = {(dep, dom): n for dep, dom, n in db_session.execute(text(INDEPENDENT), {"year": year, "region": region})}
    rows = {dep: n for dep, n in db_session.execute(text(INDEPENDENT_ROWS), {"year": year, "region": region})}
    return cells, rows


def _board_cells(board) -> tuple[dict, dict]:
    cells, rows = {}, {}
    for row in [*board.rows, board.unassigned]:
        for domain, cell in zip(board.domains, row.cells, strict=True):
            if cell.trained:
                cells[(row.key, domain.value)] = cell.trained
        if row.total.trained:
            rows[row.key] = row.total.trained
    return cells, rows


@pytest.mark.parametrize(("scope", "region"), [(NATIONAL, ""), ("110000", "110000"), ("440000", "440000")])
def test_dashboard_numbers_equal_an_independent_sql_count(app, db_session, generated, scope, region):
    admin = generated["admin"]
    with app.test_request_context():
        for year in (2022, 2021):
            board = services.fulfilment(admin, scope=scope, year=year)
            cells, rows = _expected(db_session, year, region)
            assert sum(cells.values()) > 0
            assert _board_cells(board) == (cells, rows)
            assert [c.trained for c in board.totals] == [
                sum(n for (_dep, dom), n in cells.items() if dom == d.value) for d in board.domains]
            everyone = db_session.execute(text(
                "SELECT COUNT(DISTINCT r.user_id) FROM credit_record r JOIN \"user\" u ON u.id = r.user_id "
                "WHERE r.credit_year = :year AND r.entry_kind <> 'revocation' AND NOT EXISTS "
                "(SELECT 1 FROM credit_record v WHERE v.voids_id = r.id) AND (:region = '' OR u.region_code = :region)"),
                {"year": year, "region": region}).scalar()
            assert board.grand.trained == everyone
    # Several units, departments and domains really are in play (and apart: the unassigned row).
    assert len({dep for dep, _dom in cells}) >= 2 and len({dom for _dep, dom in cells}) >= 3


def test_the_dashboard_and_drill_down_take_as_many_queries_with_or_without_data(app, db_session, make_user):
    from sqlalchemy import event

    from lms.extensions import db

    admin = make_user(roles=(Role.ADMIN,), real_name="计数管理员")

    def statements():
        seen = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(db.session.get_bind(), "before_cursor_execute", listener)
        try:
            with app.test_request_context():
                services.fulfilment(admin, scope=NATIONAL, year=2022)
                services.cell_detail(admin, scope=NATIONAL, year=2022, department="工业和信息化部", domain="digital")
        finally:
            event.remove(db.session.get_bind(), "before_cursor_execute", listener)
        db_session.expire_all()
        return len(seen)

    before = statements()
    with app.test_request_context():
        programme_helpers.build(db_session, make_user, learners=12)
    assert statements() == before


def test_national_ratios_use_the_national_plan(app, db_session, generated):
    with app.test_request_context():
        board = services.fulfilment(generated["admin"], scope=NATIONAL, year=2022)
    assert board.plan is not None and len(board.rows) >= 16
    miit = next(r for r in board.rows if r.key == "工业和信息化部")
    digital = miit.cells[list(Domain).index(Domain.DIGITAL)]
    assert digital.target == Decimal("5.3")
    assert digital.ratio == (Decimal(digital.trained) / Decimal(53000)).quantize(Decimal("0.0001"))
    assert miit.total.target == Decimal("17.0")
    assert board.grand.target == Decimal("90.0")
    assert services.level_of(None) is None and services.level_of(Decimal(0)) == 0
    assert services.level_of(Decimal("0.1")) == 1 and services.level_of(Decimal("0.99")) == 4
    assert services.level_of(Decimal(1)) == 5


def test_drill_down_lists_the_units_and_courses_behind_a_cell(app, db_session, generated):
    admin = generated["admin"]
    with app.test_request_context():
        board = services.fulfilment(admin, scope=NATIONAL, year=2022)
        miit = next(r for r in board.rows if r.key == "工业和信息化部")
        domain, cell = next((d, c) for d, c in zip(board.domains, miit.cells, strict=True) if c.trained)
        detail = services.cell_detail(admin, scope=NATIONAL, year=2022, department="工业和信息化部", domain=domain.value)
    assert detail.cell.trained == cell.trained
    assert {name for name, _code, _n in detail.units} <= {"京信息技术研究院", "京装备制造公司"}
    assert sum(n for _name, _code, n in detail.units) == cell.trained  # each learner has one unit
    assert detail.courses and all(code.startswith("PL-") for code, _title, _n in detail.courses)


# ---------------------------------------------------------------- pages, per role

@pytest.fixture
def offices(make_user):
    return {"national": make_user(roles=(Role.PROGRAMME_OFFICE,), real_name="全国项目办"),
            "beijing": make_user(roles=(Role.PROGRAMME_OFFICE,), region_code="110000", real_name="北京项目办")}


def test_the_national_office_sees_the_16_by_15_table_with_ratios_and_drills_down(client, login, offices, generated):
    login(offices["national"])
    page = client.get("/programme/?year=2022")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.count('<tr data-department="') >= 16 + 1  # the plan's departments, 其他, and the unassigned
    assert "中央网信办" in html and "乡村振兴局" in html and "未设主管部门" in html
    for domain in Domain:
        assert f'<th scope="col">{domain.source_label}</th>' in html
    assert re.search(r'class="fl-[0-5]"', html) and 'class="fl-none"' in html
    assert "<svg" in html and "style=" not in html
    link = re.search(r'href="(/programme/cell\?[^"]*department=%E5%B7%A5[^"]*domain=[a-z_]+)"', html)
    assert link, "a cell links to its drill-down"
    detail = client.get(link.group(1).replace("&amp;", "&"))
    assert detail.status_code == 200 and "工业和信息化部" in detail.get_data(as_text=True)
    xlsx = client.get("/programme/export.xlsx?year=2022")
    assert xlsx.status_code == 200 and xlsx.headers["Cache-Control"] == "no-store"
    book = openpyxl.load_workbook(io.BytesIO(xlsx.get_data()), read_only=True)
    assert book.sheetnames == ["目标（万人）", "已培训（人）", "完成率"]
    rows = list(book["目标（万人）"].iter_rows(values_only=True))
    assert rows[1][0] == "部门" and rows[1][1] == "新一代信息技术" and rows[2][0] == "中央网信办"
    assert rows[-1][0] == "合计" and rows[-1][-1] == 90
    book.close()


def test_a_regional_office_sees_its_region_only_and_ratios_only_against_its_own_plan(
        app, client, login, offices, generated, db_session, csrf_token):
    login(offices["beijing"])
    assert client.get("/programme/?scope=national").status_code == 403
    assert client.get("/programme/?scope=440000").status_code == 403
    assert client.get("/programme/cell?scope=440000&department=应急管理部").status_code == 403
    assert client.get("/programme/export.xlsx?scope=national").status_code == 403
    page = client.get("/programme/?year=2022")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "北京市" in html and "还没有导入 2022 年度的本地区计划表" in html
    assert not re.search(r'class="fl-[0-5]"', html)  # no ratio without a regional plan
    with app.test_request_context():
        board = services.fulfilment(offices["beijing"], year=2022)
    cells, rows = _expected(db_session, 2022, "110000")
    assert board.scope == "110000" and _board_cells(board) == (cells, rows)
    assert "粤应急救援中心" not in client.get("/programme/cell?year=2022&department=应急管理部&domain=emergency")\
        .get_data(as_text=True)
    # Its own plan: imported from the page (the scope is its region whatever the form says).
    token = csrf_token(client.get("/programme/plans").get_data(as_text=True))
    sent = client.post("/programme/plans", data={"csrf_token": token, "year": "2022", "scope": "national",
                                                 "file": (io.BytesIO(SEED), "beijing.csv")})
    assert sent.status_code == 403 and services.plan_for(2022, "110000") is None
    sent = client.post("/programme/plans", data={"csrf_token": token, "year": "2022", "scope": "110000",
                                                 "file": (io.BytesIO(SEED), "beijing.csv")})
    assert sent.status_code == 303, sent.get_data(as_text=True)
    assert services.plan_for(2022, "110000").region_code == "110000"
    html = client.get("/programme/?year=2022").get_data(as_text=True)
    assert re.search(r'class="fl-[0-5]"', html) and "还没有导入" not in html


def test_an_admin_chooses_any_region_and_imports_its_plan_from_the_page(client, login, make_user, csrf_token):
    login(make_user(roles=(Role.ADMIN,), real_name="计划管理员"))
    html = client.get("/programme/?year=2022").get_data(as_text=True)
    assert '<option value="national" selected>' in html and '<option value="440000">' in html
    assert client.get("/programme/?scope=440000&year=2022").status_code == 200
    assert client.get("/programme/?scope=999999").status_code == 400
    page = client.get("/programme/plans").get_data(as_text=True)
    sent = client.post("/programme/plans", data={"csrf_token": csrf_token(page), "year": "2022", "scope": "440000",
                                                 "file": (io.BytesIO(SEED), "guangdong.csv")})
    assert sent.status_code == 303 and "scope=440000" in sent.headers["Location"]
    assert "guangdong.csv" in client.get("/programme/plans").get_data(as_text=True)


def test_a_broken_plan_on_the_page_says_which_cell_and_changes_nothing(client, login, offices, db_session, csrf_token):
    login(offices["national"])
    before = plan_rows(db_session)
    token = csrf_token(client.get("/programme/plans").get_data(as_text=True))
    sent = client.post("/programme/plans", data={"csrf_token": token, "year": "2022", "scope": "national",
                                                 "file": (io.BytesIO(BROKEN), "broken.csv")})
    html = sent.get_data(as_text=True)
    assert sent.status_code == 400 and "工业和信息化部 × 新材料" in html and "Traceback" not in html
    assert plan_rows(db_session) == before
    every_cell_wrong = SEED.replace(b",1.0,", b",x,").replace(b",0.2,", b",y,")  # 31 problems
    sent = client.post("/programme/plans", data={"csrf_token": token, "year": "2022", "scope": "national",
                                                 "file": (io.BytesIO(every_cell_wrong), "wrong.csv")})
    assert sent.status_code == 400 and "处问题" in sent.get_data(as_text=True)
    for data in ({"year": "二〇二二", "scope": "national", "file": (io.BytesIO(SEED), "a.csv")},
                 {"year": "2022", "scope": "national"},
                 {"year": "2022", "scope": "national", "file": (io.BytesIO(b"\xff\xfe\x00garbage"), "a.csv")}):
        sent = client.post("/programme/plans", data={"csrf_token": token, **data})
        assert sent.status_code == 400, data
    assert plan_rows(db_session) == before
    sent = client.post("/programme/plans", data={"year": "2022", "scope": "national",
                                                 "file": (io.BytesIO(SEED), "a.csv")})  # no CSRF token
    assert sent.status_code == 400 and plan_rows(db_session) == before


@pytest.mark.parametrize("role", [Role.LEARNER, Role.UNIT_ADMIN, Role.HR_AUDITOR, Role.PUBLISHER, Role.REVIEWER,
                                  Role.BASE_ADMIN, Role.INSPECTOR])
def test_other_roles_are_refused(client, login, make_user, db_session, role):
    grant = {}
    if role in (Role.UNIT_ADMIN, Role.PUBLISHER, Role.BASE_ADMIN):
        grant["organization"] = db_session.scalars(select(Organization)).first()
    if role == Role.HR_AUDITOR:
        grant["region_code"] = "110000"
    login(make_user(roles=(role,), **grant))
    for url in ("/programme/", "/programme/cell?department=教育部&domain=digital", "/programme/export.xlsx",
                "/programme/plans"):
        assert client.get(url).status_code == 403, url


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for url in ("/programme/", "/programme/cell", "/programme/export.xlsx", "/programme/plans"):
        response = client.get(url)
        assert response.status_code == 302 and "/login?next=" in response.headers["Location"], url
    assert client.post("/programme/plans").status_code in (302, 400)


# ---------------------------------------------------------------- the unit's supervising department

def test_a_unit_admin_chooses_the_supervising_department_of_their_unit_only(
        client, login, make_user, db_session, csrf_token):
    code_a, _name, _region, _dep = programme_helpers.UNITS[0]
    code_b = programme_helpers.UNITS[3][0]
    unit_a = make_user(employer_credit_code=code_a, employer_name="京信息技术研究院").employer
    unit_b = make_user(employer_credit_code=code_b, employer_name="粤应急救援中心", region="440000").employer
    login(make_user(roles=(Role.UNIT_ADMIN,), organization=unit_a, real_name="甲管理"))
    page = client.get(f"/unit?unit={code_a}").get_data(as_text=True)
    assert "主管部门" in page and "工业和信息化部" in page and '<option value="其他">' in page
    token = csrf_token(page)
    sent = client.post(f"/unit/{code_a}/department", data={"csrf_token": token, "dept-department": "教育部"})
    assert sent.status_code == 303
    db_session.refresh(unit_a)
    assert unit_a.supervising_department == "教育部"
    sent = client.post(f"/unit/{code_a}/department", data={"csrf_token": token, "dept-department": "不存在的部"})
    assert sent.status_code == 400 and "请从列表中选择主管部门" in sent.get_data(as_text=True)
    sent = client.post(f"/unit/{code_b}/department", data={"csrf_token": token, "dept-department": "教育部"})
    assert sent.status_code == 403
    sent = client.post(f"/unit/{code_a}/department", data={"dept-department": "其他"})  # no CSRF token
    assert sent.status_code == 400
    db_session.refresh(unit_a)
    db_session.refresh(unit_b)
    assert unit_a.supervising_department == "教育部" and unit_b.supervising_department is None


# ---------------------------------------------------------------- granting the new roles

def test_the_console_grants_a_national_or_regional_office_a_base_admin_and_an_inspector(
        client, login, make_user, db_session, csrf_token):
    admin = make_user(roles=(Role.ADMIN,), real_name="授权管理员")
    person = make_user(real_name="将任项目办")
    base = make_user(employer_credit_code=programme_helpers.UNITS[2][0], employer_name="京师范学院").employer
    login(admin)
    url = f"/admin/people/{person.id}"

    def grant(**form):
        token = csrf_token(client.get(url).get_data(as_text=True))
        data = {f"grant-{k}": v for k, v in form.items()}
        return client.post(f"{url}/roles", data={**data, "grant-reason": "计划测试：授权", "csrf_token": token})

    assert grant(role="programme_office").status_code == 303  # no region: the national office
    assert grant(role="programme_office", region_code="440000").status_code == 303
    refused = grant(role="base_admin")
    assert refused.status_code == 400 and "必须指定机构" in refused.get_data(as_text=True)
    assert grant(role="base_admin", organization=base.credit_code).status_code == 303
    assert grant(role="inspector", region_code="110000", organization="京师范学院").status_code == 303
    db_session.refresh(person)
    offices = sorted((g.region_code or "") for g in person.grants_for(Role.PROGRAMME_OFFICE))
    assert offices == ["", "440000"]
    assert [g.organization_id for g in person.grants_for(Role.BASE_ADMIN)] == [base.id]
    inspector = person.grants_for(Role.INSPECTOR)[0]
    assert inspector.organization_id is None and inspector.region_code is None  # an inspector has no scope
    page = client.get(url).get_data(as_text=True)
    assert "项目办" in page and "基地/机构管理员" in page and "检查人员" in page
    with client.application.test_request_context():
        assert services.office_scopes(person) == [NATIONAL, "440000"]


def test_the_command_line_grants_the_new_roles(runner, make_user, db_session):
    person = make_user(real_name="命令行项目办")
    result = runner.invoke(args=["users", "grant", person.mobile, "programme_office", "--region", "110000"])
    assert result.exit_code == 0 and "项目办" in result.output
    result = runner.invoke(args=["users", "grant", person.mobile, "programme_office"])
    assert result.exit_code == 0
    result = runner.invoke(args=["users", "grant", person.mobile, "base_admin"])
    assert result.exit_code != 0 and "--org-name" in result.output
    result = runner.invoke(args=["users", "grant", person.mobile, "base_admin", "--org-name", "某继续教育基地"])
    assert result.exit_code == 0
    result = runner.invoke(args=["users", "grant", person.mobile, "inspector"])
    assert result.exit_code == 0
    db_session.refresh(person)
    assert sorted((g.region_code or "") for g in person.grants_for(Role.PROGRAMME_OFFICE)) == ["", "110000"]
    assert person.grants_for(Role.BASE_ADMIN)[0].organization.name == "某继续教育基地"
    assert person.has_role(Role.INSPECTOR)
