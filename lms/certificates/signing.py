"""Signing keys for credentials: Ed25519, one active key, older keys still published.

Keys live in ``LMS_SIGNING_KEY_DIR`` (default ``<instance>/signing-keys``) as ``<kid>.pem`` (PKCS#8,
mode 0600); the file ``active`` names the key that signs. The key id is the key's RFC 7638 JWK
thumbprint. On one machine, when the folder is empty a key is generated on first use; in
production a node never makes its own (another node would sign with a key of its own): the folder
is shared by every node, its first key made with ``flask credentials rotate-key``, and a node
without it refuses to start (:func:`lms.ready_to_serve`). ``flask credentials rotate-key`` adds a
new key and makes it active, keeping the old ones in the JWKS so credentials
signed earlier still verify. To retire a key for good, delete its file.

Tokens are JWS compact serialisations with ``alg: EdDSA`` (RFC 8037), signed with PyJWT.
"""

import base64
import hashlib
import json
import os
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import current_app

from ..config import is_production

ALGORITHM = "EdDSA"


def key_dir() -> Path:
    path = Path(current_app.config["LMS_SIGNING_KEY_DIR"])
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(private_key: Ed25519PrivateKey) -> dict:
    raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"crv": "Ed25519", "kty": "OKP", "x": _b64(raw)}


def thumbprint(jwk: dict) -> str:
    """RFC 7638: SHA-256 over the required members, sorted, without whitespace."""
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x")}, separators=(",", ":"), sort_keys=True)
    return _b64(hashlib.sha256(canonical.encode()).digest())


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def generate_key() -> str:
    """A new Ed25519 key, made active; returns its key id."""
    private_key = Ed25519PrivateKey.generate()
    kid = thumbprint(public_jwk(private_key))
    folder = key_dir()
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    _write_private(folder / f"{kid}.pem", pem)
    tmp = folder / f".active.{os.getpid()}"
    tmp.write_text(kid + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, folder / "active")
    return kid


def _load(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path.name} is not an Ed25519 key")
    return key


def all_keys() -> dict[str, Ed25519PrivateKey]:
    keys = {}
    for path in sorted(key_dir().glob("*.pem")):
        key = _load(path)
        keys[thumbprint(public_jwk(key))] = key
    return keys


def _active_kid() -> str | None:
    folder = key_dir()
    marker = folder / "active"
    kid = marker.read_text().strip() if marker.exists() else ""
    return kid if kid and (folder / f"{kid}.pem").exists() else None


def missing_key_message() -> str | None:
    """Why this production node cannot sign (no active key in the shared folder), or None."""
    if _active_kid() or not is_production(current_app.config):
        return None
    return (f"LMS_SIGNING_KEY_DIR ({current_app.config['LMS_SIGNING_KEY_DIR']}) holds no active signing key. In "
            f"production every node signs with the same keys and never makes its own: point LMS_SIGNING_KEY_DIR "
            f"at the folder the nodes share and run `flask credentials rotate-key` once to make the first key.")


def active_key() -> tuple[str, Ed25519PrivateKey]:
    kid = _active_kid()
    if kid is None:
        problem = missing_key_message()
        if problem:
            raise RuntimeError(problem)
        kid = generate_key()
    return kid, _load(key_dir() / f"{kid}.pem")


def jwks() -> dict:
    """The public keys, as a JWK Set (RFC 7517), active key first."""
    active_kid, _ = active_key()
    keys = all_keys()
    ordered = sorted(keys, key=lambda kid: kid != active_kid)
    return {"keys": [{**public_jwk(keys[kid]), "kid": kid, "use": "sig", "alg": ALGORITHM} for kid in ordered]}


def sign(claims: dict, *, typ: str = "JWT") -> str:
    kid, key = active_key()
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid, "typ": typ})


def sign_with(kid: str, claims: dict, *, typ: str) -> str:
    """``claims`` signed with the key ``kid`` (active or not): a key rollover is announced signed by
    the old key, so that whoever trusted it may trust the new one (lms/federation)."""
    key = all_keys().get(kid)
    if key is None:
        raise KeyError(kid)
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid, "typ": typ})
