"""学时登记 services: who reviews which claim, each review path, caps per kind and per year, evidence checks."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lms.accounts.models import Role
from lms.claims import services as claims
from lms.claims.evidence import MAX_BYTES
from lms.claims.models import ClaimEvidence, ClaimStatus, HourClaim
from lms.core.audit import AuditEvent
from lms.core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from lms.credits import services as ledger
from lms.credits.models import CreditOrigin, CreditRecord
from tests.claims_helpers import PDF, SVG, data, jpeg, png, rule, submit, upload
from tests.records_helpers import UNIT_A, UNIT_B, employee, org


@pytest.fixture
def world(ctx, db_session, make_user):
    w = {"learner": employee(make_user, UNIT_A, real_name="甲学员"),
         "colleague": employee(make_user, UNIT_A, real_name="甲同事"),
         "loner": make_user(real_name="无单位", employer_name=None, employer_credit_code=None),
         "unit_a": make_user(roles=(Role.UNIT_ADMIN,), organization=org(db_session, UNIT_A), real_name="甲管理")}
    employee(make_user, UNIT_B, region="440000", real_name="乙学员")  # registers unit B
    w["unit_b"] = make_user(roles=(Role.UNIT_ADMIN,), organization=org(db_session, UNIT_B), real_name="乙管理")
    w["auditor"] = make_user(roles=(Role.HR_AUDITOR,), region_code="110000", real_name="京审")
    w["auditor_gd"] = make_user(roles=(Role.HR_AUDITOR,), region_code="440000", real_name="粤审")
    rule(db_session)
    return w


def entries(user) -> list[CreditRecord]:
    return [r for r in ledger.active_records(user.id) if r.origin == CreditOrigin.EXTERNAL_CLAIM]


def actions(claim) -> list[str]:
    return [f"{s.stage}:{s.action}" for s in claim.steps]


def test_unit_approval_credits_the_hours_in_the_year_of_the_activity(world, db_session):
    claim = submit(world["learner"], hours="4", day=date(2025, 12, 30))
    assert claim.status == ClaimStatus.UNIT_REVIEW and claim.organization_id is not None
    claims.review_claim(world["unit_a"], claim.id, decision="approve")
    assert claim.status == ClaimStatus.APPROVED and claim.hours_credited == Decimal(4)
    (entry,) = entries(world["learner"])
    assert (entry.credit_year, entry.hours, entry.course_id, entry.course_title, entry.activity_kind) == (
        2025, Decimal(4), None, "全国继续教育学术会议", "conference")
    assert (entry.source_type, entry.source_id) == ("hour_claim", str(claim.id))
    assert actions(claim) == ["learner:submitted", "unit:approved", "ledger:credited"]
    audited = set(db_session.scalars(select(AuditEvent.action).where(AuditEvent.target_id == str(claim.id),
                                                                     AuditEvent.target_type == "HourClaim")))
    assert audited == {"claim.submit", "claim.unit_review", "claim.credited"}


def test_a_reduction_needs_a_reason_and_fewer_hours(world):
    claim = submit(world["learner"], hours="6")
    with pytest.raises(InvalidInput) as refused:
        claims.review_claim(world["unit_a"], claim.id, decision="reduce", hours="4", reason=" ")
    assert refused.value.field == "reason"
    with pytest.raises(InvalidInput) as refused:
        claims.review_claim(world["unit_a"], claim.id, decision="reduce", hours="6", reason="超出")
    assert refused.value.field == "hours"
    claims.review_claim(world["unit_a"], claim.id, decision="reduce", hours="4", reason="第二天未参会")
    assert claim.hours_credited == Decimal(4)
    assert claim.steps[1].reason == "第二天未参会" and claim.steps[1].hours == Decimal(4)


def test_a_rejection_needs_a_reason_and_credits_nothing(world):
    claim = submit(world["learner"])
    with pytest.raises(InvalidInput):
        claims.review_claim(world["unit_a"], claim.id, decision="reject", reason="")
    claims.review_claim(world["unit_a"], claim.id, decision="reject", reason="证明材料不是本人")
    assert claim.status == ClaimStatus.REJECTED and entries(world["learner"]) == []
    with pytest.raises(Conflict):
        claims.review_claim(world["unit_a"], claim.id, decision="approve")


def test_the_region_confirms_where_the_rule_set_asks(world, db_session):
    rule(db_session, region_confirms=True)
    claim = submit(world["learner"], hours="8")
    claims.review_claim(world["unit_a"], claim.id, decision="reduce", hours="6", reason="按议程计 6 学时")
    assert claim.status == ClaimStatus.REGION_REVIEW and entries(world["learner"]) == []
    with pytest.raises(NotAllowed):  # the unit's part is done
        claims.review_claim(world["unit_a"], claim.id, decision="approve")
    with pytest.raises(NotFound):  # another region's auditor does not see it at all
        claims.review_claim(world["auditor_gd"], claim.id, decision="approve")
    claims.review_claim(world["auditor"], claim.id, decision="approve")
    assert claim.status == ClaimStatus.APPROVED and claim.hours_credited == Decimal(6)
    assert actions(claim) == ["learner:submitted", "unit:reduced", "region:approved", "ledger:credited"]


def test_the_unit_reviewer_does_not_also_confirm_for_the_region(world, db_session):
    """A unit admin who is also an HR auditor of the region (a small bureau) decides one step only."""
    from lms.accounts import services as accounts

    rule(db_session, region_confirms=True)
    both = world["unit_a"]
    accounts.grant_role(None, both, Role.HR_AUDITOR, region_code="110000")
    db_session.flush()
    claim = submit(world["learner"], hours="8")
    claims.review_claim(both, claim.id, decision="approve")
    assert claim.status == ClaimStatus.REGION_REVIEW
    assert not claims.may_review(both, claim) and claim not in claims.review_queue(both)
    with pytest.raises(NotAllowed) as refused:
        claims.review_claim(both, claim.id, decision="approve")
    assert "职责分离" in refused.value.message
    assert claim.status == ClaimStatus.REGION_REVIEW and entries(world["learner"]) == []
    assert claim in claims.review_queue(world["auditor"])
    claims.review_claim(world["auditor"], claim.id, decision="approve")
    assert claim.status == ClaimStatus.APPROVED and claim.hours_credited == Decimal(8)


def test_learners_without_a_confirmed_unit_go_to_the_region(world):
    claim = submit(world["loner"])
    assert claim.status == ClaimStatus.REGION_REVIEW and claim.organization_id is None
    assert claim in claims.review_queue(world["auditor"]) and claim not in claims.review_queue(world["unit_a"])
    claims.review_claim(world["auditor"], claim.id, decision="reject", reason="无法核实")
    assert claim.status == ClaimStatus.REJECTED


def test_nobody_reviews_their_own_claim(world, db_session, make_user):
    from lms.accounts import services as accounts

    admin_learner = world["colleague"]
    accounts.grant_role(None, admin_learner, Role.UNIT_ADMIN, organization=org(db_session, UNIT_A))
    db_session.flush()
    claim = submit(admin_learner)
    assert claim not in claims.review_queue(admin_learner)
    with pytest.raises(NotAllowed):
        claims.review_claim(admin_learner, claim.id, decision="approve")
    assert claim.status == ClaimStatus.UNIT_REVIEW


def test_others_cannot_see_or_review(world):
    claim = submit(world["learner"])
    for outsider in (world["colleague"], world["unit_b"], world["auditor_gd"]):
        with pytest.raises(NotFound):
            claims.claim_for(outsider, claim.id)
        with pytest.raises(NotFound):
            claims.review_claim(outsider, claim.id, decision="approve")
    with pytest.raises(NotAllowed):  # the region's auditor sees it, but the unit decides first
        claims.review_claim(world["auditor"], claim.id, decision="approve")
    item = claim.evidence[0]
    assert claims.evidence_for(world["unit_a"], claim.id, item.id) is item
    with pytest.raises(NotFound):
        claims.evidence_for(world["colleague"], claim.id, item.id)


def test_caps_per_kind_apply_to_the_years_total_however_claims_are_split(world, db_session):
    rule(db_session, caps="paper:20", year_cap="30")
    learner = world["learner"]
    first = submit(learner, kind="paper", hours="12", title="论文一")
    second = submit(learner, kind="paper", hours="12", title="论文二")
    third = submit(learner, kind="paper", hours="3", title="论文三", day=date(2025, 6, 1))  # another year
    for claim in (first, second, third):
        claims.review_claim(world["unit_a"], claim.id, decision="approve")
    assert [c.hours_credited for c in (first, second, third)] == [Decimal(12), Decimal(8), Decimal(3)]
    assert "上限 20 学时" in second.steps[-1].reason and "4 学时未计入" in second.steps[-1].reason
    assert second.steps[-1].reason == db_session.get(CreditRecord, second.credit_record_id).note
    # The year cap over every kind: 20 of papers already, so a conference of 15 gets 10.
    conference = submit(learner, kind="conference", hours="15")
    claims.review_claim(world["unit_a"], conference.id, decision="approve")
    assert conference.hours_credited == Decimal(10) and "合计上限 30 学时" in conference.steps[-1].reason
    full = submit(learner, kind="training", hours="2")
    claims.review_claim(world["unit_a"], full.id, decision="approve")
    assert full.hours_credited == 0 and full.credit_record_id is None and full.status == ClaimStatus.APPROVED
    assert ledger.origin_hours(learner.id, 2026, CreditOrigin.EXTERNAL_CLAIM) == Decimal(30)


def test_claimed_hours_do_not_use_up_the_daily_cap_of_online_study(world, db_session):
    from datetime import datetime

    from tests.learning_helpers import course

    learner = world["learner"]
    rule(db_session).daily_cap_hours = Decimal(2)
    claims.review_claim(world["unit_a"], submit(learner, hours="8", day=date(2026, 3, 10)).id, decision="approve")
    record = ledger.record_course_completion(learner, course(db_session, "GX-NS-001"),
                                             completed_at=datetime(2026, 3, 10, 2, 0), exam_score=90)
    assert record.note is None and record.hours > 0


@pytest.mark.parametrize("field,change", [
    ("kind", {"kind": "party"}), ("title", {"title": "会"}), ("activity_date", {"day": "2026/05/20"}),
    ("activity_date", {"day": date(2099, 1, 1)}), ("activity_date", {"day": date(2020, 1, 1)}),
    ("hours", {"hours": "abc"}), ("hours", {"hours": "0"}), ("hours", {"hours": "91"}), ("hours", {"hours": "1.25"}),
    ("category", {"category": "fun"}),
    # Lenient spellings Python would take: an exponent too large to round, 1_0, infinity, an ISO week date.
    ("hours", {"hours": "1e400"}), ("hours", {"hours": "1E1"}), ("hours", {"hours": "1_0"}),
    ("hours", {"hours": "Infinity"}), ("hours", {"hours": "NaN"}), ("hours", {"hours": "-4"}),
    ("activity_date", {"day": "2026-W01"}), ("activity_date", {"day": "20260520"}),
    ("title", {"title": "\u200b\u200b"}), ("title", {"title": "\u202e\u200d会"}),
])
def test_bad_fields_are_named_and_nothing_is_recorded(world, db_session, field, change):
    with pytest.raises(InvalidInput) as refused:
        submit(world["learner"], **change)
    assert refused.value.field == field
    db_session.rollback()
    assert db_session.scalar(select(func.count()).select_from(HourClaim)) == 0


@pytest.mark.parametrize("name,content,words", [
    ("论文首页.pdf", png(), "内容是 PNG"),           # a PNG renamed .pdf
    ("证书.png", PDF, "内容是 PDF"),
    ("图.svg", SVG, "不接受 SVG"),                  # SVG: never
    ("图.png", SVG, "不接受 SVG"),                # an SVG renamed .png
    ("说明.docx", b"PK\x03\x04", "类型不受支持"),
    ("照片.jpg", b"\xff\xd8\xff\xe0" + b"0" * 64, "无法作为图片打开"),  # only the first bytes of a JPEG
    ("空.pdf", b"", "空文件"),
    ("截断.pdf", PDF[:-7], "不是完整的 PDF"),           # cut off before its end marker
])
def test_evidence_is_checked_by_its_content(world, db_session, app, name, content, words):
    folder = Path(app.config["LMS_MEDIA_ROOT"]) / "claims" / str(world["learner"].id)
    before = set(folder.glob("*"))
    with pytest.raises(InvalidInput) as refused:
        submit(world["learner"], files=[upload("ok.pdf", PDF), upload(name, content)])
    assert words in refused.value.message and refused.value.field == "evidence"
    db_session.rollback()
    assert db_session.scalar(select(func.count()).select_from(ClaimEvidence)) == 0
    assert set(folder.glob("*")) == before  # the valid file sent with it is not kept either


def test_oversized_evidence_is_refused(world, db_session):
    with pytest.raises(InvalidInput) as refused:
        submit(world["learner"], files=[upload("大.pdf", PDF + b"0" * MAX_BYTES)])
    assert "超过 5 MB" in refused.value.message


def test_evidence_is_required_and_kept_with_its_hash(world):
    with pytest.raises(InvalidInput):
        claims.submit_claim(world["learner"], data(), [])
    claim = submit(world["learner"], files=[upload("a.pdf"), upload("b.png", png()), upload("c.JPG", jpeg())])
    assert [e.content_type for e in claim.evidence] == ["application/pdf", "image/png", "image/jpeg"]
    assert all(len(e.sha256) == 64 and e.path.startswith("claims/") for e in claim.evidence)


def test_rule_sets_take_caps_by_kind_or_label_and_refuse_bad_ones(ctx):
    from lms.credits.services import _claim_caps, _claim_year_cap_hours, _claims_need_region

    assert _claim_caps("paper:20，学术会议：30", "claim_caps", {}) == "paper:20,conference:30"
    assert _claim_caps("", "claim_caps", {}) is None
    for bad in ("paper=20", "party:5", "paper:20,paper:10", "paper:-1", "paper:abc"):
        with pytest.raises(InvalidInput) as refused:
            _claim_caps(bad, "claim_caps", {})
        assert refused.value.field == "claim_caps"
    assert _claim_year_cap_hours(" ", "claim_year_cap_hours", {}) is None
    assert _claim_year_cap_hours("30", "claim_year_cap_hours", {}) == Decimal(30)
    assert _claims_need_region("1", "", {}) is True and _claims_need_region(None, "", {}) is False


def test_a_learner_without_a_region_is_told_to_set_it(world, db_session):
    learner = world["loner"]
    learner.region_code = None
    db_session.flush()
    with pytest.raises(InvalidInput) as refused:
        submit(learner)
    assert "所在地区" in refused.value.message


def test_hours_and_dates_typed_on_a_chinese_keyboard_are_read_as_digits(world):
    claim = submit(world["learner"], hours="\uff19\uff0e\uff15", day="\uff12\uff10\uff12\uff16-05-20",
                   title="\u202e全国\u200b会议\u0007")
    assert (claim.hours_claimed, claim.activity_date, claim.title) == (Decimal("9.5"), date(2026, 5, 20), "全国会议")


@pytest.mark.parametrize("hours", ["1e400", "1_0", "Infinity", "9" * 400])
def test_a_reduction_to_an_absurd_number_is_refused_on_the_field(world, hours):
    claim = submit(world["learner"], hours="6")
    with pytest.raises(InvalidInput) as refused:
        claims.review_claim(world["unit_a"], claim.id, decision="reduce", hours=hours, reason="核减")
    assert refused.value.field == "hours" and claim.status == ClaimStatus.UNIT_REVIEW


@pytest.mark.parametrize("sent,kept", [
    ("证明材料 📄\u202egnp.pdf", "证明材料 📄gnp.pdf"),   # a bidi override would show it as "…fdp.png"
    ("\u202egnp.pdf", "gnp.pdf"),
    ("a\r\nX-Injected: 1.png", "aX-Injected: 1.png"),
    ("\x00.png", ".png"),
    ("会议\u200b证明\u2066.pdf", "会议证明.pdf"),
    ("C:\\Users\\me\\证书.jpg", "证书.jpg"),
])
def test_evidence_names_lose_control_and_format_characters(sent, kept):
    from lms.core.attachments import clean_name

    assert clean_name(sent) == kept


def test_a_long_evidence_name_is_cut_in_its_stem_and_keeps_its_extension(world):
    from lms.core.attachments import NAME_MAX, clean_name

    name = "长" * 300 + ".png"
    assert clean_name(name) == "长" * (NAME_MAX - 4) + ".png"
    claim = submit(world["learner"], files=[upload(name, png())])
    (item,) = claim.evidence
    assert item.original_name.endswith(".png") and len(item.original_name) == NAME_MAX
    assert item.content_type == "image/png"


def test_the_same_evidence_file_or_activity_is_claimed_once(world, db_session):
    """One evidence file, one credit: a second claim with the same file, or of the same kind, day and
    title, is refused while the first is open or approved, and says which claim it repeats."""
    learner = world["learner"]
    first = submit(learner, title="同一场学术会议", files=[upload("会议证明.pdf", PDF)])
    with pytest.raises(Conflict) as refused:  # the same file, another title
        submit(learner, title="换个名字的会议", files=[upload("会议证明.pdf", PDF)])
    assert f"第 {first.id} 号" in refused.value.message and refused.value.status == 409
    with pytest.raises(Conflict):  # the same activity, another file
        submit(learner, title="同一场学术会议")
    claims.review_claim(world["unit_a"], first.id, decision="approve")
    with pytest.raises(Conflict):  # still refused once approved
        submit(learner, title="同一场学术会议")
    assert len(entries(learner)) == 1
    assert submit(world["colleague"], title="同一场学术会议", files=[upload("会议证明.pdf", PDF)])  # another learner


def test_a_rejected_claim_may_be_claimed_again(world):
    learner = world["learner"]
    first = submit(learner, title="同一场学术会议", files=[upload("会议证明.pdf", PDF)])
    claims.review_claim(world["unit_a"], first.id, decision="reject", reason="证明不清晰")
    again = submit(learner, title="同一场学术会议", files=[upload("会议证明.pdf", PDF)])
    assert again.status == ClaimStatus.UNIT_REVIEW


def test_a_reviewer_cannot_approve_a_repeat_of_an_approved_claim(world, db_session):
    """Claims submitted before the check (or by other means) are stopped when they would be credited."""
    learner = world["learner"]
    first = submit(learner, title="同一场学术会议", files=[upload("会议证明.pdf", PDF)])
    second = submit(learner, title="另一场会议")
    second.evidence[0].sha256 = first.evidence[0].sha256  # as if submitted before the check
    db_session.flush()
    claims.review_claim(world["unit_a"], first.id, decision="approve")
    with pytest.raises(Conflict) as refused:
        claims.review_claim(world["unit_a"], second.id, decision="approve")
    assert f"第 {first.id} 号" in refused.value.message
    claims.review_claim(world["unit_a"], second.id, decision="reject", reason="重复登记")
    assert len(entries(learner)) == 1


def _move(learner, unit_code, region, db_session):
    """The learner's confirmed employer and region change (a transfer confirmed by the new unit)."""
    learner.employer_id = org(db_session, unit_code).id
    learner.region_code = region
    db_session.flush()


