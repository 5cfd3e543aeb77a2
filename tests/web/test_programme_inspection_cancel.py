"""Cancelling a random inspection plan (双随机、一公开): the programme office withdraws a plan that has
not closed, with a reason of 2 to 500 characters, audited; a plan cancelled after its freeze stays on
the public pages as 已撤销 with the date and the reason, its commitment (and seed and draw) still
published; a closed plan cannot be cancelled; a cancelled draft never becomes public. And the
``flask inspections`` commands: list, show, verify (the draw recomputed from the published
document) and export (the document that scripts/verify_draw.py checks)."""

import json
import subprocess
import sys

import pytest
from sqlalchemy import select

from lms.core.audit import AuditEvent
from lms.core.errors import Conflict, InvalidInput, NotAllowed
from lms.extensions import db
from lms.programme import inspections as service
from lms.programme.models import InspectionPlan, InspectionStatus
from lms.templating import localdate
from tests.web import test_programme_inspections as inspection_tests
from tests.web.test_programme_inspections import SCRIPT, _frozen_and_drawn, _plan

world = inspection_tests.world  # the same fixture: six bases, a national and a 北京 office, five inspectors


def _audits(db_session, action):
    return list(db_session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _page(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, url
    return response.get_data(as_text=True)


# ---------------------------------------------------------------- the service

def test_a_drawn_plan_is_cancelled_with_its_reason_and_stays_public(app, db_session, world):
    office = world["people"]["national"]
    plan = _frozen_and_drawn(app, db_session, office, target_count=2, inspectors_per_target=1)
    commitment, seed = plan.commitment, plan.seed
    with app.test_request_context():
        service.cancel_plan(office, plan, "  抽查对象名单\n有误，重新制定  ")
        db_session.commit()
    plan = db_session.get(InspectionPlan, plan.id)
    assert plan.status == InspectionStatus.CANCELLED and plan.cancelled_at is not None
    assert plan.cancel_reason == "抽查对象名单 有误，重新制定"
    assert plan.commitment == commitment and plan.seed == seed  # nothing published is taken back
    [event] = _audits(db_session, "inspection.cancelled")
    assert event.detail["reason"] == "抽查对象名单 有误，重新制定" and event.detail["was"] == "drawn"
    with app.test_request_context():
        assert service.public_plan(plan.id) is plan and plan in service.public_plans()
        assert service.public_findings(plan) == []
        check = service.check_draw(plan)
        assert check.commitment_matches and check.draw_matches  # the draw still checks out
        # the drawn inspector can no longer record, nor the office close
        assignment = plan.assignments[0]
        inspector = db.session.get(type(office), assignment.inspector_id)
        with pytest.raises(Conflict, match="已撤销"):
            service.record_finding(inspector, assignment, "compliant", "")
        db_session.rollback()
        with pytest.raises(Conflict, match="已撤销"):
            service.close_plan(office, plan)
        db_session.rollback()
        with pytest.raises(Conflict, match="已撤销"):
            service.cancel_plan(office, plan, "再次撤销")
        db_session.rollback()
    assert len(_audits(db_session, "inspection.cancelled")) == 1


def test_a_closed_plan_cannot_be_cancelled(app, db_session, world):
    people = world["people"]
    office = people["national"]
    plan = _frozen_and_drawn(app, db_session, office, target_count=1, inspectors_per_target=1)
    with app.test_request_context():
        [assignment] = plan.assignments
        service.record_finding(db.session.get(type(office), assignment.inspector_id), assignment, "compliant", "")
        service.close_plan(office, plan)
        db_session.commit()
        with pytest.raises(Conflict, match="已结束.*不能撤销"):
            service.cancel_plan(office, plan, "结果不理想")
        db_session.rollback()
    plan = db_session.get(InspectionPlan, plan.id)
    assert plan.status == InspectionStatus.CLOSED and plan.cancel_reason is None and plan.cancelled_at is None
    assert _audits(db_session, "inspection.cancelled") == []


@pytest.mark.parametrize("reason", ["", "  ", "撤", "撤" * 501])
def test_a_reason_of_2_to_500_characters_is_required(app, db_session, world, reason):
    office = world["people"]["national"]
    plan = _plan(app, office)
    with app.test_request_context(), pytest.raises(InvalidInput, match="2 到 500") as refused:
        service.cancel_plan(office, plan, reason)
    assert refused.value.field == "reason"
    db_session.rollback()
    assert db_session.get(InspectionPlan, plan.id).status == InspectionStatus.DRAFT
    assert _audits(db_session, "inspection.cancelled") == []


def test_only_the_plans_office_cancels_and_a_cancelled_draft_never_becomes_public(app, db_session, world):
    people = world["people"]
    national = _plan(app, people["national"])
    with app.test_request_context():
        for outsider in (people["beijing"], people["inspector-0"], people["learner"]):
            with pytest.raises(NotAllowed):
                service.cancel_plan(outsider, national, "不是我的计划")
            db_session.rollback()
        service.cancel_plan(people["national"], national, "草稿作废")
        db_session.commit()
        assert national.status == InspectionStatus.CANCELLED
        assert national not in service.public_plans()
        with pytest.raises(Exception, match="没有这项抽查计划"):
            service.public_plan(national.id)
        with pytest.raises(Conflict):  # a cancelled plan is never frozen
            service.freeze_plan(people["national"], national)
        db_session.rollback()


def test_a_cancelled_frozen_plan_frees_its_place_for_a_new_one(app, db_session, world):
    office = world["people"]["national"]
    first = _plan(app, office)
    with app.test_request_context():
        service.freeze_plan(office, first)
        db_session.commit()
        second = service.create_plan(office, service.PlanData("2025 年度基地抽查（重新制定）", "national", "bases", 2025, 2))
        db_session.commit()
        with pytest.raises(Conflict, match="尚未结束"):
            service.freeze_plan(office, second)
        db_session.rollback()
        service.cancel_plan(office, first, "范围有误，重新制定")
        service.freeze_plan(office, second)
        db_session.commit()
    assert first.status == InspectionStatus.CANCELLED and second.status == InspectionStatus.FROZEN


# ---------------------------------------------------------------- the pages

def test_the_office_cancels_on_its_page_and_the_public_page_says_so(app, client, login, db_session, world,
                                                                    csrf_token):
    office = world["people"]["national"]
    plan = _plan(app, office, target_count=2, inspectors_per_target=1)
    with app.test_request_context():
        service.freeze_plan(office, plan)
        db_session.commit()
    login(office)
    page = _page(client, f"/programme/inspections/{plan.id}/manage")
    assert "撤销计划" in page
    token = csrf_token(page)
    short = client.post(f"/programme/inspections/{plan.id}/cancel", data={"csrf_token": token, "cancel-reason": "撤"})
    assert short.status_code == 400 and "2 到 500" in short.get_data(as_text=True)
    assert db_session.get(InspectionPlan, plan.id).status == InspectionStatus.FROZEN
    done = client.post(f"/programme/inspections/{plan.id}/cancel",
                       data={"csrf_token": token, "cancel-reason": "检查人员名录不完整，重新制定"})
    assert done.status_code == 303
    db_session.expire_all()
    plan = db_session.get(InspectionPlan, plan.id)
    assert plan.status == InspectionStatus.CANCELLED
    manage = _page(client, f"/programme/inspections/{plan.id}/manage")
    assert 'id="plan-cancelled"' in manage and "检查人员名录不完整，重新制定" in manage
    assert f'action="/programme/inspections/{plan.id}/cancel"' not in manage
    public = _page(client, f"/programme/inspections/{plan.id}")
    with app.test_request_context():
        day = localdate(plan.cancelled_at)  # the platform's local date (the time is kept in UTC)
    assert 'id="plan-cancelled"' in public and "已撤销" in public and "检查人员名录不完整，重新制定" in public
    assert plan.commitment in public and day in public
    listing = _page(client, "/programme/inspections")
    assert plan.title in listing and f"已撤销（{day}）" in listing


def test_a_closed_plan_is_refused_on_the_page_with_the_reason_why(app, client, login, db_session, world, csrf_token):
    office = world["people"]["national"]
    plan = _frozen_and_drawn(app, db_session, office, target_count=1, inspectors_per_target=1)
    with app.test_request_context():
        [assignment] = plan.assignments
        service.record_finding(db.session.get(type(office), assignment.inspector_id), assignment, "compliant", "")
        service.close_plan(office, plan)
        db_session.commit()
    login(office)
    page = _page(client, f"/programme/inspections/{plan.id}/manage")
    assert f'/programme/inspections/{plan.id}/cancel' not in page
    refused = client.post(f"/programme/inspections/{plan.id}/cancel",
                          data={"csrf_token": csrf_token(page), "cancel-reason": "结果不理想，撤销"})
    assert refused.status_code == 409 and "已结束，检查结果已公开，不能撤销" in refused.get_data(as_text=True)
    assert db_session.get(InspectionPlan, plan.id).status == InspectionStatus.CLOSED


# ---------------------------------------------------------------- flask inspections

def test_inspections_list_and_show(app, runner, db_session, world):
    office = world["people"]["national"]
    drawn = _frozen_and_drawn(app, db_session, office, target_count=2, inspectors_per_target=1)
    draft = _plan(app, office, title="另一项草稿计划", year=2024)
    listed = runner.invoke(args=["inspections", "list"])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines == [f"{drawn.id}\tdrawn\tnational\tbases\t2025\t2×1\t2025 年度基地抽查",
                     f"{draft.id}\tdraft\tnational\tbases\t2024\t6×2\t另一项草稿计划"]
    only = runner.invoke(args=["inspections", "list", "--status", "draft"])
    assert only.output.splitlines() == lines[1:]
    shown = runner.invoke(args=["inspections", "show", str(drawn.id)])
    assert shown.exit_code == 0, shown.output
    for text in (f"计划 {drawn.id}：2025 年度基地抽查", "状态：已抽取（drawn）", f"承诺值：{drawn.commitment}",
                 f"名单摘要：{drawn.population_sha256}", f"种子：{drawn.seed}", "名单：6 个对象，5 名检查人员",
                 "检查任务：2 项，已录入 0 项"):
        assert text in shown.output
    missing = runner.invoke(args=["inspections", "show", "99999999"])
    assert missing.exit_code != 0 and "没有编号为 99999999 的抽查计划" in missing.output


def test_inspections_show_a_cancelled_plan(app, runner, db_session, world):
    office = world["people"]["national"]
    plan = _plan(app, office)
    with app.test_request_context():
        service.cancel_plan(office, plan, "草稿作废")
        db_session.commit()
    shown = runner.invoke(args=["inspections", "show", str(plan.id)])
    assert "状态：已撤销（cancelled）" in shown.output and "原因：草稿作废" in shown.output


def test_inspections_verify_recomputes_the_draw_and_export_writes_what_the_script_checks(app, runner, db_session,
                                                                                        world, tmp_path):
    office = world["people"]["national"]
    plan = _frozen_and_drawn(app, db_session, office, target_count=3, inspectors_per_target=2)
    verified = runner.invoke(args=["inspections", "verify", str(plan.id)])
    assert verified.exit_code == 0, verified.output
    assert "一致：种子与承诺值相符，重新计算的 3 个对象" in verified.output

    exported = tmp_path / "draw.json"
    done = runner.invoke(args=["inspections", "export", str(plan.id), str(exported)])
    assert done.exit_code == 0, done.output
    with app.test_request_context():
        assert exported.read_text(encoding="utf-8") == service.document_text(plan)
    checked = subprocess.run([sys.executable, str(SCRIPT), str(exported)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout
    to_stdout = runner.invoke(args=["inspections", "export", str(plan.id), "-"])
    assert json.loads(to_stdout.output)["commitment"] == plan.commitment

    # a published draw altered afterwards no longer checks out: verify says so and exits 1
    document = json.loads(plan.document)
    document["draw"][0], document["draw"][1] = document["draw"][1], document["draw"][0]
    db_session.execute(InspectionPlan.__table__.update().where(InspectionPlan.id == plan.id)
                       .values(document=json.dumps(document, ensure_ascii=False)))
    db_session.commit()
    db_session.expire_all()
    altered = runner.invoke(args=["inspections", "verify", str(plan.id)])
    assert altered.exit_code == 1 and "不一致：按公开的名单和种子重新计算的抽取结果与公布的不同" in altered.output
    # and a population changed after the freeze fails its digest
    document["population"][0]["label"] = "改过的名称"
    db_session.execute(InspectionPlan.__table__.update().where(InspectionPlan.id == plan.id)
                       .values(document=json.dumps(document, ensure_ascii=False)))
    db_session.commit()
    db_session.expire_all()
    altered = runner.invoke(args=["inspections", "verify", str(plan.id)])
    assert altered.exit_code == 1 and "population_sha256" in altered.output


def test_inspections_verify_and_export_before_the_draw(app, runner, db_session, world):
    office = world["people"]["national"]
    plan = _plan(app, office)
    for command in ("verify", "export"):
        result = runner.invoke(args=["inspections", command, str(plan.id), *(["-"] if command == "export" else [])])
        assert result.exit_code != 0 and "尚未冻结" in result.output
    with app.test_request_context():
        service.freeze_plan(office, plan)
        db_session.commit()
    frozen = runner.invoke(args=["inspections", "verify", str(plan.id)])
    assert frozen.exit_code == 1 and "名单摘要一致：6 个对象" in frozen.output and "种子尚未公开" in frozen.output
    assert plan.commitment in frozen.output
