"""Issuing, reissuing, revoking and verifying certificates. Services flush; callers commit.

Entry points: :func:`connect_signals` issues a course certificate on ``course_completed``;
:func:`issue_annual_certificate` on the learner's demand; :func:`reissue_certificate` and
:func:`revoke_certificate` by an admin; :func:`verify` from the public page.
"""

import hashlib
import io
from dataclasses import dataclass

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..accounts import crypto
from ..accounts.models import Role, User
from ..catalog.models import Category
from ..core import jobs, signals
from ..core.audit import record_event
from ..core.clock import iso_utc, local_date, utcnow_naive
from ..core.database import advisory_lock
from ..core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from ..core.formatting import format_hours
from ..core.i18n import DEFAULT_LOCALE
from ..core.storage import media_storage
from ..credits import services as ledger
from ..credits.models import CreditOrigin, CreditRecord
from ..extensions import db
from . import credentials, numbers, pdf
from .models import Certificate, CertificateKind, CertificateSequence, CertificateStatus
from .settings import issuer_code, issuer_name

# Session.info key: ledger entries whose certificate is queued after the commit (lms.certificates.tasks).
PENDING_AFTER_COMMIT = "certificates_after_commit"

MAX_REASON = 500
_ANNUAL_LOCK_KEY = 0x6778616E  # "gxan": with the learner's id, one annual certificate request at a time


def mask_name(name: str) -> str:
    name = (name or "").strip()
    return name[:1] + "*" * max(1, len(name) - 1) if name else "*"


def verify_url(number: str) -> str:
    return f"{credentials.base_url()}/verify?no={number}"


# ---------------------------------------------------------------- numbers

def allocate_number(year: int) -> str:
    """The next number of this issuer and year (the sequence row is locked until commit)."""
    issuer = issuer_code()
    if not numbers.valid_issuer(issuer):
        raise RuntimeError(f"LMS_CERT_ISSUER_CODE must be 2-6 capital letters or digits: {issuer!r}")
    sequence = db.session.scalar(select(CertificateSequence).where(
        CertificateSequence.issuer == issuer, CertificateSequence.year == year).with_for_update())
    if sequence is None:
        try:
            with db.session.begin_nested():
                sequence = CertificateSequence(issuer=issuer, year=year, last_value=0)
                db.session.add(sequence)
        except IntegrityError:
            sequence = db.session.scalar(select(CertificateSequence).where(
                CertificateSequence.issuer == issuer, CertificateSequence.year == year).with_for_update())
    while True:
        sequence.last_value += 1
        number = numbers.compose(issuer, year, sequence.last_value)
        if number is not None:  # sequences whose check character would be '*' are skipped
            db.session.flush()
            return number


# ---------------------------------------------------------------- rendering and signing

def _store_pdf(cert: Certificate, data: bytes) -> None:
    relative = f"certificates/{cert.credit_year}/{cert.number}-v{cert.version}.pdf"
    media_storage().save(relative, io.BytesIO(data))  # unreachable: StorageUnavailable, nothing issued
    cert.pdf_path = relative
    cert.pdf_sha256 = hashlib.sha256(data).hexdigest()


def _annual_rows(cert: Certificate) -> list[tuple[str, str]]:
    """One line per entry of the year; an entry that is not an online course names its origin (学时登记…)."""
    return [(_("%(title)s（%(category)s）", title=r.course_title, category=r.category_label)
             if r.origin == CreditOrigin.ONLINE_COURSE else
             _("%(title)s（%(category)s，%(origin)s）", title=r.course_title, category=r.category_label,
               origin=r.origin_label),
             _("%(hours)s 学时", hours=format_hours(r.hours)))
            for r in ledger.active_records(cert.user_id, cert.credit_year)]


def _render_and_sign(cert: Certificate) -> None:
    # A certificate is issued in Chinese whatever language the request that issued it reads.
    with force_locale(DEFAULT_LOCALE):
        _render_and_sign_chinese(cert)


