"""The programme office attacked over HTTP, on a real gunicorn server (two workers with threads, so
requests really run at once), as an outsider and as each role would: races judged by counting rows in
the database afterwards (one draw per plan, one freeze, one withdrawal, one code per listing), ids
in URLs that are not the visitor's (another region's plan, another inspector's task, another base's
attachment, the findings of a plan not yet closed), posts without a CSRF token, hostile text (control,
bidi and zero-width characters, over-long input, look-alike codes) and hostile plan files. Every
refusal is a Chinese message that changes nothing, and nothing is ever a 500."""

import hashlib
import io
import os
import re
from datetime import datetime

import pytest
from sqlalchemy import select

from tests.app_process import served_by_gunicorn
from tests.conftest import TEST_PASSWORD, build_database, credit_code, fresh_database, id_number, make_test_app
from tests.http_site import HttpSite, csrf, in_parallel, not_500

SETTINGS = {"LMS_LOGIN_RATE_LIMIT": "100000 per minute", "LMS_INSPECTION_PUBLIC_RATE_LIMIT": "100000 per minute",
            "LMS_INSPECTION_REVEAL_DELAY_HOURS": 0, "LMS_SECURE_COOKIES": False, "LMS_JOBS_IMMEDIATE": False}
BJ, GD = "110000", "440000"
# name: (region, roles); roles as (role, organization key or region)
PEOPLE = ["admin", "nat", "bj", "gd", "ins0", "ins1", "ins2", "ins-turn", "ins-gd", "learner", "base-admin"]
BASES = [("京攻防基地甲", BJ), ("京攻防基地乙", BJ), ("京攻防基地丙", BJ), ("粤攻防基地甲", GD)]
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def db_session():
    """Not the rolled-back test session: the server commits, and this module reads what it did."""
    yield None


def _build_world(app):
    from lms.accounts import services as accounts
    from lms.accounts.models import Role
    from lms.catalog.models import Course
    from lms.credits import services as ledger
    from lms.extensions import db
    from lms.programme import bases as bases_service
    from lms.programme import inspections

    users, people, ids = {}, {}, {}
    for n, name in enumerate(PEOPLE, start=1):
        region = GD if name in ("gd", "ins-gd") else BJ
        data = accounts.PersonData(
            real_name=f"攻防{name}", id_number=id_number(f"32010219900101{n:03d}"), password=TEST_PASSWORD,
            mobile=f"1380000{n:04d}", email=None, region_code=region, employer_name=f"攻防单位{n}",
            employer_credit_code=credit_code(f"91320102MA1WXYA{n % 10}{n // 10}"))
        users[name] = accounts.create_person(None, data, roles=())
        people[name] = {"id": users[name].id, "mobile": users[name].mobile}
    accounts.grant_role(None, users["admin"], Role.ADMIN)
    accounts.grant_role(None, users["nat"], Role.PROGRAMME_OFFICE)
    accounts.grant_role(None, users["bj"], Role.PROGRAMME_OFFICE, region_code=BJ)
    accounts.grant_role(None, users["gd"], Role.PROGRAMME_OFFICE, region_code=GD)
    for name in ("ins0", "ins1", "ins2", "ins-turn", "ins-gd"):
        accounts.grant_role(None, users[name], Role.INSPECTOR)
    bases = {}
    for n, (name, region) in enumerate(BASES):
        bases[name] = bases_service.register_base(users["nat"], bases_service.BaseData(
            name, credit_code(f"91110108MA01GFJ{n}0"), "provincial", region, "2020-01-01", f"攻防〔2020〕{n}号"))
        ids[f"base:{name}"] = bases[name].id
        ids[f"org:{name}"] = bases[name].organization_id
    accounts.grant_role(None, users["base-admin"], Role.BASE_ADMIN, organization=bases["京攻防基地甲"].organization)
    for name, base in (("京攻防基地甲", bases["京攻防基地甲"]), ("粤攻防基地甲", bases["粤攻防基地甲"])):
        evaluation = bases_service.record_evaluation(users["nat"], base, bases_service.EvaluationData(
            "2024", "90", "excellent", "专家组", "2024-06-01"), [_upload("报告.pdf")])
        ids[f"attachment:{name}"] = evaluation.attachments[0].id
    db.session.commit()

    def plan(key, year, *, scope=BJ, population="bases", targets=3, per=1, stage="drawn"):
        office = users["bj" if scope == BJ else "gd"]
        made = inspections.create_plan(office, inspections.PlanData(
            f"攻防抽查{key}", scope, population, year, targets, per))
        if stage in ("frozen", "drawn"):
            inspections.freeze_plan(office, made)
        if stage == "drawn":
            inspections.reveal_and_draw(office, made)
        db.session.commit()
        ids[f"plan:{key}"] = made.id
        return made

    plan("draw-race", 2001, stage="frozen")
    plan("freeze-race", 2002, stage="draft")
    plan("tamper", 2003, stage="frozen")
    plan("gd", 2004, scope=GD, stage="frozen")
    plan("gd-drawn", 2005, scope=GD, stage="drawn")
    # Every inspector on every target: any conflict created after the freeze would show in the draw.
    plan("turn", 2006, targets=3, per=4, stage="frozen")
    closing = plan("close-race", 2007, targets=3, per=1)
    assignments = list(closing.assignments)
    for a in assignments[1:]:
        inspections.record_finding(db.session.get(type(users["ins0"]), a.inspector_id), a, "compliant", "")
    ids["last-task"] = assignments[0].id
    ids["last-inspector"] = next(k for k, u in users.items() if u.id == assignments[0].inspector_id)
    hidden = plan("hidden", 2008, targets=1, per=1)
    first = hidden.assignments[0]
    inspections.record_finding(first.inspector, first, "rectify", "尚未公开的检查说明甲乙丙")
    ids["hidden-task"] = first.id
    ids["hidden-inspector"] = next(k for k, u in users.items() if u.id == first.inspector_id)
    # A credit record in 2025 for the evidence page.
    course = db.session.scalar(select(Course).where(Course.code == "GX-NS-001"))
    ledger.record_course_completion(users["learner"], course, completed_at=datetime(2025, 3, 1, 2), exam_score=90)
    db.session.commit()
    records = plan("records", 2025, population="credit_records", targets=1, per=1)
    ids["record-task"] = records.assignments[0].id
    ids["record-inspector"] = next(k for k, u in users.items() if u.id == records.assignments[0].inspector_id)
    db.session.commit()
    return people, ids


