"""Personal data at rest: ID numbers encrypted (Fernet) with a keyed hash (HMAC-SHA256) for lookup.

Both keys are derived from LMS_DATA_KEY with HKDF, one per purpose.
"""

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


def _derive(purpose: bytes) -> bytes:
    secret = current_app.config["LMS_DATA_KEY"].encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"gongxu-lms", info=purpose).derive(secret)


def _fernet() -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_derive(b"personal-data-encryption")))


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def lookup_hash(value: str) -> str:
    return hmac.new(_derive(b"id-number-lookup"), value.encode(), hashlib.sha256).hexdigest()
