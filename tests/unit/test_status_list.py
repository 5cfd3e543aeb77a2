"""Revocation as a W3C Bitstring Status List that any verifier can read, and credentials in the shape of
1EdTech's published Open Badges 3.0 JSON Schema (tests/data/openbadges)."""

import base64
import gzip
import json
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest

from lms.certificates import services
from lms.credits import services as ledger
from tests.learning_helpers import course
from tests.unit.test_certificates import independent_decode

SCHEMA = json.loads((Path(__file__).parents[1] / "data" / "openbadges" /
                     "ob_v3p0_achievementcredential_schema.json").read_text(encoding="utf-8"))


@pytest.fixture
def two_certificates(ctx, db_session, make_user):
    certs = []
    for name in ("李晓明", "王芳"):
        user = make_user(real_name=name)
        record = ledger.record_course_completion(user, course(db_session), completed_at=datetime(2026, 3, 2, 1),
                                                 exam_score=90)
        certs.append(services.issue_course_certificate(record))
    db_session.commit()
    return certs


def claims(client, token: str) -> dict:
    return independent_decode(token, client.get("/.well-known/jwks.json").get_json()).claims


def bit(encoded: str, index: int) -> bool:
    """Read as the specification says, without the platform's code: multibase 'u' (base64url, no padding),
    GZIP, bit 0 the most significant bit of the first byte."""
    assert encoded[0] == "u"
    bits = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    assert len(bits) >= 16 * 1024  # the specification's minimum size, for herd privacy
    return bool(bits[index // 8] >> (7 - index % 8) & 1)


def status_of(client, credential: dict) -> bool:
    """Follow a credential's credentialStatus as a verifier would: fetch the list, check its signature, read the bit."""
    entry = credential["credentialStatus"]
    assert entry["type"] == "BitstringStatusListEntry" and entry["statusPurpose"] == "revocation"
    url = urlsplit(entry["statusListCredential"])
    answer = client.get(url.path)
    assert answer.status_code == 200 and answer.mimetype == "application/vc+jwt"
    status_list = claims(client, answer.get_data(as_text=True))
    assert "BitstringStatusListCredential" in status_list["type"] and status_list["id"] == entry["statusListCredential"]
    subject = status_list["credentialSubject"]
    assert subject["type"] == "BitstringStatusList" and subject["statusPurpose"] == "revocation"
    return bit(subject["encodedList"], int(entry["statusListIndex"]))


def test_a_revocation_sets_the_credentials_bit_and_no_other(two_certificates, client, make_user, db_session):
    first, second = two_certificates
    credentials = [claims(client, cert.credential_jwt) for cert in (first, second)]
    assert [status_of(client, c) for c in credentials] == [False, False]
    services.revoke_certificate(make_user(roles=("admin",)), first.number, reason="学习记录存在代学行为")
    db_session.commit()
    assert [status_of(client, c) for c in credentials] == [True, False]


def test_the_list_is_also_readable_as_json(two_certificates, client):
    answer = client.get("/credentials/status/0?format=json")
    assert answer.is_json and answer.get_json()["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]


def test_course_credentials_validate_against_the_published_open_badges_schema(two_certificates, client):
    validator = jsonschema.Draft201909Validator(SCHEMA)
    for cert in two_certificates:
        credential = {k: v for k, v in claims(client, cert.credential_jwt).items()
                      if k not in ("iss", "jti", "nbf", "iat")}  # the JWT's registered claims
        errors = sorted(validator.iter_errors(credential), key=lambda e: list(e.path))
        assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_the_schema_catches_a_credential_that_breaks_it(two_certificates, client):
    """The validation above can fail: the same credential without its issuer does."""
    credential = claims(client, two_certificates[0].credential_jwt)
    del credential["issuer"]
    assert list(jsonschema.Draft201909Validator(SCHEMA).iter_errors(credential))