def _upload(name, data=PDF):
    from lms.core import attachments

    return attachments.Upload(name, io.BytesIO(data))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from lms.extensions import db

    tmp_path = tmp_path_factory.mktemp("programme_attacks")
    instance = os.environ.get("LMS_INSTANCE_PATH")
    with fresh_database(tmp_path, "programme_attacks") as url:
        app = make_test_app(url, tmp_path, **SETTINGS)
        build_database(app, packages=("GX-NS-001",))
        with app.test_request_context():
            people, ids = _build_world(app)
            db.engine.dispose()
        try:
            with served_by_gunicorn({"database_url": url, **SETTINGS}, tmp_path) as served:
                made = HttpSite(served.base, app, people, ids, log=served.log)
                for who in PEOPLE:  # signed in one at a time, before any race
                    made.client(who).close()
                yield made
        finally:
            if instance is not None:
                os.environ["LMS_INSTANCE_PATH"] = instance
            with app.app_context():
                db.engine.dispose()


@pytest.fixture(autouse=True)
def _no_server_errors(site):
    with site.no_new_tracebacks():
        yield


# ---------------------------------------------------------------- races

def test_reveals_of_one_plan_at_once_draw_once(site):
    from lms.programme.models import InspectionAssignment, InspectionEntry, InspectionPlan

    plan_id = site.ids["plan:draw-race"]
    path = f"/programme/inspections/{plan_id}/draw"
    answers = in_parallel(lambda who: site.post(who, path, {"reveal-seed": ""}), ["nat", "bj", "admin", "nat"] * 3)
    not_500(answers)
    assert site.scalar(select(InspectionPlan.status).where(InspectionPlan.id == plan_id)) == "drawn"
    assert site.events("inspection.drawn", plan_id) == 1
    assert site.count(InspectionAssignment, InspectionAssignment.plan_id == plan_id) == 3
    assert site.count(InspectionEntry, InspectionEntry.plan_id == plan_id, InspectionEntry.drawn_order.is_not(None)) == 3
    refused = [a for a in answers if a.status_code != 303]
    assert len(refused) == len(answers) - 1
    assert all(a.status_code == 409 and "不能进行这一步" in a.text for a in refused), \
        [(a.status_code, re.findall(r'alert[^>]*>([^<]+)', a.text)) for a in refused]


