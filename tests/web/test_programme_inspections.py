"""Random inspections, "双随机、一公开" (issue 17 item 4): a draw is reproducible from the published
document (recomputed by scripts/verify_draw.py, standard library only), the seed is checked against
the commitment at reveal, no inspector is drawn for their own organization, findings are published
only once the plan is closed, bad input changes nothing, every step is audited, and the pages are
scoped per role (national and regional programme office, inspector, base administrator, learner,
anonymous)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lms.accounts.models import OrgKind, Role
from lms.accounts.services import get_or_create_organization
from lms.core.audit import AuditEvent
from lms.core.errors import Conflict, InvalidInput, NotAllowed
from lms.credits import services as ledger
from lms.extensions import db
from lms.programme import bases as bases_service
from lms.programme import draw as algorithm
from lms.programme import inspections as service
from lms.programme.models import InspectionAssignment, InspectionPlan, InspectionStatus
from tests import programme_helpers
from tests.conftest import credit_code

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "verify_draw.py"
BASE_NAMES = [("国家级抽查基地", "national", "110000"), ("京抽查基地一", "provincial", "110000"),
              ("京抽查基地二", "provincial", "110000"), ("粤抽查基地一", "provincial", "440000"),
              ("粤抽查基地二", "provincial", "440000"), ("京抽查基地三", "provincial", "110000")]


@pytest.fixture
def world(app, db_session, make_user):
    """Six bases (four in 北京 counting the national one, two in 广东); a national and a 北京 office;
    five inspectors: one employed by 京抽查基地一, one administering 粤抽查基地一, two unrelated, one in
    广东 employed by 粤抽查基地二; a base administrator and a learner."""
    people = {"national": make_user(roles=(Role.PROGRAMME_OFFICE,), real_name="全国项目办"),
              "beijing": make_user(roles=(Role.PROGRAMME_OFFICE,), region_code="110000", real_name="北京项目办"),
              "learner": make_user(real_name="学员")}
    with app.test_request_context():
        orgs, bases = {}, {}
        for n, (name, level, region) in enumerate(BASE_NAMES):
            code = credit_code(f"91110108MA01JNK{n}0")
            orgs[name] = get_or_create_organization(name, OrgKind.EMPLOYER, credit_code=code, region_code=region)
            db_session.flush()
            bases[name] = bases_service.register_base(people["national"], bases_service.BaseData(
                name, code, level, region, "2020-01-01", f"文号〔2020〕{n}号"))
        db_session.commit()
    bj1 = orgs["京抽查基地一"]
    people["inspector-own"] = make_user(roles=(Role.INSPECTOR,), real_name="本单位检查员",
                                        employer_credit_code=bj1.credit_code, employer_name=bj1.name)
    people["inspector-admin"] = make_user(roles=(Role.INSPECTOR,), real_name="兼任基地管理员的检查员")
    with app.test_request_context():
        from lms.accounts.services import grant_role
        grant_role(None, people["inspector-admin"], Role.BASE_ADMIN, organization=orgs["粤抽查基地一"])
        db_session.commit()
    for n in range(2):
        people[f"inspector-{n}"] = make_user(roles=(Role.INSPECTOR,), real_name=f"检查员{n}")
    gd2 = orgs["粤抽查基地二"]
    people["inspector-2"] = make_user(roles=(Role.INSPECTOR,), real_name="检查员2", region="440000",
                                      employer_credit_code=gd2.credit_code, employer_name=gd2.name)
    people["base-admin"] = make_user(roles=(Role.BASE_ADMIN,), organization=bj1, real_name="基地管理员")
    return {"people": people, "orgs": {k: o.id for k, o in orgs.items()}, "bases": {k: b.id for k, b in bases.items()}}


def _plan(app, actor, **changes):
    data = {"title": "2025 年度基地抽查", "scope": "national", "population": "bases", "year": 2025,
            "target_count": 6, "inspectors_per_target": 2} | changes
    with app.test_request_context():
        plan = service.create_plan(actor, service.PlanData(**data))
        db.session.commit()
        return plan


def _frozen_and_drawn(app, db_session, actor, **changes):
    plan = _plan(app, actor, **changes)
    with app.test_request_context():
        service.freeze_plan(actor, plan)
        db_session.commit()
        service.reveal_and_draw(actor, plan)
        db_session.commit()
    return plan


def _audit(db_session, action):
    return db_session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


# ---------------------------------------------------------------- the draw

def test_a_draw_is_reproducible_and_the_script_recomputes_it(app, db_session, world, tmp_path):
    office = world["people"]["national"]
    plan = _frozen_and_drawn(app, db_session, office, target_count=4)
    with app.test_request_context():
        document = service.published_document(plan)
    assert plan.status == InspectionStatus.DRAWN
    assert [e["label"] for e in document["population"]] == [name for name, _l, _r in BASE_NAMES]
    assert algorithm.commitment(document["seed"]) == document["commitment"] == plan.commitment
    assert len(document["draw"]) == 4
    # the same seed and population give the same inspectors and targets
    assert algorithm.draw_document(document) == document["draw"]
    assert algorithm.draw_document(json.loads(json.dumps(document))) == document["draw"]
    # recomputed independently, by the standalone script on the published file
    published = tmp_path / "draw.json"
    published.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    done = subprocess.run([sys.executable, str(SCRIPT), str(published)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout
    with app.test_request_context():
        check = service.check_draw(plan)
    assert check.commitment_matches and check.draw_matches
    assert _audit(db_session, "inspection.created") == 1
    assert _audit(db_session, "inspection.frozen") == 1
    assert _audit(db_session, "inspection.drawn") == 1


def test_the_commitment_is_checked_at_reveal_and_a_different_seed_is_refused(app, db_session, world):
    office = world["people"]["national"]
    plan = _plan(app, office)
    with app.test_request_context():
        service.freeze_plan(office, plan)
        db_session.commit()
        kept = service.kept_seed(plan)
        for wrong in ("11" * 32, kept[:-1] + ("0" if kept[-1] != "0" else "1"), "not a seed", ""):
            with pytest.raises(InvalidInput, match="承诺值"):
                service.reveal_and_draw(office, plan, wrong)
            db_session.rollback()
    assert plan.status == InspectionStatus.FROZEN and plan.seed is None
    assert db_session.scalar(select(func.count()).select_from(InspectionAssignment)) == 0
    assert _audit(db_session, "inspection.drawn") == 0
    with app.test_request_context():
        service.reveal_and_draw(office, plan, kept.upper())
        db_session.commit()
        assert plan.seed == kept
        with pytest.raises(Conflict):
            service.reveal_and_draw(office, plan, kept)


def test_no_inspector_is_drawn_for_their_own_organization(app, db_session, world):
    people, orgs = world["people"], world["orgs"]
    office = people["national"]
    # every base drawn, with as many inspectors as the pool has: only the rule can keep one out
    plan = _frozen_and_drawn(app, db_session, office, target_count=6, inspectors_per_target=5)
    by_target = {}
    for a in plan.assignments:
        by_target.setdefault(a.entry.organization_id, set()).add(a.inspector_id)
    assert people["inspector-own"].id not in by_target[orgs["京抽查基地一"]]
    assert people["inspector-admin"].id not in by_target[orgs["粤抽查基地一"]]
    assert len(by_target[orgs["京抽查基地一"]]) == 4
    assert len(by_target[orgs["粤抽查基地一"]]) == 4
    assert len(by_target[orgs["京抽查基地二"]]) == 5
    assert len(by_target[orgs["粤抽查基地二"]]) == 4
    entry = next(e for e in plan.entries if e.organization_id == orgs["京抽查基地一"])
    pool_ids = [m.user_id for m in plan.pool]
    assert entry.excluded == [pool_ids.index(people["inspector-own"].id)]


def test_credit_records_are_published_as_pseudonyms_and_never_drawn_for_their_learner(app, db_session, make_user,
                                                                                          world):
    people = world["people"]
    inspector = people["inspector-0"]
    with app.test_request_context():
        course = programme_helpers.courses(db_session)[0]
        db_session.commit()
    from datetime import datetime
    learners = [make_user(real_name=f"抽查学员{n}") for n in range(4)] + [inspector]
    with app.test_request_context():
        records = [ledger.record_course_completion(u, course, completed_at=datetime(2025, 5, 1, 2), exam_score=90)
                   for u in learners]
        db_session.commit()
    office = people["national"]
    plan = _frozen_and_drawn(app, db_session, office, population="credit_records", target_count=5,
                             inspectors_per_target=5)
    with app.test_request_context():
        document = service.published_document(plan)
    ids = [e["id"] for e in document["population"]]
    assert len(ids) == len(set(ids)) >= 5
    text = json.dumps(document, ensure_ascii=False)
    for record, user in zip(records, learners, strict=True):
        assert user.real_name not in text or user is inspector
        with app.test_request_context():
            assert service.record_pseudonym(plan, record.id) in ids
    with app.test_request_context():
        own = service.record_pseudonym(plan, records[-1].id)
    for a in plan.assignments:
        if a.entry.public_id == own:
            assert a.inspector_id != inspector.id


def test_a_target_without_an_eligible_inspector_is_drawn_published_and_checked(app, db_session, make_user, world,
                                                                               tmp_path):
    """广东's pool is one inspector, employed by 粤抽查基地二: drawn, that base gets no inspector, and the
    published draw still lists it (the script and the page agree)."""
    people = world["people"]
    guangdong = make_user(roles=(Role.PROGRAMME_OFFICE,), region_code="440000", real_name="广东项目办")
    plan = _frozen_and_drawn(app, db_session, guangdong, scope="440000", target_count=2, inspectors_per_target=1)
    assert [m.user_id for m in plan.pool] == [people["inspector-2"].id]
    with app.test_request_context():
        document = service.published_document(plan)
        check = service.check_draw(plan)
    staffed = {row["target"]: row["inspectors"] for row in document["draw"]}
    assert staffed == {f"B{world['bases']['粤抽查基地一']}": [f"I{people['inspector-2'].id}"],
                       f"B{world['bases']['粤抽查基地二']}": []}
    assert check.commitment_matches and check.draw_matches
    published = tmp_path / "draw.json"
    published.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    done = subprocess.run([sys.executable, str(SCRIPT), str(published)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout


def test_an_inspector_who_joined_the_targets_organization_after_the_draw_cannot_record(app, db_session, world):
    people, orgs = world["people"], world["orgs"]
    plan = _frozen_and_drawn(app, db_session, people["national"], target_count=6, inspectors_per_target=1)
    assignment = plan.assignments[0]
    inspector = db_session.get(type(people["learner"]), assignment.inspector_id)
    inspector.employer_id = assignment.entry.organization_id
    db_session.commit()
    with app.test_request_context(), pytest.raises(NotAllowed, match="职责分离"):
        service.record_finding(inspector, assignment, "compliant", "")
    db_session.rollback()
    assert assignment.result is None and orgs
    # Nor can the plan be stuck: the office closes that task as not inspected, and then the plan.
    office = people["national"]
    with app.test_request_context():
        for other in plan.assignments[1:]:
            service.record_finding(db_session.get(type(office), other.inspector_id), other, "compliant", "")
        db_session.commit()
        with pytest.raises(InvalidInput, match="未录入"):
            service.close_plan(office, plan)
        db_session.rollback()
        service.mark_not_inspected(office, assignment, "检查人员已到被检查单位任职")
        service.close_plan(office, plan)
        db_session.commit()
    assert plan.status == "closed" and assignment.result == "not_inspected"


# ---------------------------------------------------------------- findings, closing, scope

def test_findings_by_the_drawn_inspector_only_and_public_once_closed(app, db_session, world):
    people = world["people"]
    office = people["national"]
    plan = _frozen_and_drawn(app, db_session, office, target_count=2, inspectors_per_target=1)
    first, second = plan.assignments
    inspector = db_session.get(type(people["learner"]), first.inspector_id)
    other = next(p for k, p in people.items() if k.startswith("inspector") and p.id != first.inspector_id)
    with app.test_request_context():
        with pytest.raises(NotAllowed):
            service.record_finding(other, first, "compliant", "")
        with pytest.raises(InvalidInput):
            service.record_finding(inspector, first, "bogus", "")
        with pytest.raises(InvalidInput, match="检查说明"):
            service.record_finding(inspector, first, "rectify", "")
        db_session.rollback()
        assert first.result is None
        service.record_finding(inspector, first, "rectify", "培训记录不完整，限期整改。")
        db_session.commit()
        with pytest.raises(InvalidInput, match="未录入"):
            service.close_plan(office, plan)
        db_session.rollback()
        assert service.public_findings(plan) == []
        second_inspector = db_session.get(type(people["learner"]), second.inspector_id)
        service.record_finding(second_inspector, second, "compliant", "")
        service.close_plan(office, plan)
        db_session.commit()
        assert len(service.public_findings(plan)) == 2
        with pytest.raises(Conflict):
            service.record_finding(inspector, first, "compliant", "")
    assert _audit(db_session, "inspection.finding") == 2
    assert _audit(db_session, "inspection.closed") == 1


def test_a_regional_office_runs_plans_of_its_region_only(app, db_session, world):
    people = world["people"]
    beijing, national = people["beijing"], people["national"]
    with app.test_request_context():
        with pytest.raises(InvalidInput, match="范围"):
            service.create_plan(beijing, service.PlanData("全国抽查", "national", "bases", 2025, 2))
        with pytest.raises(InvalidInput, match="范围"):
            service.create_plan(beijing, service.PlanData("广东抽查", "440000", "bases", 2025, 2))
        with pytest.raises(NotAllowed):
            service.create_plan(people["inspector-0"], service.PlanData("抽查", "national", "bases", 2025, 2))
    db_session.rollback()
    regional = _frozen_and_drawn(app, db_session, beijing, scope="110000", target_count=10)
    assert {e.label for e in regional.entries} == {"国家级抽查基地", "京抽查基地一", "京抽查基地二", "京抽查基地三"}
    assert people["inspector-2"].id not in {m.user_id for m in regional.pool}  # a 广东 inspector
    national_plan = _plan(app, national)
    with app.test_request_context():
        with pytest.raises(NotAllowed):
            service.load_plan(beijing, national_plan.id)
        assert service.load_plan(national, regional.id) is regional
        assert national_plan not in service.plans_for(beijing)


@pytest.mark.parametrize("field,value", [("title", ""), ("population", "people"), ("year", "二〇二五"),
                                         ("target_count", 0), ("target_count", 10_000),
                                         ("inspectors_per_target", 9)])
def test_bad_input_is_refused_with_a_message_and_changes_nothing(app, db_session, world, field, value):
    with app.test_request_context(), pytest.raises(InvalidInput) as refused:
        service.create_plan(world["people"]["national"], service.PlanData(**(
            {"title": "抽查", "scope": "national", "population": "bases", "year": 2025, "target_count": 2}
            | {field: value})))
    assert refused.value.field == field and refused.value.message
    db_session.rollback()
    assert db_session.scalar(select(func.count()).select_from(InspectionPlan)) == 0
    assert _audit(db_session, "inspection.created") == 0


def test_an_empty_population_or_pool_cannot_be_frozen(app, db_session, world):
    office = world["people"]["national"]
    plan = _plan(app, office, population="institutions")
    with app.test_request_context(), pytest.raises(InvalidInput, match="没有可抽查"):
        service.freeze_plan(office, plan)
    db_session.rollback()
    assert db_session.get(InspectionPlan, plan.id).status == "draft"
    assert not db_session.get(InspectionPlan, plan.id).entries


# ---------------------------------------------------------------- the pages

def _page(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def _logout(client, csrf_token):
    assert client.post("/logout", data={"csrf_token": csrf_token(_page(client, "/"))}).status_code in (302, 303)


def test_the_pages_from_plan_to_published_findings(app, client, login, db_session, world, csrf_token, make_user):
    """The office creates, freezes and draws on the pages (a wrong seed refused with its message);
    the drawn inspector sees the evidence of a credit record and records a finding; the public page
    checks the draw, and shows the findings only once the plan is closed."""
    people = world["people"]
    from datetime import datetime
    with app.test_request_context():
        course = programme_helpers.courses(db_session)[0]
        db_session.commit()
    learner = make_user(real_name="被抽查学员")
    with app.test_request_context():
        ledger.record_course_completion(learner, course, completed_at=datetime(2025, 6, 1, 2), exam_score=88)
        db_session.commit()
    login(people["national"])
    token = csrf_token(_page(client, "/programme/inspections/manage"))
    bad = client.post("/programme/inspections/manage", data={
        "csrf_token": token, "plan-title": "学时抽查", "plan-scope": "national", "plan-population": "credit_records",
        "plan-year": "2025", "plan-target_count": "abc", "plan-inspectors_per_target": "1"})
    assert bad.status_code == 400 and "请填写 1 到 500 之间的整数" in bad.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(InspectionPlan)) == 0
    done = client.post("/programme/inspections/manage", data={
        "csrf_token": token, "plan-title": "学时抽查", "plan-scope": "national", "plan-population": "credit_records",
        "plan-year": "2025", "plan-target_count": "1", "plan-inspectors_per_target": "1"})
    assert done.status_code == 303
    plan = db_session.scalar(select(InspectionPlan))
    assert client.get(f"/programme/inspections/{plan.id}").status_code == 404  # a draft is not public
    assert client.post(f"/programme/inspections/{plan.id}/freeze", data={"csrf_token": token}).status_code == 302
    db_session.refresh(plan)
    public = _page(client, f"/programme/inspections/{plan.id}")
    assert plan.commitment in public and "被抽查学员" not in public
    refused = client.post(f"/programme/inspections/{plan.id}/draw", data={"csrf_token": token,
                                                                          "reveal-seed": "ab" * 32})
    assert refused.status_code == 400 and "承诺值不符" in refused.get_data(as_text=True)
    assert client.post(f"/programme/inspections/{plan.id}/draw", data={"csrf_token": token,
                                                                       "reveal-seed": ""}).status_code == 303
    db_session.refresh(plan)
    public = _page(client, f"/programme/inspections/{plan.id}")
    assert 'data-ok="yes"' in public and plan.seed in public and 'id="findings"' not in public
    document = client.get(f"/programme/inspections/{plan.id}/draw.json").get_json()
    assert algorithm.draw_document(document) == document["draw"]
    assignment = plan.assignments[0]
    inspector = db_session.get(type(learner), assignment.inspector_id)
    _logout(client, csrf_token)
    login(inspector)
    task = _page(client, f"/programme/inspections/tasks/{assignment.id}")
    assert 'id="evidence"' in task and "被抽查学员" in task
    token = csrf_token(task)
    assert client.post(f"/programme/inspections/tasks/{assignment.id}", data={
        "csrf_token": token, "finding-result": "violation", "finding-notes": ""}).status_code == 400
    assert client.post(f"/programme/inspections/tasks/{assignment.id}", data={
        "csrf_token": token, "finding-result": "violation", "finding-notes": "考试记录与播放记录不符"}).status_code == 303
    _logout(client, csrf_token)
    login(people["national"])
    token = csrf_token(_page(client, f"/programme/inspections/{plan.id}/manage"))
    assert client.post(f"/programme/inspections/{plan.id}/close", data={"csrf_token": token}).status_code == 302
    _logout(client, csrf_token)
    public = _page(client, f"/programme/inspections/{plan.id}")
    # a credit record's finding is published as its result only: the notes stay with the office (F16)
    assert 'id="findings"' in public and "发现违规" in public and "考试记录与播放记录不符" not in public
    assert inspector.real_name not in public  # the pool of a credit-record plan is published by pseudonym (F7)
    assert _page(client, "/programme/inspections").count(plan.title) == 1


# ---------------------------------------------------------------- attack findings (F7, F12, F13, F19, F20)

def _credit_record_world(app, db_session, make_user, world, n=5):
    """Credit records of 2025 for ``n`` learners and for inspector-0 (their own record)."""
    from datetime import datetime
    with app.test_request_context():
        course = programme_helpers.courses(db_session)[0]
        db_session.commit()
    learners = [make_user(real_name=f"记录学员{i}") for i in range(n)] + [world["people"]["inspector-0"]]
    with app.test_request_context():
        for user in learners:
            ledger.record_course_completion(user, course, completed_at=datetime(2025, 5, 1, 2), exam_score=90)
        db_session.commit()
    return learners


def test_a_credit_record_plan_publishes_its_pool_by_pseudonym_so_exclusions_name_nobody(app, client, db_session,
                                                                                         make_user, world):
    """F7: the draw document of a credit-record plan names no inspector: an ``exclude`` list points
    to a pseudonym, which no published name maps back to."""
    _credit_record_world(app, db_session, make_user, world)
    plan = _plan(app, world["people"]["national"], population="credit_records", target_count=2,
                 inspectors_per_target=1)
    with app.test_request_context():
        service.freeze_plan(world["people"]["national"], plan)
        db_session.commit()
    published = client.get(f"/programme/inspections/{plan.id}/draw.json")
    document = published.get_json()
    names = [m.name for m in plan.pool]
    assert names and not any(name in published.get_data(as_text=True) for name in names)
    assert all(m["id"].startswith("P") and m["name"] == "" for m in document["pool"])
    assert any(e["exclude"] for e in document["population"])  # the inspector's own record is still excluded
    page = client.get(f"/programme/inspections/{plan.id}").get_data(as_text=True)
    assert not any(name in page for name in names)


def test_the_document_is_written_once_at_freeze_served_as_stored_and_the_population_paginated(
        app, client, db_session, make_user, world, monkeypatch, tmp_path):
    """F19: the published document is stored at freeze with the digest of its population and pool; the
    document and the public page read no population entry beyond one page; the script checks the digest."""
    from sqlalchemy import event

    _credit_record_world(app, db_session, make_user, world)
    plan = _frozen_and_drawn(app, db_session, world["people"]["national"], population="credit_records",
                             target_count=2, inspectors_per_target=1)
    db_session.refresh(plan)
    with app.test_request_context():
        document = json.loads(plan.document)
        assert plan.population_sha256 == service.population_digest(document["population"], document["pool"])
    assert document["seed"] == plan.seed and algorithm.draw_document(document) == document["draw"]
    statements = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", seen)
    monkeypatch.setattr(service, "PAGE_SIZE", 2)
    try:
        served = client.get(f"/programme/inspections/{plan.id}/draw.json")
        assert served.get_data(as_text=True) == plan.document
        assert not any("FROM inspection_entry" in s for s in statements)
        page = client.get(f"/programme/inspections/{plan.id}?page=2").get_data(as_text=True)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    listed = page[page.index('id="population"'):page.index("</ol>", page.index('id="population"'))]
    shown = [e["id"] for e in document["population"] if e["id"] in listed]
    assert shown == [e["id"] for e in document["population"][2:4]]
    assert 'id="population-pages"' in page and plan.population_sha256 in page
    assert len([s for s in statements if "FROM inspection_entry" in s]) <= 3  # a count and one page (+ drawn)
    # a population changed after the freeze does not check out, whatever the draw says
    document["population"][0]["label"] = "改过"
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    done = subprocess.run([sys.executable, str(SCRIPT), str(tampered)], capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "population_sha256" in done.stdout


def test_the_public_inspection_pages_are_rate_limited(app, client, db_session, world, monkeypatch):
    plan = _frozen_and_drawn(app, db_session, world["people"]["national"], target_count=1)
    monkeypatch.setitem(app.config, "LMS_INSPECTION_PUBLIC_RATE_LIMIT", "2 per minute")
    path = f"/programme/inspections/{plan.id}/draw.json"
    statuses = [client.get(path, environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_one_open_plan_per_kind_and_year_and_no_reveal_before_the_published_delay(app, db_session, world,
                                                                                   monkeypatch):
    """F20: a second plan of the same scope, population and year cannot be frozen while the first is
    open; the seed cannot be revealed before the delay published at freeze."""
    office = world["people"]["national"]
    monkeypatch.setitem(app.config, "LMS_INSPECTION_REVEAL_DELAY_HOURS", 24)
    first, second = _plan(app, office), _plan(app, office)
    with app.test_request_context():
        service.freeze_plan(office, first)
        db_session.commit()
        with pytest.raises(Conflict, match="尚未结束"):
            service.freeze_plan(office, second)
        db_session.rollback()
        with pytest.raises(Conflict, match="须等到"):
            service.reveal_and_draw(office, first)
        db_session.rollback()
    assert db_session.get(InspectionPlan, second.id).status == "draft"
    assert db_session.get(InspectionPlan, first.id).status == "frozen" and first.seed is None
    assert json.loads(db_session.get(InspectionPlan, first.id).document)["reveal_after"]
    other_year = _plan(app, office, year=2024)
    with app.test_request_context():
        service.freeze_plan(office, other_year)  # another year is another plan
        db_session.commit()


def test_a_drawn_inspector_who_left_is_closed_as_not_inspected_by_the_office_and_shown(app, client, login, db_session,
                                                                                       world, csrf_token):
    """F13: the plan can close once the office records the task of an inspector who left as not
    inspected (audited, its reason public); not while the inspector is still in post."""
    people = world["people"]
    office = people["national"]
    plan = _frozen_and_drawn(app, db_session, office, target_count=1, inspectors_per_target=1)
    assignment = plan.assignments[0]
    with app.test_request_context():
        with pytest.raises(Conflict, match="仍在任"):
            service.mark_not_inspected(office, assignment, "检查人员离任")
        db_session.rollback()
    inspector = db_session.get(type(office), assignment.inspector_id)
    with app.test_request_context(), pytest.raises(InvalidInput):
        service.record_finding(inspector, assignment, "not_inspected", "我自己写的")  # not an inspector's result
    db_session.rollback()
    inspector.is_active_account = False
    db_session.commit()
    login(office)
    manage = _page(client, f"/programme/inspections/{plan.id}/manage")
    path = f"/programme/inspections/{plan.id}/assignments/{assignment.id}/not-inspected"
    assert path in manage
    assert client.post(path, data={"csrf_token": csrf_token(manage), "left-reason": "短"}).status_code == 400
    assert client.post(path, data={"csrf_token": csrf_token(manage),
                                   "left-reason": "检查人员已调离，无人接替"}).status_code == 303
    assert client.post(path, data={"csrf_token": csrf_token(manage),
                                   "left-reason": "检查人员已调离，无人接替"}).status_code == 409
    assert _audit(db_session, "inspection.not_inspected") == 1
    assert client.post(f"/programme/inspections/{plan.id}/close",
                       data={"csrf_token": csrf_token(manage)}).status_code == 302
    db_session.refresh(plan)
    assert plan.status == "closed"
    public = _page(client, f"/programme/inspections/{plan.id}")
    assert "未检查：检查人员已离任" in public and "检查人员已调离，无人接替" in public


@pytest.mark.parametrize("document", [None, [1, 2], {}, {"commitment": "ab" * 32, "seed": "种子" * 32, "targets": 1,
                                                         "inspectors_per_target": 1, "population": [], "pool": []},
                                      "targets-as-text", "no-exclude", "exclude-out-of-pool"])
def test_the_script_says_a_malformed_document_cannot_be_checked_exit_2(tmp_path, document):
    """F12: exit status 2 with a message (never a traceback) for a document that is not a draw document."""
    good = {"commitment": algorithm.commitment("00" * 32), "seed": "00" * 32, "targets": 1, "inspectors_per_target": 1,
            "population": [{"id": "B1", "label": "x", "exclude": []}], "pool": [{"id": "I1", "name": "y"}],
            "draw": [{"target": "B1", "inspectors": ["I1"]}]}
    if document == "targets-as-text":
        document = good | {"targets": "5"}
    elif document == "no-exclude":
        document = good | {"population": [{"id": "B1", "label": "x"}]}
    elif document == "exclude-out-of-pool":
        document = good | {"population": [{"id": "B1", "label": "x", "exclude": [7]}]}
    path = tmp_path / "draw.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    done = subprocess.run([sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "cannot check" in done.stdout and "Traceback" not in done.stderr
    path.write_text(json.dumps(good), encoding="utf-8")
    assert subprocess.run([sys.executable, str(SCRIPT), str(path)], capture_output=True, check=False).returncode == 0


def test_the_inspector_of_a_claimed_entry_sees_the_claim_its_steps_and_evidence(app, db_session, make_user, world,
                                                                                 client_factory):
    """An entry of origin external_claim has no course: the drawn inspector sees the claim behind it (its
    review steps and evidence files, which they may download); other inspectors may not open the files."""
    from datetime import date

    from lms.accounts.models import User
    from lms.claims import services as claims
    from tests.claims_helpers import rule, submit, upload
    from tests.records_helpers import UNIT_A, employee, org
    from tests.web.test_claims_pages import login_as as _login

    people = world["people"]
    learner = employee(make_user, UNIT_A, real_name="登记学员")
    unit_admin = make_user(roles=(Role.UNIT_ADMIN,), organization=org(db_session, UNIT_A), real_name="登记单位管理员")
    with app.test_request_context():
        rule(db_session)
        claim = submit(learner, title="外单位培训一", kind="training", hours="5", day=date(2025, 6, 1),
                       files=[upload("培训证书.pdf")])
        claims.review_claim(unit_admin, claim.id, decision="approve")
        db_session.commit()
    plan = _frozen_and_drawn(app, db_session, people["national"], population="credit_records", target_count=1,
                             inspectors_per_target=1, year=2025)
    (assignment,) = plan.assignments
    inspector = db_session.get(User, assignment.inspector_id)
    client = client_factory()
    _login(client, inspector)
    page = client.get(f"/programme/inspections/tasks/{assignment.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "外单位培训一" in html and "None" not in html
    evidence = claim.evidence[0]
    assert "培训证书.pdf" in html and f"/claims/{claim.id}/evidence/{evidence.id}" in html
    assert "登记单位管理员" in html and "没有播放记录" not in html
    download = client.get(f"/claims/{claim.id}/evidence/{evidence.id}")
    assert download.status_code == 200 and download.headers["Content-Disposition"].startswith("attachment")
    assert client.get(f"/claims/{claim.id}").status_code == 200
    other = next(people[k] for k in ("inspector-0", "inspector-1") if people[k].id != inspector.id)
    outsider = client_factory()
    _login(outsider, other)
    assert outsider.get(f"/claims/{claim.id}/evidence/{evidence.id}").status_code == 404
