"""Machine-verifiable credentials: Open Badges 3.0 and CLR 2.0 on the W3C VC 2.0 data model.

Each course certificate becomes an ``OpenBadgeCredential`` whose subject carries ``creditsEarned``
and ``term`` and, instead of the ID number, a salted SHA-256 ``IdentityObject`` (an HR system that
knows the person's ID number and reads the salt can check it; nobody else learns the number). A
learner's whole record is a ``ClrCredential`` bundling those credentials.

Securing: JOSE (VC-JOSE-COSE style) — the JWT payload is the credential itself plus the registered
claims ``iss``, ``jti``, ``nbf``, ``iat``; header ``typ: vc+jwt``, ``alg: EdDSA`` and the ``kid`` of a
key in ``/.well-known/jwks.json``. Revocation: ``credentialStatus`` is the certificate's entry in a W3C
Bitstring Status List (``status_list``); the JSON status document
``/credentials/<number>/status`` says ``valid`` or ``revoked`` with the reason.
"""

import hashlib
import secrets
from datetime import UTC, datetime

from ..core.clock import iso_utc
from ..core.formatting import format_hours
from ..core.web import public_base
from . import signing
from .settings import issuer_name

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
CLR_CONTEXT = "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json"


LIST_SIZE = 131_072  # bits per revocation list (16 KB uncompressed): lms/certificates/status_list.py
STATUS_PURPOSE = "revocation"


def base_url() -> str:
    return public_base()


def list_url(list_number: int) -> str:
    return f"{base_url()}/credentials/status/{list_number}"


def status_entry(cert) -> dict:
    """The ``credentialStatus`` of a certificate's credential: its bit, at its row id, in a Bitstring
    Status List (the row must have an id)."""
    list_number, index = divmod(cert.id, LIST_SIZE)
    return {"id": f"{list_url(list_number)}#{index}", "type": "BitstringStatusListEntry",
            "statusPurpose": STATUS_PURPOSE, "statusListIndex": str(index),
            "statusListCredential": list_url(list_number)}


def identity_object(id_number: str, salt: str | None = None) -> dict:
    salt = salt or secrets.token_hex(16)
    digest = hashlib.sha256((id_number + salt).encode()).hexdigest()
    return {"type": "IdentityObject", "identityHash": f"sha256${digest}", "identityType": "nationalIdentityNumber",
            "hashed": True, "salt": salt}


def issuer_profile() -> dict:
    return {"id": base_url() + "/", "type": ["Profile"], "name": issuer_name(),
            "url": base_url() + "/"}


def achievement(cert) -> dict:
    if cert.kind == "programme":  # a seminar or class: sessions attended, recorded by the host's attendance
        return {
            "id": f"{base_url()}/credentials/{cert.number}#achievement",
            "type": ["Achievement"],
            "achievementType": "Course",
            "humanCode": cert.course_code,
            "name": cert.title,
            "description": f"{cert.category_source_label}科目研修培训，出勤课次计 {format_hours(cert.hours)} 学时。",
            "criteria": {"narrative": "出勤达到项目规定比例的课次（现场扫码签到或主办方补录）。"},
            "creditsAvailable": float(cert.hours),
            "fieldOfStudy": cert.category_source_label,
        }
    return {
        "id": f"{base_url()}/courses/{cert.course_code}",
        "type": ["Achievement"],
        "achievementType": "Course",
        "humanCode": cert.course_code,
        "name": cert.title,
        "description": f"{cert.category_source_label}科目课程，{format_hours(cert.hours)} 学时。",
        "criteria": {"narrative": "完成全部课时（服务器核验的有效学习时间）并通过结业测验（如有）。"},
        "creditsAvailable": float(cert.hours),
        "fieldOfStudy": cert.category_source_label,
    }


def open_badge(cert, id_number: str) -> dict:
    """The unsigned OpenBadgeCredential of a course certificate."""
    subject = {
        "type": ["AchievementSubject"],
        "identifier": [identity_object(id_number)],
        "achievement": achievement(cert),
        "creditsEarned": float(cert.hours),
        "term": f"{cert.credit_year}年度",
    }
    if cert.completed_on:
        subject["activityEndDate"] = cert.completed_on.isoformat() + "T00:00:00+08:00"
    if cert.exam_score is not None:
        subject["result"] = [{"type": ["Result"], "value": str(cert.exam_score)}]
        subject["achievement"]["resultDescription"] = [{
            "id": f"{base_url()}/courses/{cert.course_code}#exam", "type": ["ResultDescription"],
            "name": "结业测验成绩（分）", "resultType": "ScaledScore", "valueMin": "0", "valueMax": "100"}]
    return {
        "@context": [VC_CONTEXT, OB_CONTEXT],
        "id": f"{base_url()}/credentials/{cert.number}",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": f"{'研修培训结业证明' if cert.kind == 'programme' else '课程学时证明'} {cert.number}",
        "issuer": issuer_profile(),
        "validFrom": iso_utc(cert.issued_at),
        "credentialSubject": subject,
        "credentialStatus": status_entry(cert),
    }


def clr(user, id_number: str, certificates: list, *, issued_at: datetime, name: str | None = None) -> dict:
    """A ClrCredential bundling the OpenBadgeCredentials of the given certificates (courses, programmes)."""
    badges = [open_badge(c, id_number) for c in certificates]
    return {
        "@context": [VC_CONTEXT, CLR_CONTEXT, OB_CONTEXT],
        "id": f"{base_url()}/credentials/clr/{user.id}/{int(issued_at.timestamp())}",
        "type": ["VerifiableCredential", "ClrCredential"],
        "name": name or "继续教育学时档案",
        "issuer": issuer_profile(),
        "validFrom": iso_utc(issued_at),
        "credentialSubject": {
            "type": ["ClrSubject"],
            "identifier": [identity_object(id_number)],
            "achievement": [b["credentialSubject"]["achievement"] for b in badges],
            "verifiableCredential": badges,
        },
    }


def sign_credential(credential: dict, issued_at: datetime) -> str:
    aware = issued_at if issued_at.tzinfo else issued_at.replace(tzinfo=UTC)
    claims = {**credential, "iss": credential["issuer"]["id"], "jti": credential["id"],
              "nbf": int(aware.timestamp()), "iat": int(aware.timestamp())}
    return signing.sign(claims, typ="vc+jwt")