def test_freezes_at_once_while_a_base_is_registered_freeze_once_and_publish_what_they_froze(site):
    from lms.programme import inspections
    from lms.programme.models import InspectionEntry, InspectionPlan, InspectionPoolMember

    plan_id = site.ids["plan:freeze-race"]

    def act(n):
        if n % 4 == 3:
            return site.post("bj", "/programme/bases/manage", {
                "base-organization_name": f"京新登记基地{n}", "base-level": "provincial", "base-region_code": BJ,
                "base-recognised_on": "2021-01-01", "base-document_number": f"新〔2021〕{n}号"})
        return site.post(["nat", "bj", "admin"][n % 3], f"/programme/inspections/{plan_id}/freeze")

    not_500(in_parallel(act, range(12)))
    assert site.events("inspection.frozen", plan_id) == 1
    with site.app.app_context():
        from lms.extensions import db

        plan = db.session.get(InspectionPlan, plan_id)
        document = inspections.published_document(plan)
        assert plan.status == "frozen"
        entries = [e.public_id for e in db.session.scalars(select(InspectionEntry).where(
            InspectionEntry.plan_id == plan_id).order_by(InspectionEntry.position))]
        assert entries == [e["id"] for e in document["population"]]
        assert site.count(InspectionPoolMember, InspectionPoolMember.plan_id == plan_id) == len(document["pool"])
        assert inspections.population_digest(document["population"], document["pool"]) == plan.population_sha256


def test_close_racing_the_last_finding_never_closes_a_plan_with_a_finding_missing(site):
    from lms.programme.models import InspectionAssignment, InspectionPlan

    plan_id, task = site.ids["plan:close-race"], site.ids["last-task"]
    inspector = site.ids["last-inspector"]

    def act(n):
        if n % 2:
            return site.post(inspector, f"/programme/inspections/tasks/{task}",
                             {"finding-result": "compliant", "finding-notes": ""})
        return site.post("bj", f"/programme/inspections/{plan_id}/close")

    not_500(in_parallel(act, range(10)))
    status = site.scalar(select(InspectionPlan.status).where(InspectionPlan.id == plan_id))
    missing = site.count(InspectionAssignment, InspectionAssignment.plan_id == plan_id,
                         InspectionAssignment.result.is_(None))
    assert status in ("drawn", "closed")
    assert missing == 0  # the finding went in (the close could only have come after it)
    assert site.events("inspection.closed", plan_id) == (1 if status == "closed" else 0)
    if status == "drawn":
        site.post("bj", f"/programme/inspections/{plan_id}/close")
    assert site.scalar(select(InspectionPlan.status).where(InspectionPlan.id == plan_id)) == "closed"
    late = site.post(inspector, f"/programme/inspections/tasks/{task}",
                     {"finding-result": "rectify", "finding-notes": "结束后再改的结果"})
    assert late.status_code == 409
    assert site.scalar(select(InspectionAssignment.result).where(InspectionAssignment.id == task)) == "compliant"


def test_withdrawals_and_status_changes_of_one_base_at_once_leave_one_history_entry_each(site):
    from lms.programme.models import BaseEvent, ContinuingEducationBase

    base_id = site.ids["base:京攻防基地丙"]

    def act(n):
        if n % 2:
            return site.post("bj", f"/programme/bases/{base_id}/withdraw",
                             {"withdraw-on": "2025-05-01", "withdraw-reason": f"年度评估不合格{n}"})
        return site.post("nat", f"/programme/bases/{base_id}/status",
                         {"status-status": "under_evaluation" if n % 4 == 0 else "recognised",
                          "status-on": "2025-04-01", "status-note": ""})

    answers = in_parallel(act, range(12))
    not_500(answers)
    base = site.rows(select(ContinuingEducationBase.status, ContinuingEducationBase.withdrawal_reason)
                     .where(ContinuingEducationBase.id == base_id))[0]
    assert base.status == "withdrawn"
    withdrawn = site.rows(select(BaseEvent.note).where(BaseEvent.base_id == base_id, BaseEvent.kind == "withdrawn"))
    assert withdrawn == [(base.withdrawal_reason,)]
    assert site.events("base.withdrawn", base_id) == 1
    assert site.count(BaseEvent, BaseEvent.base_id == base_id, BaseEvent.kind == "status_changed") \
        == site.events("base.status_changed", base_id)
    # The history alternates: no two status changes to the same status in a row.
    statuses = [row.status for row in site.rows(select(BaseEvent.status).where(BaseEvent.base_id == base_id)
                                                .order_by(BaseEvent.id))]
    assert all(a != b for a, b in zip(statuses, statuses[1:], strict=False)), statuses