def test_an_open_claim_follows_the_learner_to_their_new_unit_and_region(world, db_session):
    learner = world["learner"]
    claim = submit(learner)
    _move(learner, UNIT_B, "440000", db_session)
    for former in (world["unit_a"], world["auditor"]):
        with pytest.raises(NotFound):  # the old unit and region neither see nor decide it
            claims.review_claim(former, claim.id, decision="approve")
        assert claim not in claims.review_queue(former)
    assert claim in claims.review_queue(world["unit_b"]) and claims.may_review(world["unit_b"], claim)
    claims.review_claim(world["unit_b"], claim.id, decision="approve")
    assert (claim.status, claim.organization_id, claim.region_code) == (
        ClaimStatus.APPROVED, org(db_session, UNIT_B).id, "440000")
    assert claims.claim_for(world["auditor_gd"], claim.id) is claim


def test_a_claim_waiting_for_a_unit_goes_to_the_region_when_the_learner_has_none(world, db_session):
    from lms.accounts.models import EmploymentStatus

    learner = world["learner"]
    claim = submit(learner)
    learner.employment_status = EmploymentStatus.REJECTED  # the unit ended the employment
    db_session.flush()
    assert claim not in claims.review_queue(world["unit_a"]) and claim in claims.review_queue(world["auditor"])
    with pytest.raises(NotFound):
        claims.claim_for(world["unit_a"], claim.id)
    claims.review_claim(world["auditor"], claim.id, decision="approve")
    assert claim.status == ClaimStatus.APPROVED and claim.organization_id is None
    assert actions(claim) == ["learner:submitted", "region:approved", "ledger:credited"]


