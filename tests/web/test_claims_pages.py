"""学时登记 pages: submitting with evidence (checked by content), CSRF, who may open a claim and its files,
the reviewers' form, and what the learner sees."""

import io
import re
from datetime import date

import pytest
from sqlalchemy import func, select

from lms.accounts.models import Role
from lms.claims import services as claims
from lms.claims.models import ClaimEvidence, ClaimStatus, HourClaim
from tests.claims_helpers import PDF, SVG, png, rule, submit
from tests.records_helpers import UNIT_A, employee, org


@pytest.fixture
def people(app, db_session, make_user):
    p = {"learner": employee(make_user, UNIT_A, real_name="甲学员"),
         "other": employee(make_user, UNIT_A, real_name="乙学员"),
         "unit_admin": make_user(roles=(Role.UNIT_ADMIN,), organization=org(db_session, UNIT_A), real_name="甲管理"),
         "auditor": make_user(roles=(Role.HR_AUDITOR,), region_code="110000", real_name="京审")}
    with app.test_request_context():
        rule(db_session)
    db_session.commit()
    return p


def submitted(app, db_session, user, **kw):
    """A claim submitted through the service, outside any page's request (no context left pushed)."""
    with app.test_request_context():
        claim = submit(user, **kw)
    db_session.commit()
    return claim


def form(**change):
    values = {"kind": "conference", "title": "全国继续教育学术会议", "activity_date": "2026-05-20", "hours": "4",
              "category": "professional", "description": "参加会议两天，听取报告并交流。"}
    values.update(change)
    return values


def post_claim(client, csrf_token, files, **change):
    token = csrf_token(client.get("/me/claims/new").get_data(as_text=True))
    data = {**form(**change), "csrf_token": token,
            "evidence": [(io.BytesIO(content), name) for name, content in files]}
    return client.post("/me/claims/new", data=data, content_type="multipart/form-data")


def count(db_session, model):
    return db_session.scalar(select(func.count()).select_from(model))


def test_a_learner_submits_a_claim_with_a_pdf_and_sees_it(client, login, people, csrf_token, db_session):
    login(people["learner"])
    response = post_claim(client, csrf_token, [("参会证明.pdf", PDF)])
    assert response.status_code == 303, response.get_data(as_text=True)
    claim = db_session.scalar(select(HourClaim))
    assert claim.status == ClaimStatus.UNIT_REVIEW and claim.evidence[0].original_name == "参会证明.pdf"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "待单位审核" in page and "参会证明.pdf" in page and "学员提交" in page
    assert "全国继续教育学术会议" in client.get("/me/claims").get_data(as_text=True)
    file = client.get(f"/claims/{claim.id}/evidence/{claim.evidence[0].id}")
    assert file.status_code == 200 and file.data == PDF and file.mimetype == "application/pdf"
    assert file.headers["Content-Disposition"].startswith("attachment")
    assert file.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in file.headers["Content-Security-Policy"]
    assert "no-store" in file.headers["Cache-Control"]


@pytest.mark.parametrize("files,words", [
    ([("论文首页.pdf", png())], "内容是 PNG"),
    ([("图.svg", SVG)], "不接受 SVG"),
    ([("图.png", SVG)], "不接受 SVG"),
    ([("大.pdf", PDF + b"0" * (5 * 1024 * 1024))], "超过 5 MB"),
    ([("扫描件.pdf", PDF + b"0" * (20 * 1024 * 1024))], "超过 5 MB"),  # above the app-wide 16 MB body cap too
    ([], "请上传至少一份证明材料"),
])
def test_bad_evidence_is_explained_and_nothing_is_recorded(client, login, people, csrf_token, db_session, files,
                                                          words):
    login(people["learner"])
    response = post_claim(client, csrf_token, files, title="我填写的活动名称")
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and words in html
    assert 'value="我填写的活动名称"' in html  # what was typed is kept
    assert "Traceback" not in html
    assert count(db_session, HourClaim) == 0 and count(db_session, ClaimEvidence) == 0


def test_bad_fields_are_explained_on_the_field(client, login, people, csrf_token, db_session):
    login(people["learner"])
    response = post_claim(client, csrf_token, [("a.pdf", PDF)], hours="很多")
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "学时应为数字" in html and 'value="很多"' in html
    assert "已选择的文件没有保留" in html
    assert count(db_session, HourClaim) == 0


def test_an_exponent_too_large_to_round_is_a_message_not_a_server_error(app, client, client_factory, login, people,
                                                                        csrf_token, db_session):
    login(people["learner"])
    response = post_claim(client, csrf_token, [("a.pdf", PDF)], hours="1e400")
    assert response.status_code == 400 and "学时应为数字" in response.get_data(as_text=True)
    assert count(db_session, HourClaim) == 0
    claim = submitted(app, db_session, people["learner"], hours="6")
    admin_client = client_factory()
    login_as(admin_client, people["unit_admin"])
    token = csrf_token(admin_client.get(f"/claims/{claim.id}").get_data(as_text=True))
    refused = admin_client.post(f"/claims/{claim.id}/review", data={"decision": "reduce", "hours": "1e400",
                                                                   "reason": "核减", "csrf_token": token})
    assert refused.status_code == 400 and "学时应为数字" in refused.get_data(as_text=True)
    assert claim.status == ClaimStatus.UNIT_REVIEW