def test_listings_at_once_give_one_entry_per_name_and_codes_never_reused(site):
    from lms.programme import institution_codes
    from lms.programme.models import Institution

    def listing(n):
        name = "攻防培训机构同名" if n < 8 else f"攻防培训机构{n}"
        return site.post(["nat", "admin"][n % 2], "/programme/institutions/manage", {
            "inst-kind": "training", "inst-name": name, "inst-region_code": BJ, "inst-fields": "ai"})

    not_500(in_parallel(listing, range(16)))
    assert site.count(Institution, Institution.name == "攻防培训机构同名") == 1
    codes = [c for (c,) in site.rows(select(Institution.code).where(Institution.code.like(f"T{BJ}%"))
                                     .order_by(Institution.id))]
    assert len(codes) == len(set(codes)) == 9
    assert all(institution_codes.parse(c) == c for c in codes)
    sequences = [int(c[7:11]) for c in codes]
    assert sequences == sorted(sequences)
    # Suspending one frees nothing: the next listing gets a new sequence.
    assert site.post("nat", f"/programme/institutions/{codes[-1]}/suspend",
                     {"change-reason": "暂停以便核查"}).status_code == 303
    site.post("nat", "/programme/institutions/manage", {
        "inst-kind": "training", "inst-name": "攻防培训机构后来者", "inst-region_code": BJ, "inst-fields": "ai"})
    last = site.scalar(select(Institution.code).where(Institution.name == "攻防培训机构后来者"))
    assert int(last[7:11]) > max(sequences)


# ---------------------------------------------------------------- the seed

@pytest.mark.parametrize("how", ["flipped", "short", "commitment", "not-hex", "full-width", "upper-spaced"])
def test_a_tampered_seed_is_refused_and_changes_nothing(site, how):
    from lms.programme import inspections
    from lms.programme.models import InspectionAssignment, InspectionPlan

    plan_id = site.ids["plan:tamper"]
    with site.app.app_context():
        from lms.extensions import db

        plan = db.session.get(InspectionPlan, plan_id)
        seed, commitment = inspections.kept_seed(plan), plan.commitment
    flipped = seed[:-1] + ("0" if seed[-1] != "0" else "1")
    given = {"flipped": flipped, "short": seed[:-1], "commitment": commitment, "not-hex": "z" * 64,
             "full-width": flipped.translate(str.maketrans("0123456789abcdef", "０１２３４５６７８９ａｂｃｄｅｆ")),
             "upper-spaced": " " + flipped.upper() + "\u200b"}[how]
    answer = site.post("nat", f"/programme/inspections/{plan_id}/draw", {"reveal-seed": given})
    assert answer.status_code == 400
    assert "种子与冻结时公布的承诺值不符" in answer.text
    assert site.scalar(select(InspectionPlan.status).where(InspectionPlan.id == plan_id)) == "frozen"
    assert site.scalar(select(InspectionPlan.seed).where(InspectionPlan.id == plan_id)) is None
    assert site.count(InspectionAssignment, InspectionAssignment.plan_id == plan_id) == 0
    assert hashlib.sha256(seed.encode()).hexdigest() == commitment


# ---------------------------------------------------------------- separation of duties

def test_roles_granted_after_the_freeze_never_put_an_inspector_on_their_own_organization(site):
    """ins-turn and ins1 are in the frozen pool with no tie to any base; then ins-turn becomes the
    administrator of 京攻防基地甲 and ins1 takes a job there. Every inspector is wanted on every
    target, so a draw on the published exclusions alone would put them on their own base."""
    from lms.accounts import services as accounts
    from lms.accounts.models import Organization, Role, User
    from lms.extensions import db

    plan_id, org_id = site.ids["plan:turn"], site.ids["org:京攻防基地甲"]
    with site.app.test_request_context():
        turn = db.session.get(User, site.people["ins-turn"]["id"])
        grant = accounts.grant_role(None, turn, Role.BASE_ADMIN, organization=db.session.get(Organization, org_id))
        moved = db.session.get(User, site.people["ins1"]["id"])
        employer, moved.employer_id = moved.employer_id, org_id
        db.session.commit()
        grant_id = grant.id
    try:
        _draw_after_the_turn(site, plan_id)
    finally:  # the two go back: the module's other tests use them as inspectors of other plans
        from lms.accounts.models import RoleGrant

        with site.app.test_request_context():
            accounts.revoke_role(None, db.session.get(RoleGrant, grant_id), reason="测试结束")
            db.session.get(User, site.people["ins1"]["id"]).employer_id = employer
            db.session.commit()


