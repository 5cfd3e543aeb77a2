"""The programme office's bases, institution directory and random inspections in a real browser,
walked as the real roles (the national programme office, a base administrator, an inspector, a
visitor), with axe-core (tests/e2e/axe.py, the rules of test_accessibility.py) on every page, public
and admin, and the main tables checked at phone width (no sideways scrolling).

- Bases: the office registers a base, records an evaluation with a PDF attachment (downloaded back),
  withdraws it with a reason; the visitor sees it withdrawn in the public list and the evaluation
  and the withdrawal, dated, in its public history; the base administrator reads their own base.
- Institutions: the office lists an institution (its code assigned), the visitor finds it in the
  public directory by code and by name, the office suspends and restores it, and its history shows
  the three dated changes with their reasons.
- Inspections: the office creates a plan, freezes it (the public page shows the population, the
  pool and the commitment, no seed), reveals the seed and draws; the drawn inspector records a
  finding; the office closes the plan and the public page shows the results; the server's check of
  the draw passes on the page, the draw.json the page links to is recomputed by scripts/verify_draw.py
  to the draw the page shows, and the page's "核验这次抽取" button recomputes it in the visitor's
  browser (static/js/verify-draw.js), and refuses a document whose draw, seed or population was altered.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import ROOT, TEST_PASSWORD, committed_app, credit_code, id_number
from tests.e2e.axe import assert_accessible
from tests.e2e.conftest import serving
from tests.e2e.pages import sign_in

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 812}
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
VERIFY = ROOT / "scripts" / "verify_draw.py"


def _world(app) -> dict:
    """A national office, two bases (the first with its administrator), an institution, an inspector,
    a plan of 2024 already closed and one cancelled after its freeze (so that every page has something
    on it at phone width)."""
    from lms.accounts import services as accounts
    from lms.accounts.models import OrgKind, Role
    from lms.extensions import db
    from lms.programme import bases, inspections, institutions

    numbers = iter(range(1, 100))

    def person(name, *roles, **grant):
        n = next(numbers)
        user = accounts.create_person(None, accounts.PersonData(
            real_name=name, id_number=id_number(f"11010519900107{n:03d}"), password=TEST_PASSWORD,
            mobile=f"1365880{n:04d}", region_code="110000", employer_name="项目办测试单位",
            employer_credit_code=credit_code("91110105MA01PQ0A1")), roles=())
        for role in roles:
            accounts.grant_role(None, user, role, **grant)
        return user

    with app.test_request_context():
        office = person("全国项目办", Role.PROGRAMME_OFFICE)
        made = []
        for n, (name, level, region) in enumerate([("京继续教育基地甲", "provincial", "110000"),
                                                   ("国家级继续教育基地乙", "national", "440000")]):
            code = credit_code(f"91110108MA01PB{n}A0")
            accounts.get_or_create_organization(name, OrgKind.EMPLOYER, credit_code=code, region_code=region)
            made.append(bases.register_base(office, bases.BaseData(name, code, level, region, "2021-05-01",
                                                                   f"人社厅函〔2021〕{n + 3}号")))
        db.session.flush()
        base_admin = person("基地管理员", Role.BASE_ADMIN, organization=made[0].organization)
        inspector = person("检查员甲", Role.INSPECTOR)
        institutions.list_institution(office, institutions.InstitutionData(
            kind="evaluation", name="粤数字技术评价中心", credit_code="", region_code="440000", fields=["ai"], reason=""))
        closed = inspections.create_plan(office, inspections.PlanData("2024 年度基地抽查", "national", "bases", 2024, 1))
        inspections.freeze_plan(office, closed)
        inspections.reveal_and_draw(office, closed)
        [task] = closed.assignments
        inspections.record_finding(inspector, task, "compliant", "资料齐全。")
        inspections.close_plan(office, closed)
        cancelled = inspections.create_plan(office, inspections.PlanData("2023 年度机构抽查", "national", "institutions",
                                                                         2023, 1))
        inspections.freeze_plan(office, cancelled)
        inspections.cancel_plan(office, cancelled, "抽查年度有误，重新制定")
        db.session.commit()
        return {"office": office.mobile, "base_admin": base_admin.mobile, "inspector": inspector.mobile,
                "admin_base": made[0].id, "closed_plan": closed.id, "cancelled_plan": cancelled.id}


@pytest.fixture(scope="module")
def site(tmp_path_factory, live_server):
    """A served app of its own (depends on live_server only so the per-test rollback fixture stands aside)."""
    tmp = tmp_path_factory.mktemp("programme-office")
    with committed_app(tmp, "office", packages=("GX-NS-001",), LMS_LOGIN_RATE_LIMIT="100 per minute") as app:
        world = _world(app)
        with serving(app) as base:
            yield app, base, world


def visit(browser: Browser, base: str, mobile: str | None = None, viewport=DESKTOP):
    """A page in a browser context of its own, signed in with ``mobile`` (None: a visitor)."""
    context = browser.new_context(viewport=viewport, locale="zh-CN", bypass_csp=True, accept_downloads=True)
    page = context.new_page()
    if mobile:
        sign_in(page, base, mobile)
    return context, page


def checked(page: Page, where: str) -> None:
    """The page as it is now: loaded, and no serious or critical axe violation. The pointer is moved
    off whatever it clicked and the colour transitions are let end first (axe reads the colours of
    the moment: a button caught mid-transition fails contrast)."""
    page.wait_for_load_state("load")
    page.mouse.move(0, 0)
    page.wait_for_timeout(400)
    assert_accessible(page, where)


def flashed(page: Page, text: str) -> None:
    expect(page.locator(".alert-success").first).to_contain_text(text)


# ---------------------------------------------------------------- bases

def test_a_base_registered_evaluated_and_withdrawn_shows_in_its_public_history(browser: Browser, site):
    app, base, world = site
    context, page = visit(browser, base, world["office"])
    try:
        page.goto(base + "/programme/bases/manage")
        checked(page, "office /programme/bases/manage")
        register = page.locator("main form[action$='/programme/bases/manage'][method=post]")
        register.get_by_label("机构名称", exact=True).fill("京数字经济继续教育基地")
        register.get_by_label("级别").select_option(label="省级")
        register.get_by_label("所在地区").select_option("110000")
        register.get_by_label("认定日期").fill("2022-03-01")
        register.get_by_label("认定文号").fill("京人社函〔2022〕12号")
        register.get_by_role("button", name="登记").click()
        flashed(page, "已登记继续教育基地：京数字经济继续教育基地")
        expect(page.locator("h1")).to_contain_text("京数字经济继续教育基地")
        base_id = int(re.search(r"/bases/(\d+)/manage", page.url).group(1))
        checked(page, "office /programme/bases/<id>/manage")

        evaluation = page.locator("main form[action$='/evaluations']")
        evaluation.get_by_label("评估年度").fill("2023")
        evaluation.get_by_label("得分（0–100）").fill("86.5")
        evaluation.get_by_label("评估结果").select_option(label="合格")
        evaluation.get_by_label("评估单位或专家组").fill("北京市人社局专家组")
        evaluation.get_by_label("评估日期").fill("2024-01-15")
        evaluation.get_by_label(re.compile("^附件")).set_input_files(
            [{"name": "2023年度评估报告.pdf", "mimeType": "application/pdf", "buffer": PDF}])
        evaluation.get_by_role("button", name="录入").click()
        flashed(page, "已录入 2023 年度评估")
        row = page.locator("#evaluations tbody tr").first
        expect(row).to_contain_text("86.50")
        expect(row).to_contain_text("合格")
        with page.expect_download() as download:
            row.get_by_role("link", name="2023年度评估报告.pdf").click()
        assert Path(download.value.path()).read_bytes() == PDF
        checked(page, "office base page with an evaluation")

        withdraw = page.locator("main form[action$='/withdraw']")
        withdraw.get_by_label("撤销日期").fill("2024-06-30")
        withdraw.get_by_label("撤销原因").fill("连续两年培训人数未达到最低要求")
        withdraw.get_by_role("button", name="撤销认定").click()
        flashed(page, "已撤销该基地的认定")
        expect(page.locator("h1 [data-status]")).to_have_attribute("data-status", "withdrawn")
        expect(page.locator("main form[action$='/withdraw']")).to_have_count(0)  # nothing more to change
        checked(page, "office base page, withdrawn")
    finally:
        context.close()

    context, page = visit(browser, base)  # a visitor
    try:
        page.goto(base + "/programme/bases")
        checked(page, "visitor /programme/bases")
        listed = page.locator(f"#base-list tr[data-base='{base_id}']")
        expect(listed).to_contain_text("京数字经济继续教育基地")
        expect(listed.locator("[data-status]")).to_have_attribute("data-status", "withdrawn")
        expect(listed).to_contain_text("已撤销")
        page.get_by_label("状态").select_option("withdrawn")
        page.get_by_role("button", name="查询").click()
        expect(page.locator("#base-list tbody tr")).to_have_count(1)
        page.get_by_role("link", name="京数字经济继续教育基地").click()
        checked(page, "visitor /programme/bases/<id>")
        history = page.locator("#base-history li")
        expect(history).to_have_count(3)
        withdrawn, evaluated, recognised = (history.nth(i) for i in range(3))  # newest first
        expect(withdrawn).to_have_attribute("data-kind", "withdrawn")
        expect(withdrawn.locator("time")).to_have_attribute("datetime", "2024-06-30")
        expect(withdrawn).to_contain_text("连续两年培训人数未达到最低要求")
        expect(evaluated).to_have_attribute("data-kind", "evaluated")
        expect(evaluated.locator("time")).to_have_attribute("datetime", "2024-01-15")
        expect(evaluated).to_contain_text("2023 年度")
        expect(evaluated).to_contain_text("结果：合格")
        expect(recognised.locator("time")).to_have_attribute("datetime", "2022-03-01")
        expect(recognised).to_contain_text("京人社函〔2022〕12号")
        expect(page.locator("#withdrawal-reason")).to_have_text("连续两年培训人数未达到最低要求")
        # the public history shows the result, never the evaluation's files
        expect(page.get_by_role("link", name="2023年度评估报告.pdf")).to_have_count(0)
    finally:
        context.close()

    context, page = visit(browser, base, world["base_admin"])  # the administrator of another base
    try:
        page.goto(base + "/programme/bases/manage")
        checked(page, "base admin /programme/bases/manage")
        expect(page.locator("#managed-bases tbody tr")).to_have_count(1)
        expect(page.locator("main form[action$='/programme/bases/manage'][method=post]")).to_have_count(0)
        page.get_by_role("link", name="京继续教育基地甲").click()
        checked(page, "base admin /programme/bases/<own>/manage")
        expect(page.locator("main form[method=post]")).to_have_count(0)  # reads only
        assert page.goto(f"{base}/programme/bases/{base_id}/manage").status == 403
    finally:
        context.close()


# ---------------------------------------------------------------- institutions

def test_an_institution_listed_found_suspended_and_restored_with_its_history(browser: Browser, site):
    app, base, world = site
    context, page = visit(browser, base, world["office"])
    try:
        page.goto(base + "/programme/institutions/manage")
        checked(page, "office /programme/institutions/manage")
        listing = page.locator("main form[action$='/programme/institutions/manage'][method=post]")
        listing.get_by_label("类别").select_option(label="培训机构")
        listing.get_by_label("机构名称").fill("京数字技术工程师培训学院")
        listing.get_by_label("所在地区").select_option("110000")
        listing.get_by_label("大数据").check()
        listing.get_by_label("人工智能").check()
        listing.get_by_label("说明（选填）").fill("人社部办公厅通知第一批")
        listing.get_by_role("button", name="列入目录").click()
        flashed(page, "已列入目录：京数字技术工程师培训学院")
        code = page.locator("#institution-code").inner_text()
        assert re.fullmatch(r"T110000\d{4}[0-9A-Z*]", code), code
        checked(page, "office /programme/institutions/<code>")

        page.get_by_label("原因").fill("年度检查发现培训记录不全，暂停招生")
        page.get_by_role("button", name="暂停").click()
        flashed(page, "现为“已暂停”")
        expect(page.locator("h1 [data-status]")).to_have_attribute("data-status", "suspended")
        page.get_by_label("原因").fill("整改完成，经复查恢复")
        page.get_by_role("button", name="恢复").click()
        flashed(page, "现为“在册”")
        checked(page, "office institution page after the changes")
    finally:
        context.close()

    context, page = visit(browser, base)
    try:
        page.goto(base + "/programme/institutions")
        checked(page, "visitor /programme/institutions")
        page.get_by_label("机构名称或机构代码").fill(code)
        page.get_by_role("button", name="查询").click()
        rows = page.locator("#institution-list tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_have_attribute("data-code", code)
        page.get_by_label("机构名称或机构代码").fill("数字技术工程师培训")
        page.get_by_label("工作领域").select_option(label="人工智能")
        page.get_by_role("button", name="查询").click()
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("京数字技术工程师培训学院")
        expect(rows.first.locator("[data-status]")).to_have_attribute("data-status", "active")
        # a code with a wrong check character says so, next to the search box
        page.get_by_label("机构名称或机构代码").fill(code[:-1] + ("0" if code[-1] != "0" else "1"))
        page.get_by_label("工作领域").select_option("")
        page.get_by_role("button", name="查询").click()
        expect(page.locator("#q-err")).to_be_visible()
        checked(page, "visitor directory with a refused code")
        page.goto(f"{base}/programme/institutions/{code}")
        checked(page, "visitor /programme/institutions/<code>")
        history = page.locator("#institution-history li")
        expect(history).to_have_count(3)
        assert [history.nth(i).get_attribute("data-kind") for i in range(3)] == ["restored", "suspended", "listed"]
        expect(history.nth(0)).to_contain_text("整改完成，经复查恢复")
        expect(history.nth(1)).to_contain_text("年度检查发现培训记录不全，暂停招生")
        expect(history.nth(2)).to_contain_text("人社部办公厅通知第一批")
        for i in range(3):
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T.*", history.nth(i).locator("time").get_attribute("datetime"))
        expect(page.get_by_role("button", name="暂停")).to_have_count(0)  # a visitor changes nothing
    finally:
        context.close()


# ---------------------------------------------------------------- inspections

def test_an_inspection_plan_from_creation_to_published_results(browser: Browser, site, tmp_path):
    app, base, world = site
    context, page = visit(browser, base, world["office"])
    try:
        page.goto(base + "/programme/inspections/manage")
        checked(page, "office /programme/inspections/manage")
        create = page.locator("main form[action$='/programme/inspections/manage']")
        create.get_by_label("计划名称").fill("2025 年度继续教育基地抽查")
        create.get_by_label("范围").select_option("national")
        create.get_by_label("抽查对象").select_option("bases")
        create.get_by_label("年度").fill("2025")
        create.get_by_label("抽取对象数").fill("2")
        create.get_by_label("每个对象的检查人员数").fill("1")
        create.get_by_role("button", name="建立").click()
        flashed(page, "已建立抽查计划：2025 年度继续教育基地抽查")
        plan_id = int(re.search(r"/inspections/(\d+)/manage", page.url).group(1))
        expect(page.locator("#plan-status")).to_have_text("草稿")
        checked(page, "office plan page, draft")
        assert page.goto(f"{base}/programme/inspections/{plan_id}").status == 404  # not public yet
        page.go_back()

        page.get_by_role("button", name="冻结并公开名单").click()
        flashed(page, "已冻结")
        commitment = page.locator("code").filter(has_text=re.compile(r"^[0-9a-f]{64}$")).first.inner_text()
        checked(page, "office plan page, frozen")
    finally:
        context.close()

    # Frozen: a visitor sees the population, the pool and the commitment, and no seed yet.
    context, page = visit(browser, base)
    try:
        page.goto(base + "/programme/inspections")
        checked(page, "visitor /programme/inspections")
        page.get_by_role("link", name="2025 年度继续教育基地抽查").click()
        checked(page, "visitor plan page, frozen")
        expect(page.locator("#commitment")).to_have_text(commitment)
        expect(page.locator("#population-sha256")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
        population = page.locator("#population li")
        expect(population).to_have_count(2)  # the two bases of the world (a withdrawn base is never drawn)
        expect(page.locator("#population")).to_contain_text("京继续教育基地甲")
        expect(page.locator("#pool li")).to_contain_text(["检查员甲"])
        expect(page.locator("#seed")).to_have_count(0)
        expect(page.locator("#draw-check")).to_have_count(0)
        page.get_by_role("button", name="核验这次抽取").click()  # the digest checks out; nothing to draw yet
        expect(page.locator("#check-result")).to_have_attribute("data-ok", "pending")
        expect(page.locator("#check-result")).to_contain_text("种子尚未公开")
    finally:
        context.close()

    context, page = visit(browser, base, world["office"])
    try:
        page.goto(f"{base}/programme/inspections/{plan_id}/manage")
        page.get_by_role("button", name="公开种子并抽取").click()
        flashed(page, "种子已公开，抽取完成")
        expect(page.locator("#plan-status")).to_have_text("已抽取")
        expect(page.locator("#assignments tbody tr")).to_have_count(2)
        checked(page, "office plan page, drawn")
    finally:
        context.close()

    context, page = visit(browser, base, world["inspector"])
    try:
        page.goto(base + "/programme/inspections/tasks")
        checked(page, "inspector /programme/inspections/tasks")
        tasks = page.locator("#tasks tbody tr", has_text="2025 年度继续教育基地抽查")
        expect(tasks).to_have_count(2)
        for n, (result, notes) in enumerate([("责令整改", "培训档案不完整，限期一个月整改。"), ("未发现问题", "")]):
            page.locator("#tasks tbody tr", has_text="2025 年度继续教育基地抽查").nth(n).get_by_role("link").click()
            checked(page, "inspector task page")
            page.get_by_label("检查结果", exact=True).select_option(label=result)
            page.get_by_label(re.compile("^检查说明")).fill(notes)
            page.get_by_role("button", name="保存").click()
            flashed(page, "检查结果已保存")
        expect(tasks.filter(has_text="待录入")).to_have_count(0)
    finally:
        context.close()

    context, page = visit(browser, base, world["office"])
    try:
        page.goto(f"{base}/programme/inspections/{plan_id}/manage")
        page.get_by_role("button", name="结束计划并公开结果").click()
        flashed(page, "计划已结束，检查结果已公开")
        checked(page, "office plan page, closed")
        expect(page.locator("#cancel-h")).to_have_count(0)  # a closed plan is not cancelled
    finally:
        context.close()

    # Closed: the visitor reads the results and checks the draw.
    context, page = visit(browser, base)
    try:
        page.goto(f"{base}/programme/inspections/{plan_id}")
        checked(page, "visitor plan page, closed")
        expect(page.locator("#plan-status")).to_contain_text("已结束")
        findings = page.locator("#findings tbody tr")
        expect(findings).to_have_count(2)
        expect(page.locator("#findings")).to_contain_text("责令整改")
        expect(page.locator("#findings")).to_contain_text("培训档案不完整，限期一个月整改。")
        expect(page.locator("#findings")).to_contain_text("检查员甲")
        seed = page.locator("#seed").inner_text()
        assert re.fullmatch(r"[0-9a-f]{64}", seed)
        expect(page.locator("#draw-check")).to_have_attribute("data-ok", "yes")
        shown = [" ".join(li.split()) for li in page.locator("#draw li").all_inner_texts()]
        with page.expect_download() as download:
            page.locator("#document-link").click()
        published = tmp_path / "draw.json"
        published.write_bytes(Path(download.value.path()).read_bytes())
        document = json.loads(published.read_text(encoding="utf-8"))
        assert document["seed"] == seed and document["commitment"] == commitment
        done = subprocess.run([sys.executable, str(VERIFY), str(published)], capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0, done.stdout
        assert shown == [f"{row['target']} — {'、'.join(row['inspectors'])}" for row in document["draw"]]

        # the visitor's own browser recomputes the digest, the commitment and the draw from draw.json
        page.get_by_role("button", name="核验这次抽取").click()
        expect(page.locator("#check-result")).to_have_attribute("data-ok", "yes")
        expect(page.locator("#check-result")).to_contain_text("在您的浏览器中核验通过")
        page.locator("#check-draw").blur()  # no focus ring either
        checked(page, "visitor plan page, checked in the browser")

        def served(document):
            def handler(route):
                route.fulfill(status=200, content_type="application/json",
                              body=json.dumps(document, ensure_ascii=False).encode())
            return handler

        # a document whose draw, seed or population was altered does not check out, and says which
        altered = json.loads(json.dumps(document))
        altered["draw"].reverse()
        page.route("**/draw.json", served(altered))
        page.get_by_role("button", name="核验这次抽取").click()
        expect(page.locator("#check-result")).to_have_attribute("data-ok", "no")
        expect(page.locator("#check-result")).to_contain_text("抽取结果与公布的不同")
        page.unroute("**/draw.json")
        altered = json.loads(json.dumps(document))
        altered["seed"] = "0" * 64
        page.route("**/draw.json", served(altered))
        page.get_by_role("button", name="核验这次抽取").click()
        expect(page.locator("#check-result")).to_contain_text("承诺值不符")
        page.unroute("**/draw.json")
        altered = json.loads(json.dumps(document))
        altered["population"][0]["label"] = "改过的名称"
        page.route("**/draw.json", served(altered))
        page.get_by_role("button", name="核验这次抽取").click()
        expect(page.locator("#check-result")).to_contain_text("与冻结时公布的摘要不符")
    finally:
        context.close()


def test_a_plan_cancelled_after_its_freeze_stays_public_with_its_reason(browser: Browser, site):
    app, base, world = site
    context, page = visit(browser, base, world["office"])
    try:
        page.goto(base + "/programme/inspections/manage")
        create = page.locator("main form[action$='/programme/inspections/manage']")
        create.get_by_label("计划名称").fill("2025 年度课程抽查")
        create.get_by_label("抽查对象").select_option("courses")
        create.get_by_label("年度").fill("2025")
        create.get_by_label("抽取对象数").fill("1")
        create.get_by_label("每个对象的检查人员数").fill("1")
        create.get_by_role("button", name="建立").click()
        plan_id = int(re.search(r"/inspections/(\d+)/manage", page.url).group(1))
        page.get_by_role("button", name="冻结并公开名单").click()
        flashed(page, "已冻结")
        cancel = page.locator("main form[action$='/cancel']")
        cancel.get_by_label(re.compile("^撤销原因")).fill("撤")
        cancel.get_by_role("button", name="撤销计划").click()
        expect(page.locator("#cancel-reason-err")).to_contain_text("2 到 500")  # refused, said next to the box
        checked(page, "office plan page, cancel refused")
        page.locator("main form[action$='/cancel']").get_by_label(re.compile("^撤销原因")).fill("抽查范围应为继续教育基地，重新制定")
        page.locator("main form[action$='/cancel']").get_by_role("button", name="撤销计划").click()
        flashed(page, "抽查计划已撤销")
        expect(page.locator("#plan-status")).to_have_text("已撤销")
        expect(page.locator("#plan-cancelled")).to_contain_text("抽查范围应为继续教育基地，重新制定")
        expect(page.locator("main form[action$='/cancel']")).to_have_count(0)
        checked(page, "office plan page, cancelled")
    finally:
        context.close()

    context, page = visit(browser, base)
    try:
        page.goto(base + "/programme/inspections")
        row = page.locator(f"#public-inspections tr[data-plan='{plan_id}']")
        expect(row).to_contain_text(re.compile(r"已撤销（\d{4}-\d{2}-\d{2}）"))
        row.get_by_role("link").click()
        checked(page, "visitor plan page, cancelled")
        expect(page.locator("#plan-cancelled")).to_contain_text("已撤销")
        expect(page.locator("#plan-cancelled")).to_contain_text("抽查范围应为继续教育基地，重新制定")
        expect(page.locator("#commitment")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))  # still published
        expect(page.locator("#population li").first).to_be_visible()
    finally:
        context.close()


# ---------------------------------------------------------------- phone width

PHONE_PAGES = {
    None: ["/programme/bases", "/programme/bases/{admin_base}", "/programme/institutions",
           "/programme/inspections", "/programme/inspections/{closed_plan}",
           "/programme/inspections/{cancelled_plan}"],
    "office": ["/programme/bases/manage", "/programme/bases/{admin_base}/manage", "/programme/institutions/manage",
               "/programme/inspections/manage", "/programme/inspections/{closed_plan}/manage",
               "/programme/inspections/{cancelled_plan}/manage"],
    "inspector": ["/programme/inspections/tasks"],
}
# The main tables those pages show (each checked to fit).
PHONE_TABLES = {None: {"base-list", "institution-list", "public-inspections", "findings"},
                "office": {"managed-bases", "institution-list", "managed-inspections", "assignments"},
                "inspector": {"tasks"}}


@pytest.mark.parametrize("who", list(PHONE_PAGES), ids=lambda who: who or "visitor")
def test_the_pages_fit_a_phone(browser: Browser, site, who):
    """At 375 px: no sideways scrolling of the page, every main table within its box, no axe violation."""
    app, base, world = site
    context, page = visit(browser, base, world[who] if who else None, viewport=PHONE)
    failures, seen = [], set()
    try:
        for path in PHONE_PAGES[who]:
            path = path.format(**world)
            assert page.goto(base + path).status == 200, path
            page.wait_for_load_state("load")
            widths = page.evaluate("""() => ({page: [document.scrollingElement.scrollWidth, window.innerWidth],
              tables: [...document.querySelectorAll('main table')].map(t => [t.id, t.scrollWidth,
                                                                            t.parentElement.clientWidth])})""")
            if widths["page"][0] > widths["page"][1]:
                failures.append(f"{path}: the page scrolls sideways ({widths['page'][0]} px in {widths['page'][1]})")
            for table, wide, room in widths["tables"]:
                seen.add(table)
                if wide > room:
                    failures.append(f"{path}: table #{table} is {wide} px wide in {room} px")
            try:
                assert_accessible(page, f"{who or 'visitor'} {path} at 375 px")
            except AssertionError as error:
                failures.append(str(error))
    finally:
        context.close()
    assert not failures, "\n".join(failures)
    assert PHONE_TABLES[who] <= seen, seen

