"""Keys derived from ``LMS_DATA_KEY`` with HKDF, one per purpose, so that no two uses of the key
share a key: personal data at rest (lms/accounts/crypto.py), recovery codes, messages waiting in
the outbox."""

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


def derive_key(purpose: bytes) -> bytes:
    secret = current_app.config["LMS_DATA_KEY"].encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"gongxu-lms", info=purpose).derive(secret)


def fernet(purpose: bytes) -> Fernet:
    """Authenticated encryption under the key of ``purpose``."""
    return Fernet(base64.urlsafe_b64encode(derive_key(purpose)))


def keyed_hash(purpose: bytes, value: str) -> str:
    """HMAC-SHA256 of ``value`` under the key of ``purpose``, in hexadecimal: without the key, a stolen
    hash of a short value (a six-digit code, a mobile number) cannot be reversed by trying them all."""
    return hmac.new(derive_key(purpose), value.encode(), hashlib.sha256).hexdigest()