def _draw_after_the_turn(site, plan_id):
    from lms.accounts.models import User
    from lms.extensions import db
    from lms.programme import inspections
    from lms.programme.models import InspectionAssignment, InspectionEntry

    answer = site.post("bj", f"/programme/inspections/{plan_id}/draw", {"reveal-seed": ""})
    assert answer.status_code in (303, 409, 422), answer.text[-500:]
    drawn = site.rows(select(InspectionAssignment.inspector_id, InspectionEntry.organization_id)
                      .join(InspectionEntry, InspectionEntry.id == InspectionAssignment.entry_id)
                      .where(InspectionAssignment.plan_id == plan_id))
    with site.app.test_request_context():
        for inspector_id, organization_id in drawn:
            assert organization_id not in inspections.organizations_of(db.session.get(User, inspector_id))
        if answer.status_code == 303:
            # Whatever was drawn is what anyone recomputes from the published document.
            plan = db.session.get(inspections.InspectionPlan, plan_id)
            assert inspections.check_draw(plan).draw_matches and inspections.check_draw(plan).commitment_matches
            assert site.events("inspection.drawn", plan_id) == 1
            assert drawn
        else:
            assert not drawn and "职责分离" in answer.text


# ---------------------------------------------------------------- ids that are not the visitor's

def test_another_regions_plan_is_neither_shown_nor_changed(site):
    from lms.programme.models import InspectionAssignment, InspectionPlan

    plan_id, drawn_id = site.ids["plan:gd"], site.ids["plan:gd-drawn"]
    with site.client("bj") as client:
        assert client.get(f"/programme/inspections/{plan_id}/manage").status_code == 403
    for path in (f"/programme/inspections/{plan_id}/draw", f"/programme/inspections/{plan_id}/freeze",
                 f"/programme/inspections/{drawn_id}/close"):
        for who in ("bj", "ins0", "learner", "base-admin"):
            assert site.post(who, path, {"reveal-seed": ""}).status_code == 403, (who, path)
    assignment = site.scalar(select(InspectionAssignment.id).where(InspectionAssignment.plan_id == drawn_id))
    assert site.post("bj", f"/programme/inspections/{drawn_id}/assignments/{assignment}/not-inspected",
                     {"left-reason": "检查员已离任了"}).status_code == 403
    assert site.post("bj", f"/programme/inspections/{plan_id}/assignments/{assignment}/not-inspected",
                     {"left-reason": "检查员已离任了"}).status_code in (403, 404)
    assert site.scalar(select(InspectionPlan.status).where(InspectionPlan.id == plan_id)) == "frozen"
    assert site.scalar(select(InspectionPlan.status).where(InspectionPlan.id == drawn_id)) == "drawn"
    assert site.scalar(select(InspectionAssignment.result).where(InspectionAssignment.id == assignment)) is None
    with site.client() as anonymous:
        assert anonymous.get(f"/programme/inspections/{plan_id}/manage").status_code in (302, 401)


def test_another_inspectors_task_is_neither_shown_nor_recorded(site):
    from lms.programme.models import InspectionAssignment

    task, owner = site.ids["hidden-task"], site.ids["hidden-inspector"]
    others = [who for who in ("ins0", "ins1", "ins2", "ins-gd", "bj", "nat", "learner") if who != owner]
    for who in others:
        with site.client(who) as client:
            assert client.get(f"/programme/inspections/tasks/{task}").status_code == 403, who
        answer = site.post(who, f"/programme/inspections/tasks/{task}",
                           {"finding-result": "compliant", "finding-notes": ""})
        assert answer.status_code == 403, who
    with site.client("ins0") as client:
        assert client.get("/programme/inspections/tasks/999999").status_code == 404
    assert site.scalar(select(InspectionAssignment.result).where(InspectionAssignment.id == task)) == "rectify"


def test_findings_of_a_plan_not_yet_closed_are_not_on_the_public_page(site):
    plan_id = site.ids["plan:hidden"]
    with site.client() as anonymous:
        page = anonymous.get(f"/programme/inspections/{plan_id}")
        document = anonymous.get(f"/programme/inspections/{plan_id}/draw.json")
        assert anonymous.get(f"/programme/inspections/{site.ids['plan:freeze-race'] + 1000}").status_code == 404
    assert page.status_code == 200 and document.status_code == 200
    assert "尚未公开的检查说明" not in page.text and "尚未公开的检查说明" not in document.text
    assert "rectify" not in document.text