def _render_and_sign_chinese(cert: Certificate) -> None:
    if cert.id is None:
        db.session.flush()  # the row id places the certificate's bit in the revocation list
    user = cert.user
    rows = _annual_rows(cert) if cert.kind == CertificateKind.ANNUAL else None
    data = pdf.render(cert, verify_url=verify_url(cert.number), holder_name=user.real_name, rows=rows,
                      timezone=current_app.config["BABEL_DEFAULT_TIMEZONE"])
    _store_pdf(cert, data)
    id_number = crypto.decrypt(user.id_number_encrypted)
    if cert.kind in (CertificateKind.COURSE, CertificateKind.PROGRAMME):
        document = credentials.open_badge(cert, id_number)
    else:
        earned = record_certificates(user.id, cert.credit_year)
        document = credentials.clr(user, id_number, earned, issued_at=cert.issued_at,
                                   name=_("%(credit_year)s年度继续教育学时档案", credit_year=cert.credit_year))
        document["id"] = f"{credentials.base_url()}/credentials/{cert.number}"
        document["credentialStatus"] = credentials.status_entry(cert)
    cert.credential_jwt = credentials.sign_credential(document, cert.issued_at)


def _fill_from_record(cert: Certificate, record: CreditRecord) -> None:
    cert.credit_record_id = record.id
    cert.course_code = record.course_code
    cert.credit_year = record.credit_year
    cert.title = record.course_title
    cert.category = record.category
    cert.hours = record.hours
    cert.exam_score = record.exam_score
    cert.completed_on = local_date(record.completed_at)


def _new_certificate(user, kind: str, year: int) -> Certificate:
    return Certificate(number=allocate_number(year), kind=kind, user_id=user.id, user=user, credit_year=year,
                       holder_name_masked=mask_name(user.real_name), holder_id_masked=user.id_number_masked,
                       issuer_name=issuer_name(), status=CertificateStatus.VALID, issued_at=utcnow_naive(),
                       version=1, pdf_path="", pdf_sha256="", credential_jwt="")


# ---------------------------------------------------------------- issuing

def issue_course_certificate(record: CreditRecord) -> Certificate:
    """The certificate of a completed course (idempotent: one per learner and course)."""
    existing = certificate_for_course(record.user_id, record.course_code)
    if existing is not None:
        return existing
    return _issue_course_certificate(record)


def _issue_course_certificate(record: CreditRecord) -> Certificate:
    """A new certificate for ``record``, whose learner has none for its course (the caller looked)."""
    user = db.session.get(User, record.user_id)
    cert = _new_certificate(user, CertificateKind.COURSE, record.credit_year)
    _fill_from_record(cert, record)
    db.session.add(cert)
    _render_and_sign(cert)
    db.session.flush()
    record_event(None, "certificate.issue", cert, number=cert.number)
    signals.certificate_issued.send(cert)
    return cert


def programme_certificate(user_id: int, code: str) -> Certificate | None:
    return db.session.scalar(select(Certificate).where(
        Certificate.user_id == user_id, Certificate.kind == CertificateKind.PROGRAMME,
        Certificate.course_code == code).limit(1))


def issue_programme_certificate(user, *, code: str, title: str, category: str, hours, year: int,
                                completed_on) -> Certificate:
    """The certificate of a completed seminar or class (one per learner and programme ``code``): the hours
    of the sessions attended. Sessions attended after it was issued reissue it (same number, the new
    hours); a revoked one stays revoked."""
    cert = programme_certificate(user.id, code)
    if cert is not None and (not cert.is_valid or cert.hours == hours):
        return cert
    created = cert is None
    if created:
        cert = _new_certificate(user, CertificateKind.PROGRAMME, year)
        db.session.add(cert)
    else:
        cert.version += 1
        cert.issued_at = utcnow_naive()
    cert.course_code, cert.title, cert.category, cert.hours = code, title[:160], category, hours
    cert.credit_year, cert.completed_on, cert.exam_score = year, completed_on, None
    _render_and_sign(cert)
    db.session.flush()
    record_event(None, "certificate.issue" if created else "certificate.reissue", cert, number=cert.number,
                 version=cert.version)
    if created:
        signals.certificate_issued.send(cert)
    return cert