def test_a_post_without_its_csrf_token_changes_nothing(app, client, client_factory, login, people, db_session):
    login(people["learner"])
    response = client.post("/me/claims/new", data={**form(), "evidence": [(io.BytesIO(PDF), "a.pdf")]},
                           content_type="multipart/form-data")
    assert response.status_code in (400, 200) and count(db_session, HourClaim) == 0
    claim = submitted(app, db_session, people["learner"])
    admin_client = client_factory()
    login_as(admin_client, people["unit_admin"])
    refused = admin_client.post(f"/claims/{claim.id}/review", data={"decision": "approve"})
    assert refused.status_code == 400 and claim.status == ClaimStatus.UNIT_REVIEW


def test_another_learners_claim_and_evidence_are_not_found(app, client, login, people, db_session):
    claim = submitted(app, db_session, people["learner"])
    login(people["other"])
    assert client.get(f"/claims/{claim.id}").status_code == 404
    assert client.get(f"/claims/{claim.id}/evidence/{claim.evidence[0].id}").status_code == 404
    assert client.get("/claims/review").status_code == 403


def test_the_unit_admin_reduces_with_a_reason_and_the_learner_sees_it(app, client_factory, login, people, csrf_token,
                                                                        db_session):
    claim = submitted(app, db_session, people["learner"], hours="6")
    admin_client = client_factory()
    login_as(admin_client, people["unit_admin"])
    queue = admin_client.get("/claims/review").get_data(as_text=True)
    assert "全国继续教育学术会议" in queue
    page = admin_client.get(f"/claims/{claim.id}").get_data(as_text=True)
    token = csrf_token(page)
    missing = admin_client.post(f"/claims/{claim.id}/review", data={"decision": "reduce", "hours": "4",
                                                                   "reason": "", "csrf_token": token})
    assert missing.status_code == 400 and "请填写原因" in missing.get_data(as_text=True)
    assert claim.status == ClaimStatus.UNIT_REVIEW
    done = admin_client.post(f"/claims/{claim.id}/review", data={"decision": "reduce", "hours": "4",
                                                                "reason": "第二天未签到", "csrf_token": token})
    assert done.status_code == 303
    learner_client = client_factory()
    login_as(learner_client, people["learner"])
    page = learner_client.get(f"/claims/{claim.id}").get_data(as_text=True)
    assert "已认定" in page and "第二天未签到" in page and "核减后通过" in page
    assert re.search(r'id="claim-credited"><strong>4 学时', page)
    assert "审核结果" not in page  # no form for the learner


def test_the_learner_cannot_review_their_own_claim_by_posting(app, client, login, people, csrf_token, db_session):
    from lms.accounts import services as accounts

    accounts.grant_role(None, people["other"], Role.UNIT_ADMIN, organization=org(db_session, UNIT_A))
    claim = submitted(app, db_session, people["other"], day=date(2026, 6, 1))
    login(people["other"])
    page = client.get(f"/claims/{claim.id}").get_data(as_text=True)
    assert "提交审核结果" not in page  # no form on one's own claim
    token = csrf_token(client.get("/me/claims/new").get_data(as_text=True))
    response = client.post(f"/claims/{claim.id}/review", data={"decision": "approve", "csrf_token": token})
    assert response.status_code == 403 and "不能审核本人" in response.get_data(as_text=True)
    assert claim.status == ClaimStatus.UNIT_REVIEW
    with app.test_request_context():
        assert claims.review_queue(people["other"]) == []


def login_as(client, user):
    from tests.conftest import TEST_PASSWORD, _csrf_token

    token = _csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"login": user.mobile, "password": TEST_PASSWORD, "csrf_token": token})
    assert response.status_code == 302


def test_a_claim_routed_to_the_region_says_so_to_its_learner_and_in_the_queue(app, client_factory, login, people,
                                                                              db_session):
    from lms.accounts.models import EmploymentStatus

    claim = submitted(app, db_session, people["learner"])
    learner_client = client_factory()
    login_as(learner_client, people["learner"])
    page = learner_client.get(f"/claims/{claim.id}").get_data(as_text=True)
    assert "等待单位管理员审核" in page and "待单位审核" in page
    people["learner"].employment_status = EmploymentStatus.REJECTED  # the unit ended the employment
    db_session.commit()
    page = learner_client.get(f"/claims/{claim.id}").get_data(as_text=True)
    assert "等待所在地区人社部门审核" in page and "等待单位管理员审核" not in page
    assert re.search(r'id="claim-status">待人社审核<', page)
    assert "待人社审核" in learner_client.get("/me/claims").get_data(as_text=True)
    auditor_client = client_factory()
    login_as(auditor_client, people["auditor"])
    queue = auditor_client.get("/claims/review").get_data(as_text=True)
    assert "全国继续教育学术会议" in queue and "待人社审核" in queue and "待单位审核" not in queue


def test_a_reviewer_opening_a_learners_evidence_is_audited_and_the_learner_is_not(app, client_factory, people,
                                                                                  db_session):
    from lms.core.audit import AuditEvent

    claim = submitted(app, db_session, people["learner"])
    item = claim.evidence[0]

    def viewed():
        db_session.expire_all()
        return list(db_session.scalars(select(AuditEvent).where(AuditEvent.action == "claim.evidence_viewed")))

    learner_client = client_factory()
    login_as(learner_client, people["learner"])
    assert learner_client.get(f"/claims/{claim.id}/evidence/{item.id}").status_code == 200
    assert viewed() == []
    admin_client = client_factory()
    login_as(admin_client, people["unit_admin"])
    file = admin_client.get(f"/claims/{claim.id}/evidence/{item.id}")
    assert file.status_code == 200 and file.data.startswith(b"%PDF")
    [event] = viewed()
    assert event.actor_id == people["unit_admin"].id and event.target_id == str(claim.id)
    assert event.detail["learner"] == people["learner"].id and event.detail["evidence"] == item.id