def test_another_bases_attachment_and_page_are_not_shown(site):
    gd_attachment, bj_attachment = site.ids["attachment:粤攻防基地甲"], site.ids["attachment:京攻防基地甲"]
    with site.client("bj") as client:
        assert client.get(f"/programme/bases/attachments/{gd_attachment}").status_code in (403, 404)
        assert client.get(f"/programme/bases/attachments/{bj_attachment}").status_code == 200
        assert client.get(f"/programme/bases/{site.ids['base:粤攻防基地甲']}/manage").status_code in (403, 404)
    with site.client("base-admin") as client:
        assert client.get(f"/programme/bases/attachments/{gd_attachment}").status_code in (403, 404)
        assert client.get(f"/programme/bases/{site.ids['base:京攻防基地乙']}/manage").status_code in (403, 404)
    for who in ("learner", "ins0"):
        with site.client(who) as client:
            assert client.get(f"/programme/bases/attachments/{bj_attachment}").status_code in (403, 404)
    with site.client() as anonymous:
        assert anonymous.get(f"/programme/bases/attachments/{bj_attachment}").status_code in (302, 401)
    base_id = site.ids["base:粤攻防基地甲"]
    before = site.events("base.evaluated", base_id)
    answer = site.post("bj", f"/programme/bases/{base_id}/evaluations", {
        "eval-year": "2025", "eval-score": "60", "eval-result": "qualified", "eval-evaluator": "外地专家组",
        "eval-evaluated_on": "2025-06-01"}, files=[("eval-attachments", ("r.pdf", PDF, "application/pdf"))])
    assert answer.status_code in (403, 404)
    assert site.events("base.evaluated", base_id) == before


def test_posts_without_a_csrf_token_change_nothing(site):
    from lms.programme.models import (
        BaseEvent,
        InspectionAssignment,
        InspectionPlan,
        Institution,
        Plan,
    )

    def state():
        return (site.count(InspectionPlan), site.count(InspectionPlan, InspectionPlan.status == "frozen"),
                site.count(InspectionAssignment, InspectionAssignment.result.is_not(None)),
                site.count(Institution), site.count(BaseEvent), site.count(Plan))

    before = state()
    draft = site.ids["plan:freeze-race"]
    base = site.ids["base:京攻防基地乙"]
    posts = [("/programme/inspections/manage", {"plan-title": "无令牌计划", "plan-scope": BJ,
                                                "plan-population": "bases", "plan-year": "2030",
                                                "plan-target_count": "1", "plan-inspectors_per_target": "1"}),
             (f"/programme/inspections/{draft}/freeze", {}), (f"/programme/inspections/{draft}/draw", {}),
             (f"/programme/inspections/{draft}/close", {}),
             (f"/programme/inspections/tasks/{site.ids['hidden-task']}", {"finding-result": "compliant"}),
             ("/programme/institutions/manage", {"inst-kind": "training", "inst-name": "无令牌机构",
                                                 "inst-region_code": BJ, "inst-fields": "ai"}),
             (f"/programme/bases/{base}/withdraw", {"withdraw-on": "2025-01-01", "withdraw-reason": "无令牌撤销"}),
             (f"/programme/bases/{base}/status", {"status-status": "under_evaluation", "status-on": "2025-01-01"}),
             ("/programme/bases/manage", {"base-organization_name": "无令牌基地", "base-level": "provincial",
                                          "base-region_code": BJ, "base-recognised_on": "2021-01-01",
                                          "base-document_number": "无〔2021〕1号"})]
    for path, data in posts:
        with site.client("nat") as client:
            answer = client.post(path, data=data)
        assert answer.status_code in (400, 403), (path, answer.status_code)
    assert state() == before


# ---------------------------------------------------------------- hostile text

HOSTILE_NAMES = {"bidi": "正常机构\u202e构机常正", "zero-width": "攻防\u200b培训机构同名", "control": "机构\x07名称",
                 "long": "长" * 121, "bom": "\ufeff攻防培训机构同名"}


@pytest.mark.parametrize("how", sorted(HOSTILE_NAMES))
def test_hostile_institution_names_are_refused_with_a_message(site, how):
    from lms.programme.models import Institution

    before = site.count(Institution)
    answer = site.post("nat", "/programme/institutions/manage", {
        "inst-kind": "training", "inst-name": HOSTILE_NAMES[how], "inst-region_code": BJ, "inst-fields": "ai"})
    assert answer.status_code in (400, 409), answer.status_code
    assert re.search(r"[\u4e00-\u9fff]", re.sub(r"<[^>]+>", "", answer.text))
    assert site.count(Institution) == before


@pytest.mark.parametrize("field,value", [
    ("base-organization_name", "京攻防\u200b基地甲"), ("base-organization_name", "京\u202e基地"),
    ("base-organization_name", "京" * 121), ("base-document_number", "文号\x00〔2021〕"),
    ("base-document_number", "〔2021〕" + "１" * 60)])