def target_note(summary) -> str:
    """What an annual summary says about the year's requirement (the learner's rule set): met or not,
    with the numbers, so a certificate of 0.5 hours can never pass for a completed year."""
    total, required = format_hours(summary.total), format_hours(summary.required)
    if summary.missing:
        return _("本年度累计 %(total)s 学时，未达到年度 %(required)s 学时的要求（尚差 %(missing)s 学时）。",
                 total=total, required=required, missing=format_hours(summary.missing))
    if summary.public_missing:
        public = next(line for line in summary.lines if line.category == Category.PUBLIC)
        return _("本年度累计 %(total)s 学时，其中公需科目 %(public)s 学时，未达到公需科目至少 %(minimum)s 学时的要求。",
                 total=total, public=format_hours(public.hours), minimum=format_hours(public.required))
    return _("本年度累计 %(total)s 学时，已达到年度 %(required)s 学时的要求。", total=total, required=required)


def issue_annual_certificate(actor, year: int) -> Certificate:
    """The learner's summary of a credit year; asking again reissues it with the same number."""
    advisory_lock(_ANNUAL_LOCK_KEY, actor.id)  # requests at once: the second finds the first's certificate
    summary = ledger.year_summary(actor, year)
    if not summary.records:
        raise InvalidInput(_("%(year)s 年度还没有已记入的学时，暂不能开具年度学时证明。", year=year))
    cert = db.session.scalar(select(Certificate).where(
        Certificate.user_id == actor.id, Certificate.kind == CertificateKind.ANNUAL, Certificate.credit_year == year))
    created = cert is None
    if created:
        cert = _new_certificate(actor, CertificateKind.ANNUAL, year)
        db.session.add(cert)
    elif not cert.is_valid:
        raise Conflict(_("该年度学时证明已被撤销，不能自行重新开具。如有疑问请联系平台管理员。"))
    else:
        cert.version += 1
        cert.issued_at = utcnow_naive()
    cert.title = _("%(year)s年度继续教育学时汇总", year=year)
    cert.category = None
    cert.hours = summary.total
    cert.target_note = target_note(summary)
    cert.exam_score = None
    cert.completed_on = None
    _render_and_sign(cert)
    db.session.flush()
    record_event(actor, "certificate.issue" if created else "certificate.reissue", cert, number=cert.number,
                 version=cert.version)
    if created:
        signals.certificate_issued.send(cert)
    return cert


def issue_for_record(record_id: int) -> Certificate | None:
    """The course certificate of the ledger entry ``record_id``, issued if it has none yet (the job
    after a completion commits, and the sweep). None when the entry no longer stands (voided or
    revoked since): nothing is certified then. Safe to run twice, or twice at once: the number's
    sequence lock orders issuers, and ``uq_certificate_course`` backs the one certificate per course."""
    record = db.session.get(CreditRecord, record_id)
    if record is None or record.origin != CreditOrigin.ONLINE_COURSE or not record.course_code:
        return None
    existing = certificate_for_course(record.user_id, record.course_code)
    if existing is not None:  # the usual case for the sweep's stragglers and a job run twice
        return existing
    record = ledger.active_record_for_course(record.user_id, record.course_code)
    if record is None:
        return None
    try:
        with db.session.begin_nested():
            return _issue_course_certificate(record)
    except IntegrityError:  # issued at the same moment by another job: that one stands
        return certificate_for_course(record.user_id, record.course_code)


def pending_course_records(user_id: int | None = None, *, completed_before=None, completed_since=None,
                           after_id: int = 0, limit: int | None = None):
    """Standing online-course entries whose certificate is not issued yet: queued after their commit
    (the learner sees "签发中"), or lost with their job (the sweep issues them). ``completed_since``
    bounds the scan to recent entries (``ix_credit_record_created``); ``after_id`` pages on."""
    query = ledger.active_query(user_id).where(
        CreditRecord.origin == CreditOrigin.ONLINE_COURSE, CreditRecord.course_code.is_not(None),
        ~select(Certificate.id).where(Certificate.user_id == CreditRecord.user_id,
                                      Certificate.kind == CertificateKind.COURSE,
                                      Certificate.course_code == CreditRecord.course_code).exists())
    if completed_before is not None:
        query = query.where(CreditRecord.created_at < completed_before)
    if completed_since is not None:
        query = query.where(CreditRecord.created_at >= completed_since)
    if after_id:
        query = query.where(CreditRecord.id > after_id)
    query = query.order_by(CreditRecord.id)
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.scalars(query))


