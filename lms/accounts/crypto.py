"""Personal data at rest: ID numbers encrypted (Fernet) with a keyed hash (HMAC-SHA256) for lookup.

Both keys are derived from LMS_DATA_KEY with HKDF, one per purpose (lms/core/keys.py).
"""

from ..core.keys import fernet, keyed_hash


def encrypt(value: str) -> str:
    return fernet(b"personal-data-encryption").encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    return fernet(b"personal-data-encryption").decrypt(token.encode()).decode()


def lookup_hash(value: str) -> str:
    return keyed_hash(b"id-number-lookup", value)