def test_hostile_base_registrations_are_refused_with_a_message(site, field, value):
    from lms.programme.models import ContinuingEducationBase

    before = site.count(ContinuingEducationBase)
    data = {"base-organization_name": "京另一新基地", "base-level": "provincial", "base-region_code": BJ,
            "base-recognised_on": "2021-01-01", "base-document_number": "京〔2021〕9号"} | {field: value}
    answer = site.post("bj", "/programme/bases/manage", data)
    assert answer.status_code in (400, 409), answer.status_code
    assert site.count(ContinuingEducationBase) == before


@pytest.mark.parametrize("reason", ["\u202e因原销撤", "撤\u200b\u200b\u200b", "\x01\x02\x03\x04", "撤" * 501])
def test_hostile_withdrawal_reasons_are_refused(site, reason):
    from lms.programme.models import BaseEvent

    base = site.ids["base:京攻防基地乙"]
    before = site.count(BaseEvent, BaseEvent.base_id == base)
    answer = site.post("bj", f"/programme/bases/{base}/withdraw", {"withdraw-on": "2025-01-01",
                                                                   "withdraw-reason": reason})
    assert answer.status_code == 400
    assert site.count(BaseEvent, BaseEvent.base_id == base) == before


def test_full_width_digits_in_a_document_number_are_the_ascii_ones(site):
    from lms.programme.models import ContinuingEducationBase

    answer = site.post("bj", "/programme/bases/manage", {
        "base-organization_name": "京全角文号基地", "base-level": "provincial", "base-region_code": BJ,
        "base-recognised_on": "2021-01-01", "base-document_number": "京人社〔２０２１〕１２号"})
    assert answer.status_code == 303, answer.text[-500:]
    assert site.scalar(select(ContinuingEducationBase.document_number).order_by(
        ContinuingEducationBase.id.desc()).limit(1)) == "京人社〔2021〕12号"


@pytest.mark.parametrize("field,value", [("plan-title", "抽查\u202e划计"), ("plan-title", "抽查\u200b计划"),
                                         ("plan-title", "抽" * 121)])
def test_hostile_plan_titles_are_refused(site, field, value):
    from lms.programme.models import InspectionPlan

    before = site.count(InspectionPlan)
    answer = site.post("bj", "/programme/inspections/manage", {
        "plan-title": "正常标题", "plan-scope": BJ, "plan-population": "bases", "plan-year": "2040",
        "plan-target_count": "1", "plan-inspectors_per_target": "1"} | {field: value})
    assert answer.status_code == 400 and "计划名称" in answer.text
    assert site.count(InspectionPlan) == before


@pytest.mark.parametrize("notes", ["说明\u202e反向", "零宽\u200b说明", "\x07\x1b控制字符", "长" * 2001])
def test_hostile_finding_notes_are_refused(site, notes):
    from lms.programme.models import InspectionAssignment

    task, owner = site.ids["hidden-task"], site.ids["hidden-inspector"]
    answer = site.post(owner, f"/programme/inspections/tasks/{task}", {"finding-result": "rectify",
                                                                      "finding-notes": notes})
    assert answer.status_code == 400 and "检查说明" in answer.text, re.sub(r"<[^>]+>", " ", answer.text)[-1500:]
    assert site.scalar(select(InspectionAssignment.notes).where(InspectionAssignment.id == task)) \
        == "尚未公开的检查说明甲乙丙"


@pytest.mark.parametrize("typed,found", [
    ("lower", True), ("full-width", True), ("cyrillic-t", False), ("arabic-digits", False),
    ("devanagari-digits", False), ("zero-width", False), ("bidi", False)])