def _on_course_completed(enrollment, **_kwargs) -> None:
    """A course completed: its certificate is rendered and signed after the ledger transaction
    commits, by a job (lms.certificates.tasks), so a completion never holds the ledger's lock while
    a PDF is drawn. Where jobs run at once in the calling process (``LMS_JOBS_IMMEDIATE``, tests),
    it is issued at once, in the same transaction."""
    record = ledger.active_record_for_course(enrollment.user_id, enrollment.course_code)
    if record is None:
        return
    if jobs.huey.immediate:
        issue_course_certificate(record)
    else:
        db.session.info.setdefault(PENDING_AFTER_COMMIT, set()).add(record.id)


def connect_signals() -> None:
    signals.course_completed.connect(_on_course_completed, weak=False)


# ---------------------------------------------------------------- admin: reissue and revoke

def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not 2 <= len(reason) <= MAX_REASON:
        raise InvalidInput(_("请填写原因（2–%(MAX_REASON)s 字），原因会显示在核验页面并记入审计日志。", MAX_REASON=MAX_REASON), field="reason")
    return reason


def get_by_number(number: str, *, for_update: bool = False) -> Certificate:
    query = select(Certificate).where(Certificate.number == numbers.normalize(number))
    if for_update:  # reissues and revocations one after the other, each reading the last one's row
        query = query.with_for_update().execution_options(populate_existing=True)
    cert = db.session.scalar(query)
    if cert is None:
        raise NotFound(_("没有找到这份证书。"))
    return cert


def reissue_certificate(actor, number: str, *, reason: str) -> Certificate:
    """A new PDF and credential under the same number, with the ledger's current values (e.g. after a
    correction). The old PDF no longer matches the hash shown by the verification page."""
    reason = _reason(reason)
    cert = get_by_number(number, for_update=True)
    if not cert.is_valid:
        raise Conflict(_("已撤销的证书不能补发。"))
    if cert.kind == CertificateKind.COURSE:
        record = ledger.latest_in_chain(cert.credit_record)
        if not ledger.is_active(record):
            raise Conflict(_("这门课程的学时已被撤销，不能补发证书；请改为撤销证书。"))
        _fill_from_record(cert, record)
    elif cert.kind == CertificateKind.ANNUAL:
        cert.hours = ledger.year_summary(cert.user, cert.credit_year).total
    old_hash = cert.pdf_sha256
    cert.version += 1
    cert.issued_at = utcnow_naive()
    cert.holder_name_masked = mask_name(cert.user.real_name)
    cert.holder_id_masked = cert.user.id_number_masked
    _render_and_sign(cert)
    db.session.flush()
    record_event(actor, "certificate.reissue", cert, number=cert.number, reason=reason, version=cert.version,
                 old_sha256=old_hash, new_sha256=cert.pdf_sha256)
    return cert


def revoke_certificate(actor, number: str, *, reason: str) -> Certificate:
    """Revoke a certificate; a course certificate's hours are revoked in the ledger too."""
    reason = _reason(reason)
    cert = get_by_number(number, for_update=True)
    if not cert.is_valid:
        raise Conflict(_("这份证书已经撤销。"))
    cert.status = CertificateStatus.REVOKED
    cert.revoked_at = utcnow_naive()
    cert.revoked_by_id = actor.id
    cert.revoke_reason = reason
    if cert.kind == CertificateKind.COURSE and cert.credit_record is not None:
        record = ledger.latest_in_chain(cert.credit_record)
        if ledger.is_active(record):
            ledger.revoke_record(actor, record.id, reason=_("证书 %(number)s 撤销：%(reason)s", number=cert.number, reason=reason))
    db.session.flush()
    record_event(actor, "certificate.revoke", cert, number=cert.number, reason=reason)
    return cert


def search_certificates(query: str = "", limit: int = 50) -> list[Certificate]:
    stmt = select(Certificate).order_by(Certificate.id.desc()).limit(limit)
    if query:
        stmt = stmt.where(Certificate.number.contains(numbers.normalize(query)))
    return list(db.session.scalars(stmt))


# ---------------------------------------------------------------- the learner's certificates

