"""Revocation published as a W3C Bitstring Status List (VC Bitstring Status List v1.0), so that any
standard verifier, not only another instance of this platform, can check whether a credential was
revoked.

Each certificate has one bit, at its row id: list ``id // LIST_SIZE``, index ``id % LIST_SIZE`` (a
reissue keeps the number and so the bit). A credential names it in ``credentialStatus`` as a
``BitstringStatusListEntry`` (purpose ``revocation``). The list itself is a
``BitstringStatusListCredential`` served at ``/credentials/status/<n>`` and secured like every
credential here: a VC-JWT signed with the active Ed25519 key (``kid`` in ``/.well-known/jwks.json``).
Its ``encodedList`` is the bitstring (bit 0 the most significant bit of the first byte), GZIP
compressed, base64url without padding, with the multibase prefix ``u``. It is built from the
certificates' status when asked for, so a revocation shows at once (caches: 60 s).

Indexes follow issue order, as the public certificate numbers already do; a list of 131,072 bits
(16 KB, the specification's minimum) keeps one credential's bit among many.

The per-certificate JSON status document (``/credentials/<number>/status``, with the reason and the
time of a revocation) stays, for people and for this platform's own verification page.
"""

import base64
import gzip

from sqlalchemy import select

from ..core.clock import iso_utc, utcnow_naive
from ..extensions import db
from . import credentials
from .credentials import LIST_SIZE, STATUS_PURPOSE, list_url
from .models import Certificate, CertificateStatus


def encoded_list(list_number: int) -> str:
    """The list's bits (set: revoked), compressed and encoded as the specification says."""
    first = list_number * LIST_SIZE
    revoked = db.session.scalars(select(Certificate.id).where(
        Certificate.status == CertificateStatus.REVOKED, Certificate.id >= first, Certificate.id < first + LIST_SIZE))
    bits = bytearray(LIST_SIZE // 8)
    for cert_id in revoked:
        index = cert_id - first
        bits[index // 8] |= 0x80 >> (index % 8)
    packed = gzip.compress(bytes(bits), mtime=0)
    return "u" + base64.urlsafe_b64encode(packed).rstrip(b"=").decode()


def list_credential(list_number: int) -> dict:
    """The unsigned BitstringStatusListCredential of list ``list_number``."""
    url = list_url(list_number)
    return {
        "@context": [credentials.VC_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": credentials.issuer_profile(),
        "validFrom": iso_utc(utcnow_naive()),
        "credentialSubject": {"id": f"{url}#list", "type": "BitstringStatusList", "statusPurpose": STATUS_PURPOSE,
                              "encodedList": encoded_list(list_number)},
    }


def signed_list(list_number: int) -> tuple[dict, str]:
    """(the list credential, its VC-JWT)."""
    document = list_credential(list_number)
    return document, credentials.sign_credential(document, utcnow_naive())


def is_set(encoded: str, index: int) -> bool:
    """Read bit ``index`` of an ``encodedList`` (for verifiers in this code and the tests)."""
    if not encoded.startswith("u"):
        raise ValueError("an encodedList is multibase base64url: it starts with 'u'")
    raw = encoded[1:]
    bits = gzip.decompress(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    return bool(bits[index // 8] & (0x80 >> (index % 8)))