def test_institution_code_look_alikes(site, typed, found):
    from lms.programme.models import Institution

    code = site.scalar(select(Institution.code).where(Institution.name == "攻防培训机构同名"))
    text = {"lower": code.lower(), "full-width": code.translate(str.maketrans(
                "TE0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", "ＴＥ０１２３４５６７８９ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ")),
            "cyrillic-t": "\u0422" + code[1:], "arabic-digits": code[0] + code[1:11].translate(
                str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")) + code[11],
            "devanagari-digits": code[0] + code[1:11].translate(str.maketrans("0123456789", "०१२३४५६७८९")) + code[11],
            "zero-width": code[:5] + "\u200b" + code[5:], "bidi": "\u202e" + code}[typed]
    with site.client() as anonymous:
        page = anonymous.get(f"/programme/institutions/{text}")
        search = anonymous.get("/programme/institutions", params={"q": text})
    assert page.status_code < 500 and search.status_code == 200
    if found:
        assert page.status_code in (200, 301, 302, 308) and code in page.text + page.headers.get("location", "")
    else:
        assert page.status_code in (400, 404) and re.search(r"机构代码", page.text)
        assert "攻防培训机构同名" not in search.text


# ---------------------------------------------------------------- hostile plan files

HEADER = "department,新一代信息技术,生物技术,新能源,新材料,高端装备,新能源汽车,绿色环保,航空航天,海洋装备,数字技术,知识产权," \
         "网络安全,应急管理,乡村振兴,其他,subtotal"


def _plan_csv(rows):
    return (HEADER + "\n" + "\n".join(rows) + "\n").encode("utf-8")


def _row(name, value="1", n=15):
    return f"{name}," + ",".join([value] + ["0"] * (n - 1)) + f",{value}"


PLAN_FILES = {
    "formula": _plan_csv([_row("=cmd|' /C calc'!A0"), _row("合计")]),
    "formula-plus": _plan_csv([_row("+SUM(1)"), _row("合计")]),
    "formula-at": _plan_csv([_row("@SUM(1)"), _row("合计")]),
    "bidi-name": _plan_csv([_row("工业和\u202e信息化部"), _row("合计")]),
    "zero-width-twin": _plan_csv([_row("教育部"), _row("教育\u200b部"), _row("合计", "2")]),
    "duplicate": _plan_csv([_row("教育部"), _row("教育部"), _row("合计", "2")]),
    "negative": _plan_csv([_row("教育部", "-1"), _row("合计", "-1")]),
    "nan": _plan_csv([_row("教育部", "NaN"), _row("合计", "NaN")]),
    "infinity": _plan_csv([_row("教育部", "Infinity"), _row("合计", "Infinity")]),
    "huge-value": _plan_csv([_row("教育部", "1e9"), _row("合计", "1e9")]),
    "huge-file": _plan_csv([_row("教育部")] + ["," * 16] * 40000 + [_row("合计")]),
    "latin-1": HEADER.encode("utf-8") + b"\n\xe9\xe8\xff\xfe,1\n",
    "utf-16": (HEADER + "\n" + _row("教育部") + "\n" + _row("合计") + "\n").encode("utf-16"),
    "duplicate-domain": ("department,生物技术,生物技术," + HEADER.split(",", 3)[3] + "\n").encode("utf-8"),
    "empty": b"",
    "nul": _plan_csv([_row("教育\x00部"), _row("合计")]),
    "long-cell": _plan_csv([_row("部" * 200000), _row("合计")]),
}


@pytest.mark.parametrize("how", sorted(PLAN_FILES))
def test_hostile_plan_files_are_refused_with_a_message_and_import_nothing(site, how):
    from lms.programme.models import Plan

    before = site.count(Plan)
    with site.client("nat") as client:
        token = csrf(client.get("/profile").text)
        answer = client.post("/programme/plans", data={"year": "2031", "scope": "national", "csrf_token": token},
                             files={"file": ("plan.csv", PLAN_FILES[how], "text/csv")})
    assert answer.status_code in (400, 413), (answer.status_code, answer.text[-300:])
    if answer.status_code == 400:
        assert re.search(r"[\u4e00-\u9fff]{4,}", re.sub(r"<[^>]+>", "", answer.text))
    assert site.count(Plan) == before


def test_a_plan_file_with_a_bom_imports(site):
    from lms.programme.models import Plan

    with site.client("nat") as client:
        token = csrf(client.get("/profile").text)
        data = b"\xef\xbb\xbf" + _plan_csv([_row("教育部"), _row("合计")])
        answer = client.post("/programme/plans", data={"year": "2032", "scope": "national", "csrf_token": token},
                             files={"file": ("plan.csv", data, "text/csv")})
    assert answer.status_code == 303, answer.text[-500:]
    assert site.count(Plan, Plan.year == 2032) == 1


# ---------------------------------------------------------------- the evidence behind a credit record

def test_viewing_a_credit_records_evidence_is_audited(site):
    from lms.core.audit import AuditEvent

    task, inspector = site.ids["record-task"], site.ids["record-inspector"]
    before = site.events("inspection.evidence_viewed", task)
    with site.client(inspector) as client:
        assert client.get(f"/programme/inspections/tasks/{task}").status_code == 200
    assert site.events("inspection.evidence_viewed", task) == before + 1
    actor = site.scalar(select(AuditEvent.actor_id).where(AuditEvent.action == "inspection.evidence_viewed")
                        .order_by(AuditEvent.id.desc()))
    assert actor == site.people[inspector]["id"]
    # An inspection of bases shows no learner's evidence and records no viewing.
    with site.client(site.ids["hidden-inspector"]) as client:
        assert client.get(f"/programme/inspections/tasks/{site.ids['hidden-task']}").status_code == 200
    assert site.events("inspection.evidence_viewed", site.ids["hidden-task"]) == 0
