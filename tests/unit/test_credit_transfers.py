"""Credit portability (issue 19 item 3), the receiving side against a simulated issuer: what is
accepted becomes one ledger entry of origin ``transferred`` that counts like local hours; every
refusal has its own reason and records nothing; a credential revoked later voids its entry."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from lms.accounts.models import Role
from lms.catalog.models import Course, CourseStatus
from lms.core.audit import AuditEvent
from lms.core.clock import freeze
from lms.core.errors import Conflict, InvalidInput, NotFound
from lms.credits import services as ledger
from lms.credits.models import CreditOrigin, CreditRecord, EntryKind
from lms.extensions import db
from lms.federation import remote, transfers
from lms.federation.models import CourseOrigin, CreditTransfer, TransferStatus
from tests.conftest import id_number
from tests.transfer_helpers import FakeIssuer, tamper

pytestmark = pytest.mark.usefixtures("ctx")

ID_A = id_number("11010119850101123")
ID_B = id_number("11010119850101456")


@pytest.fixture
def issuer(app, monkeypatch):
    # The fake issuer's host does not resolve here; the real address checks are remote.py's own tests.
    monkeypatch.setitem(app.config, "LMS_FEDERATION_ALLOW_PRIVATE", True)
    fake = FakeIssuer()
    monkeypatch.setattr(remote, "fetch_bytes", fake.fetch)
    return fake


@pytest.fixture
def admin(make_user):
    return make_user(roles=(Role.ADMIN,), real_name="乙平台管理员")


@pytest.fixture
def trusted(issuer, admin):
    return transfers.add_issuer(admin, issuer.issuer_id, issuer.name)


@pytest.fixture
def learner(make_user):
    return make_user(id_number=ID_A, real_name="转入学员")


def _refused(learner, token, reason):
    before = (db.session.scalar(select(func.count()).select_from(CreditRecord)),
              db.session.scalar(select(func.count()).select_from(CreditTransfer)))
    with pytest.raises(transfers.TransferRefused) as caught, db.session.begin_nested():
        transfers.present_credential(learner, token)
    assert caught.value.reason == reason, caught.value.message
    after = (db.session.scalar(select(func.count()).select_from(CreditRecord)),
             db.session.scalar(select(func.count()).select_from(CreditTransfer)))
    assert after == before, "a refused credential recorded something"
    return caught.value.message


def _transferred(learner):
    return [r for r in ledger.active_records(learner.id) if r.origin == CreditOrigin.TRANSFERRED]


def test_an_accepted_credential_becomes_a_transferred_entry_that_counts_like_local_hours(issuer, trusted, learner):
    before = ledger.year_summary(learner, 2026).total
    token = issuer.sign(issuer.badge(ID_A, "A2026000001X", code="GX-A-001", hours=3.5, category="专业",
                                     title="数字经济概论"))
    [transfer] = transfers.present_credential(learner, token)
    [entry] = _transferred(learner)
    assert (entry.hours, entry.category, entry.credit_year, entry.course_title) == (
        Decimal("3.5"), "professional", 2026, "数字经济概论")
    assert entry.source_type == "credit_transfer" and entry.source_id == str(transfer.id)
    assert issuer.name in entry.note and "A2026000001X" in entry.note and "GX-A-001" in entry.note
    assert (transfer.issuer_id, transfer.original_number, transfer.course_code, transfer.credit_record_id) == (
        trusted.id, "A2026000001X", "GX-A-001", entry.id)
    assert ledger.year_summary(learner, 2026).total == before + Decimal("3.5")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "federation.credit_transferred"))
    assert event.actor_id == learner.id and event.detail["number"] == "A2026000001X"
    assert issuer.fetched[-1] == issuer.list_url()  # the issuer's status was read


def test_the_same_credential_twice_is_refused(issuer, trusted, learner):
    token = issuer.sign(issuer.badge(ID_A, "A2026000001X"))
    transfers.present_credential(learner, token)
    assert "已经转入过" in _refused(learner, token, "duplicate")
    assert len(_transferred(learner)) == 1


def test_the_same_course_is_never_credited_twice(issuer, trusted, learner, make_user):
    transfers.present_credential(learner, issuer.sign(issuer.badge(ID_A, "A2026000001X", code="GX-A-001")))
    # Another certificate of the same course (a reissue under a new number, a second completion).
    again = issuer.sign(issuer.badge(ID_A, "A2026000002X", code="GX-A-001", index=2))
    assert "已在本平台计入学时" in _refused(learner, again, "already_credited")


def test_a_course_completed_here_or_imported_from_that_issuer_is_not_credited_again(issuer, trusted, learner):
    course = db.session.scalar(select(Course).where(Course.code == "GX-NS-001", Course.status == CourseStatus.PUBLISHED))
    ledger.record_course_completion(learner, course, completed_at=datetime(2026, 3, 1, 4), exam_score=90)
    same_code = issuer.sign(issuer.badge(ID_A, "A2026000003X", code="GX-NS-001", index=3))
    _refused(learner, same_code, "already_credited")
    # A course imported from the issuer's feed keeps its original code: credited here means credited.
    other = db.session.scalar(select(Course).where(Course.code == "GX-DT-002", Course.status == CourseStatus.PUBLISHED))
    db.session.add(CourseOrigin(course_id=other.id, instance_name=issuer.name, instance_url=issuer.base,
                                publisher_name="甲省人社厅", original_code="A-ORIG-7", original_version=1,
                                sha256="0" * 64))
    ledger.record_course_completion(learner, other, completed_at=datetime(2026, 3, 2, 4), exam_score=None)
    imported = issuer.sign(issuer.badge(ID_A, "A2026000004X", code="A-ORIG-7", index=4))
    _refused(learner, imported, "already_credited")


def test_revoked_expired_unknown_tampered_and_someone_elses_credentials_are_refused(issuer, trusted, learner,
                                                                                      make_user):
    issuer.revoked.add(5)
    assert "已被发证平台" in _refused(learner, issuer.sign(issuer.badge(ID_A, "A5", index=5)), "revoked")
    assert "过期" in _refused(learner, issuer.sign(issuer.badge(ID_A, "A6", index=6,
                                                                 validUntil="2026-01-01T00:00:00Z")), "expired")
    stranger = FakeIssuer(base="https://c.example.gov.cn", name="丙平台")
    assert "不在本平台信任" in _refused(learner, stranger.sign(stranger.badge(ID_A, "C1")), "unknown_issuer")
    token = issuer.sign(issuer.badge(ID_A, "A7", index=7, hours=2.0))
    assert "被改动过" in _refused(learner, tamper(token, creditsEarned=20.0), "tampered")
    assert "不是您本人" in _refused(learner, issuer.sign(issuer.badge(ID_B, "A8", index=8)), "other_person")
    issuer.new_key(publish=False)  # a key the issuer never published
    assert "不是" in _refused(learner, issuer.sign(issuer.badge(ID_A, "A9", index=9)), "unknown_key")
    assert _refused(learner, "not a credential", "format")
    issuer.status_down = True
    assert "稍后再试" in _refused(learner, issuer.sign(issuer.badge(ID_A, "A10", index=10), key_index=0),
                                  "status_unavailable")


def test_a_rollover_at_the_issuer_is_followed_through_its_key_set(issuer, trusted, learner):
    issuer.new_key()
    transfers.present_credential(learner, issuer.sign(issuer.badge(ID_A, "A11", index=11)))
    assert len(trusted.pinned_keys) == 2


def test_pasted_keys_are_pinned_for_good(issuer, admin, learner):
    import json

    pinned = transfers.add_issuer(admin, issuer.issuer_id, issuer.name, keys_json=json.dumps(issuer.jwks()))
    assert pinned.jwks_url is None
    issuer.new_key()  # published at the issuer, but this instance never reads its key set
    issuer.status_key_index = 0
    _refused(learner, issuer.sign(issuer.badge(ID_A, "A12", index=12)), "unknown_key")
    transfers.present_credential(learner, issuer.sign(issuer.badge(ID_A, "A13", index=13), key_index=0))


def test_a_clr_bundle_transfers_each_course(issuer, trusted, learner):
    badges = [issuer.badge(ID_A, "A20", code="GX-A-020", index=20, hours=1.0),
              issuer.badge(ID_A, "A21", code="GX-A-021", index=21, hours=2.5, category="选修")]
    transfers.present_credential(learner, issuer.sign(issuer.clr(ID_A, badges)))
    assert sorted(r.hours for r in _transferred(learner)) == [Decimal("1.0"), Decimal("2.5")]


def test_a_credential_revoked_later_at_its_issuer_voids_the_entry_here(app, issuer, trusted, learner):
    [transfer] = transfers.present_credential(learner, issuer.sign(issuer.badge(ID_A, "A30", index=30, hours=4.0)))
    total = ledger.year_summary(learner, 2026).total
    later = datetime.now(UTC) + timedelta(hours=app.config["LMS_TRANSFER_RECHECK_HOURS"] + 1)
    with freeze(later):
        assert transfers.recheck_transfer(transfer) is False  # still valid: nothing changes
        assert transfers.transfers_due() == []
    issuer.revoked.add(30)
    with freeze(later + timedelta(hours=app.config["LMS_TRANSFER_RECHECK_HOURS"] + 1)):
        from lms.federation.tasks import recheck_transfers

        assert recheck_transfers() == {"checked": 1, "voided": 1, "unavailable": 0}
    assert transfer.status == TransferStatus.VOIDED and "已吊销" in transfer.void_reason
    revocation = db.session.scalar(select(CreditRecord).where(CreditRecord.voids_id == transfer.credit_record_id))
    assert revocation.entry_kind == EntryKind.REVOCATION and "已吊销" in revocation.reason
    assert ledger.year_summary(learner, 2026).total == total - Decimal("4.0")


def test_the_trust_list_is_checked_and_audited(issuer, admin, make_user):
    with pytest.raises(InvalidInput) as caught:
        transfers.add_issuer(admin, "ftp://a.example.gov.cn/", "甲")
    assert caught.value.field == "issuer_id"
    with pytest.raises(InvalidInput):
        transfers.add_issuer(admin, issuer.issuer_id, "甲", keys_json="{not json")
    with pytest.raises(InvalidInput):
        transfers.add_issuer(admin, issuer.issuer_id, "甲", jwks_url="https://evil.example.com/jwks.json")
    added = transfers.add_issuer(admin, issuer.base, "甲")
    assert added.issuer_id == issuer.issuer_id and set(added.pinned_keys) == set(issuer.published)
    with pytest.raises(Conflict):
        transfers.add_issuer(admin, issuer.issuer_id, "甲")
    from lms.core.errors import NotAllowed

    with pytest.raises(NotAllowed):
        transfers.add_issuer(make_user(), "https://d.example.gov.cn/", "丁")
    transfers.remove_issuer(admin, added.id)
    actions = set(db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("federation.issuer%"))))
    assert actions == {"federation.issuer_trusted", "federation.issuer_removed"}


def test_consent_links_are_short_lived_revocable_and_only_the_owners(app, make_user):
    from lms.certificates import services as certificates

    owner, other = make_user(), make_user()
    course = db.session.scalar(select(Course).where(Course.code == "GX-NS-001", Course.status == CourseStatus.PUBLISHED))
    record = ledger.record_course_completion(owner, course, completed_at=datetime(2026, 3, 1, 4), exam_score=80)
    cert = certificates.issue_course_certificate(record)
    with pytest.raises(NotFound):
        transfers.create_consent_link(other, cert.number)
    link, token = transfers.create_consent_link(owner, cert.number)
    assert token.startswith("gxc_") and link.token_hash != token
    assert transfers.consented_credential(token) == cert.credential_jwt
    later = datetime.now(UTC) + timedelta(minutes=app.config["LMS_CONSENT_LINK_MINUTES"] + 1)
    with freeze(later), pytest.raises(NotFound):
        transfers.consented_credential(token)
    # The number as typed on a phone: full-width, lower case, spaced, as the verification page takes it.
    typed = " ".join(cert.number.lower()).translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})
    second, token2 = transfers.create_consent_link(owner, typed)
    assert second.certificate_id == cert.id
    with pytest.raises(NotFound):
        transfers.revoke_consent_link(other, second.id)
    transfers.revoke_consent_link(owner, second.id)
    with pytest.raises(NotFound):
        transfers.consented_credential(token2)
    with pytest.raises(NotFound):
        transfers.consented_credential("gxc_guessed")
    assert link.used_count == 1


def test_a_course_completed_here_after_its_transfer_credits_nothing_again(issuer, trusted, learner):
    transfers.present_credential(learner, issuer.sign(issuer.badge(ID_A, "A40", code="GX-NS-001", index=40, hours=2.0)))
    course = db.session.scalar(select(Course).where(Course.code == "GX-NS-001", Course.status == CourseStatus.PUBLISHED))
    total = ledger.year_summary(learner, 2026).total
    local = ledger.record_course_completion(learner, course, completed_at=datetime(2026, 4, 1, 4), exam_score=88)
    assert local.hours == 0 and "已于" in local.note and issuer.name in local.note and "A40" in local.note
    assert ledger.year_summary(learner, 2026).total == total
    # Another course of the same learner is credited as usual.
    other = db.session.scalar(select(Course).where(Course.code == "GX-DT-002", Course.status == CourseStatus.PUBLISHED))
    assert ledger.record_course_completion(learner, other, completed_at=datetime(2026, 4, 2, 4),
                                           exam_score=None).hours > 0


def test_a_consent_link_stops_serving_a_certificate_revoked_after_it_was_made(make_user):
    from lms.certificates import services as certificates

    owner = make_user()
    admin = make_user(roles=(Role.ADMIN,))
    course = db.session.scalar(select(Course).where(Course.code == "GX-NS-001", Course.status == CourseStatus.PUBLISHED))
    cert = certificates.issue_course_certificate(
        ledger.record_course_completion(owner, course, completed_at=datetime(2026, 3, 1, 4), exam_score=80))
    _link, token = transfers.create_consent_link(owner, cert.number)
    assert transfers.consented_credential(token) == cert.credential_jwt
    certificates.revoke_certificate(admin, cert.number, reason="成绩作废")
    with pytest.raises(NotFound):
        transfers.consented_credential(token)


def test_a_key_set_nested_too_deeply_is_refused_in_words(app, admin, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_FEDERATION_ALLOW_PRIVATE", True)
    monkeypatch.setattr(remote, "fetch_bytes", lambda url, origin: (url, b"[" * 100_000 + b"]" * 100_000))
    with pytest.raises(InvalidInput) as caught:
        transfers.add_issuer(admin, "https://deep.example.gov.cn/", "深")
    assert "不是 JSON" in caught.value.message


def test_a_local_completion_zeroed_by_a_transfer_counts_when_the_transfer_is_voided(issuer, trusted, learner):
    [transfer] = transfers.present_credential(learner, issuer.sign(issuer.badge(ID_A, "A50", code="GX-NS-001",
                                                                                index=50, hours=2.0)))
    course = db.session.scalar(select(Course).where(Course.code == "GX-NS-001", Course.status == CourseStatus.PUBLISHED))
    local = ledger.record_course_completion(learner, course, completed_at=datetime(2026, 4, 1, 4), exam_score=88)
    assert local.hours == 0
    earned = ledger.hours_for_course(ledger.rule_set_for(learner), course)
    issuer.revoked.add(50)
    assert transfers.recheck_transfer(transfer) is True
    correction = db.session.scalar(select(CreditRecord).where(CreditRecord.voids_id == local.id))
    assert correction.entry_kind == EntryKind.CORRECTION and correction.hours == earned > 0
    assert ledger.year_summary(learner, 2026).total == earned
    # Re-checked again: nothing more.
    assert transfers.recheck_transfer(transfer) is False
    assert ledger.year_summary(learner, 2026).total == earned


def test_the_database_keeps_one_standing_transfer_per_course_past_a_check_that_lost_a_race(issuer, trusted, learner,
                                                                                            monkeypatch):
    transfers.present_credential(learner, issuer.sign(issuer.badge(ID_A, "A60", code="GX-A-060", index=60)))
    monkeypatch.setattr(transfers, "_credited_already", lambda *args: False)  # as if it had read too early
    again = issuer.sign(issuer.badge(ID_A, "A61", code="GX-A-060", index=61))
    assert "已在本平台计入学时" in _refused(learner, again, "already_credited")
    assert len(_transferred(learner)) == 1


def test_a_credential_revoked_by_an_issuer_no_longer_trusted_still_voids_its_entry(issuer, trusted, learner, admin):
    [transfer] = transfers.present_credential(learner, issuer.sign(issuer.badge(ID_A, "A70", index=70, hours=3.0)))
    transfers.remove_issuer(admin, trusted.id)  # what was transferred from it stays...
    assert transfers.recheck_transfer(transfer) is False
    issuer.revoked.add(70)  # ...until its issuer revokes it
    assert transfers.recheck_transfer(transfer) is True
    assert transfer.status == TransferStatus.VOIDED and _transferred(learner) == []
