"""Certificates: PDF text and QR code, credentials verified by an independent JOSE library from the
JWKS alone, tampering and revocation."""

import base64
import hashlib
import json
import subprocess
import warnings
from datetime import datetime

import pytest
from joserfc import jwt as jose_jwt
from joserfc.errors import BadSignatureError, SecurityWarning
from joserfc.jwk import KeySet
from PIL import Image

from lms.certificates import services, signing
from lms.core.errors import Conflict, InvalidInput, NotAllowed
from lms.core.storage import media_path
from lms.credits import services as ledger
from tests.learning_helpers import course


@pytest.fixture
def issued(ctx, db_session, make_user):
    user = make_user(real_name="李晓明")
    record = ledger.record_course_completion(user, course(db_session), completed_at=datetime(2026, 3, 2, 1), exam_score=88)
    cert = services.issue_course_certificate(record)
    db_session.flush()
    return user, record, cert


def independent_decode(token: str, jwks: dict):
    """joserfc (the platform signs with PyJWT) using only the published JWKS."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)  # joserfc prefers the RFC 9864 name "Ed25519"
        return jose_jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["EdDSA"])


def test_pdf_text_and_qr_code(issued, tmp_path):
    user, record, cert = issued
    path = media_path(cert.pdf_path)
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == cert.pdf_sha256
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    for expected in ["李晓明", record.course_title, f"{float(record.hours):g} 学时", cert.number, "88 分",
                     user.id_number_masked, "课程学时证明"]:
        assert expected in text, expected
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-singlefile", str(path), str(tmp_path / "page")], check=True)
    import zxingcpp

    codes = zxingcpp.read_barcodes(Image.open(tmp_path / "page.png"))
    assert [c.text for c in codes] == [services.verify_url(cert.number)]
    assert codes[0].text.endswith(f"/verify?no={cert.number}")


def test_credential_verifies_with_the_jwks_only(issued, client):
    user, record, cert = issued
    jwks = client.get("/.well-known/jwks.json").get_json()
    assert all("d" not in key for key in jwks["keys"])
    token = independent_decode(cert.credential_jwt, jwks)
    assert token.header["alg"] == "EdDSA" and token.header["typ"] == "vc+jwt"
    vc = token.claims
    assert vc["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert "https://www.w3.org/ns/credentials/v2" in vc["@context"]
    subject = vc["credentialSubject"]
    assert subject["creditsEarned"] == float(record.hours) and subject["term"] == "2026年度"
    assert subject["achievement"]["creditsAvailable"] == float(record.hours)
    assert subject["achievement"]["fieldOfStudy"] == "公需"
    identity = subject["identifier"][0]
    from lms.accounts import crypto

    raw_id = crypto.decrypt(user.id_number_encrypted)
    assert raw_id not in cert.credential_jwt and raw_id not in json.dumps(vc, ensure_ascii=False)
    assert identity["identityHash"] == "sha256$" + hashlib.sha256((raw_id + identity["salt"]).encode()).hexdigest()


def test_one_changed_byte_fails(issued, client):
    _user, _record, cert = issued
    jwks = client.get("/.well-known/jwks.json").get_json()
    header, payload, signature = cert.credential_jwt.split(".")
    claims = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    forged = claims.replace(b'"creditsEarned":', b'"creditsEarned":9', 1)
    tampered_payload = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
    for token in (f"{header}.{tampered_payload}.{signature}",
                  f"{header}.{payload}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}{signature[-1]}"):
        with pytest.raises(BadSignatureError):
            independent_decode(token, jwks)


def test_key_rotation_keeps_old_credentials_verifiable(issued, client, app):
    _user, _record, cert = issued
    old_kid = json.loads(base64.urlsafe_b64decode(cert.credential_jwt.split(".")[0] + "==")).get("kid")
    with app.app_context():
        new_kid = signing.generate_key()
    jwks = client.get("/.well-known/jwks.json").get_json()
    assert [k["kid"] for k in jwks["keys"]][0] == new_kid and old_kid in [k["kid"] for k in jwks["keys"]]
    independent_decode(cert.credential_jwt, jwks)
    import stat

    with app.app_context():
        assert stat.S_IMODE((signing.key_dir() / f"{new_kid}.pem").stat().st_mode) == 0o600


def test_revoked_certificate_reports_revoked(issued, client, make_user, db_session):
    user, record, cert = issued
    admin = make_user(roles=("admin",))
    assert client.get(f"/credentials/{cert.number}/status").get_json()["status"] == "valid"
    with pytest.raises(InvalidInput):
        services.revoke_certificate(admin, cert.number, reason="")
    services.revoke_certificate(admin, cert.number, reason="学习记录存在代学行为")
    db_session.commit()
    status = client.get(f"/credentials/{cert.number}/status").get_json()
    assert status["status"] == "revoked" and status["reason"] == "学习记录存在代学行为" and status["revoked_at"]
    # The credential's own status pointer is its bit in the revocation list (tests/unit/test_status_list.py).
    vc = independent_decode(cert.credential_jwt, client.get("/.well-known/jwks.json").get_json()).claims
    assert vc["credentialStatus"]["statusListIndex"] == str(cert.id)
    # The hours are revoked in the ledger by a new entry.
    assert ledger.active_records(user.id) == []
    with pytest.raises(Conflict):
        services.reissue_certificate(admin, cert.number, reason="补发")


def test_reissue_keeps_the_number_and_changes_the_hash(issued, make_user, db_session):
    user, record, cert = issued
    admin = make_user(roles=("admin",))
    number, old_hash = cert.number, cert.pdf_sha256
    ledger.correct_record(admin, record.id, hours="1.5", reason="学时标注更正")
    services.reissue_certificate(admin, number, reason="学时更正后补发")
    assert cert.number == number and cert.pdf_sha256 != old_hash and cert.version == 2
    assert cert.hours == 1.5


def test_annual_certificate_is_stable_on_reissue(issued, db_session):
    user, record, _cert = issued
    annual = services.issue_annual_certificate(user, 2026)
    again = services.issue_annual_certificate(user, 2026)
    assert again.number == annual.number and again.version == 2 and again.hours == record.hours
    with pytest.raises(InvalidInput):
        services.issue_annual_certificate(user, 2019)


def test_numbers_are_sequential_per_year(issued, db_session, make_user):
    _user, _record, first = issued
    other = make_user()
    record = ledger.record_course_completion(other, course(db_session), completed_at=datetime(2026, 5, 2, 1),
                                             exam_score=None)
    second = services.issue_course_certificate(record)
    assert first.number[:6] == second.number[:6] == "GX2026"
    assert int(second.number[6:12]) > int(first.number[6:12])


def test_learner_may_fetch_only_own_certificates(issued, make_user):
    _user, _record, cert = issued
    stranger = make_user()
    with pytest.raises(NotAllowed):
        services.own_certificate(stranger, cert.number)


def test_every_lookup_is_logged(issued, db_session):
    from sqlalchemy import select

    from lms.core.audit import AuditEvent

    _user, _record, cert = issued
    outcomes = [services.verify(n, ip="203.0.113.9").outcome
                for n in (cert.number, cert.number[:-1] + ("0" if cert.number[-1] != "0" else "1"), "GX20990000017", "x")]
    assert outcomes[0] == "found" and outcomes[1] == "check" and outcomes[3] == "format"
    events = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "certificate.verify")).all()
    assert len(events) >= 4 and all(e.ip == "203.0.113.9" for e in events[-4:])


def pdf_text(cert) -> str:
    """The PDF's text without spaces and line breaks (a long line wraps on the page)."""
    text = subprocess.run(["pdftotext", "-layout", str(media_path(cert.pdf_path)), "-"], capture_output=True,
                          text=True, check=True).stdout
    return "".join(text.split())


def test_annual_certificate_says_the_yearly_requirement_was_not_met(issued, client, db_session):
    user, record, _cert = issued
    annual = services.issue_annual_certificate(user, 2026)
    db_session.commit()
    hours = f"{float(record.hours):g}"
    expected = f"本年度累计 {hours} 学时，未达到年度 90 学时的要求"
    assert annual.target_note.startswith(expected)
    assert expected.replace(" ", "") in pdf_text(annual)
    page = client.get(f"/verify?no={annual.number}").get_data(as_text=True)
    assert expected in page


def test_annual_certificate_says_the_yearly_requirement_was_met(issued, db_session):
    user, record, _cert = issued
    rule = ledger.rule_set_for(user)
    rule.annual_hours, rule.public_min_hours = record.hours, 0
    annual = services.issue_annual_certificate(user, 2026)
    hours = f"{float(record.hours):g}"
    assert annual.target_note == f"本年度累计 {hours} 学时，已达到年度 {hours} 学时的要求。"
    assert f"已达到年度{hours}学时的要求" in pdf_text(annual)