def record_certificates(user_id: int, year: int | None = None) -> list[Certificate]:
    """The learner's valid certificates of earned hours (courses, seminars and classes), oldest first:
    what the learner's record (ClrCredential) bundles."""
    stmt = select(Certificate).where(Certificate.user_id == user_id,
                                     Certificate.kind.in_((CertificateKind.COURSE, CertificateKind.PROGRAMME)),
                                     Certificate.status == CertificateStatus.VALID)
    if year is not None:
        stmt = stmt.where(Certificate.credit_year == year)
    return list(db.session.scalars(stmt.order_by(Certificate.id)))


def my_certificates(actor) -> list[Certificate]:
    return list(db.session.scalars(select(Certificate).where(Certificate.user_id == actor.id)
                                   .order_by(Certificate.credit_year.desc(), Certificate.id.desc())))


def certificate_for_course(user_id: int, course_code: str) -> Certificate | None:
    return db.session.scalar(select(Certificate).where(
        Certificate.user_id == user_id, Certificate.kind == CertificateKind.COURSE,
        Certificate.course_code == course_code).limit(1))


def own_certificate(actor, number: str) -> Certificate:
    """A certificate the actor may download: their own; admins may fetch any (audited)."""
    try:
        cleaned = numbers.parse(number)
    except numbers.NumberError:
        raise NotFound(_("没有找到这份证书。")) from None
    cert = db.session.scalar(select(Certificate).where(Certificate.number == cleaned))
    if cert is None:
        raise NotFound(_("没有找到这份证书。"))
    if cert.user_id != actor.id:
        if not actor.has_role(Role.ADMIN):
            raise NotAllowed(_("只能下载本人的证书和学时凭证。"))
        record_event(actor, "certificate.admin_download", cert, number=cert.number)
    return cert


def pdf_bytes(cert: Certificate) -> bytes:
    """The certificate's PDF (small: read whole, so no handle outlives the request)."""
    with media_storage().open(cert.pdf_path) as fh:
        return fh.read()


def learner_clr(actor) -> str:
    """The learner's whole record (valid course and programme certificates) as a signed ClrCredential."""
    certs = record_certificates(actor.id)
    if not certs:
        raise InvalidInput(_("您还没有课程或研修培训的证书，暂无学时档案可下载。"))
    now = utcnow_naive()
    document = credentials.clr(actor, crypto.decrypt(actor.id_number_encrypted), certs, issued_at=now)
    record_event(actor, "credential.clr_download", None, certificates=len(certs))
    return credentials.sign_credential(document, now)


# ---------------------------------------------------------------- public verification

@dataclass
class Verification:
    number: str
    outcome: str  # found / not_found / example / check / format
    message: str | None = None
    certificate: Certificate | None = None
    pdf_match: bool | None = None


def verify(number_text: str, *, ip: str | None = None, via: str = "form") -> Verification:
    """Look a number up for the public page; every lookup is logged (AuditEvent ``certificate.verify``)."""
    typed = numbers.normalize(number_text)[:40]
    try:
        number = numbers.parse(number_text)
    except numbers.NumberError as exc:
        result = Verification(typed, exc.reason, exc.message)
    else:
        cert = db.session.scalar(select(Certificate).where(Certificate.number == number))
        if numbers.is_example(number):
            result = Verification(number, "example", _("这是示例编号，只用来说明证书编号的格式，不对应任何证书。请输入您证书上印的编号。"))
        elif cert is None:
            result = Verification(number, "not_found", _("编号校验通过，但平台没有这份证书。请确认编号是否为本平台签发。"))
        else:
            result = Verification(number, "found", certificate=cert)
    record_event(None, "certificate.verify", result.certificate, ip=ip, number=typed, outcome=result.outcome, via=via)
    db.session.flush()
    return result


def compare_pdf(verification: Verification, data: bytes) -> Verification:
    if verification.certificate is not None:
        verification.pdf_match = hashlib.sha256(data).hexdigest() == verification.certificate.pdf_sha256
    return verification


def status_document(number: str) -> dict:
    cert = get_by_number(number)
    body = {"id": f"{credentials.base_url()}/credentials/{cert.number}/status", "number": cert.number,
            "status": cert.status, "pdf_sha256": cert.pdf_sha256, "version": cert.version}
    if not cert.is_valid:
        body["revoked_at"] = iso_utc(cert.revoked_at)
        body["reason"] = cert.revoke_reason
    return body