def test_former_unit_admins_see_only_the_claims_they_decided(world, db_session, make_user):
    learner = world["learner"]
    other_admin = make_user(roles=(Role.UNIT_ADMIN,), organization=org(db_session, UNIT_A), real_name="甲另一管理")
    decided = submit(learner, title="一次会议")
    claims.review_claim(world["unit_a"], decided.id, decision="approve")
    by_other = submit(learner, title="另一次会议")
    claims.review_claim(other_admin, by_other.id, decision="reject", reason="无法核实")
    assert claims.claim_for(world["unit_a"], by_other.id) is by_other  # still employed: the unit sees all
    _move(learner, UNIT_B, "110000", db_session)
    assert claims.claim_for(world["unit_a"], decided.id) is decided
    with pytest.raises(NotFound):
        claims.claim_for(world["unit_a"], by_other.id)
    with pytest.raises(NotFound):
        claims.evidence_for(world["unit_a"], by_other.id, by_other.evidence[0].id)
    assert claims.claim_for(other_admin, by_other.id) is by_other


def test_evidence_of_a_claim_whose_transaction_does_not_commit_is_not_kept(world, db_session, app):
    """Accepted by the service, then the transaction ends without a commit (a later step failed,
    the commit itself failed): the stored files go with the rows."""
    folder = Path(app.config["LMS_MEDIA_ROOT"]) / "claims" / str(world["learner"].id)
    before = set(folder.glob("*"))
    claim = submit(world["learner"])
    assert len(set(folder.glob("*")) - before) == 1 and claim.evidence
    db_session.rollback()
    assert set(folder.glob("*")) == before
