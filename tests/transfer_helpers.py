"""Another instance, as far as credit transfers see it: an issuer with its own Ed25519 key that signs
OB 3.0 credentials (shaped as lms/certificates/credentials.py makes them) and a Bitstring Status List,
and answers the receiving instance's fetches (``fetch``, patched in place of
``lms.federation.remote.fetch_bytes``)."""

import base64
import gzip
import hashlib
import json

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lms.certificates.signing import public_jwk, thumbprint
from lms.federation import remote

LIST_SIZE = 131_072


class FakeIssuer:
    def __init__(self, base: str = "https://a.example.gov.cn", name: str = "甲省继续教育平台"):
        self.base, self.name = base, name
        self.keys = []
        self.published = []  # kids in the JWKS
        self.revoked: set[int] = set()
        self.status_down = False
        self.fetched: list[str] = []
        self.status_key_index = -1  # which key signs the status list
        self.new_key()

    @property
    def issuer_id(self) -> str:
        return self.base + "/"

    def new_key(self, publish: bool = True) -> str:
        key = Ed25519PrivateKey.generate()
        kid = thumbprint(public_jwk(key))
        self.keys.append((kid, key))
        if publish:
            self.published.append(kid)
        return kid

    def jwks(self) -> dict:
        return {"keys": [{**public_jwk(key), "kid": kid, "use": "sig", "alg": "EdDSA"}
                         for kid, key in self.keys if kid in self.published]}

    def sign(self, claims: dict, key_index: int = -1) -> str:
        kid, key = self.keys[key_index]
        payload = {**claims, "iss": claims["issuer"]["id"], "jti": claims["id"], "nbf": 1767225600, "iat": 1767225600}
        return jwt.encode(payload, key, algorithm="EdDSA", headers={"kid": kid, "typ": "vc+jwt"})

    def list_url(self) -> str:
        return f"{self.base}/credentials/status/0"

    def badge(self, id_number: str, number: str, *, code: str = "GX-A-001", hours: float = 2.0,
              category: str = "公需", day: str = "2026-03-10", index: int = 1, title: str | None = None,
              salt: str = "5a" * 16, **extra) -> dict:
        digest = hashlib.sha256((id_number + salt).encode()).hexdigest()
        subject = {
            "type": ["AchievementSubject"],
            "identifier": [{"type": "IdentityObject", "identityHash": f"sha256${digest}",
                            "identityType": "nationalIdentityNumber", "hashed": True, "salt": salt}],
            "achievement": {"id": f"{self.base}/courses/{code}", "type": ["Achievement"], "achievementType": "Course",
                            "humanCode": code, "name": title or f"课程 {code}", "fieldOfStudy": category,
                            "creditsAvailable": hours, "criteria": {"narrative": "完成全部课时"}},
            "creditsEarned": hours, "term": "2026年度", "activityEndDate": f"{day}T00:00:00+08:00"}
        return {"@context": ["https://www.w3.org/ns/credentials/v2",
                             "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"],
                "id": f"{self.base}/credentials/{number}", "type": ["VerifiableCredential", "OpenBadgeCredential"],
                "name": f"课程学时证明 {number}", "issuer": {"id": self.issuer_id, "type": ["Profile"], "name": self.name},
                "validFrom": "2026-03-10T02:00:00Z", "credentialSubject": subject,
                "credentialStatus": {"id": f"{self.list_url()}#{index}", "type": "BitstringStatusListEntry",
                                     "statusPurpose": "revocation", "statusListIndex": str(index),
                                     "statusListCredential": self.list_url()}, **extra}

    def clr(self, id_number: str, badges: list[dict]) -> dict:
        return {"@context": ["https://www.w3.org/ns/credentials/v2"], "id": f"{self.base}/credentials/clr/1/1",
                "type": ["VerifiableCredential", "ClrCredential"], "name": "继续教育学时档案",
                "issuer": {"id": self.issuer_id, "type": ["Profile"], "name": self.name},
                "validFrom": "2026-03-10T02:00:00Z",
                "credentialSubject": {"type": ["ClrSubject"], "verifiableCredential": badges,
                                      "achievement": [b["credentialSubject"]["achievement"] for b in badges]}}

    def status_list(self) -> str:
        bits = bytearray(LIST_SIZE // 8)
        for index in self.revoked:
            bits[index // 8] |= 0x80 >> (index % 8)
        encoded = "u" + base64.urlsafe_b64encode(gzip.compress(bytes(bits), mtime=0)).rstrip(b"=").decode()
        return self.sign({"@context": ["https://www.w3.org/ns/credentials/v2"], "id": self.list_url(),
                          "type": ["VerifiableCredential", "BitstringStatusListCredential"],
                          "issuer": {"id": self.issuer_id, "type": ["Profile"], "name": self.name},
                          "validFrom": "2026-03-10T02:00:00Z",
                          "credentialSubject": {"id": self.list_url() + "#list", "type": "BitstringStatusList",
                                                "statusPurpose": "revocation", "encodedList": encoded}},
                         key_index=self.status_key_index)

    def fetch(self, url: str, origin: str) -> tuple[str, bytes]:
        """What the issuer's server answers (only on its own origin, as the real fetch insists)."""
        self.fetched.append(url)
        if remote.origin_of(url) != origin or origin != self.base:
            raise remote.FetchRefused("wrong origin")
        if url == f"{self.base}/.well-known/jwks.json":
            return url, json.dumps(self.jwks()).encode()
        if url == self.list_url():
            if self.status_down:
                raise remote.FetchFailed("连接超时")
            return url, self.status_list().encode()
        raise remote.FetchFailed("HTTP 404")


def tamper(token: str, **changes) -> str:
    """The token with its payload edited and the signature kept (what an edited file looks like)."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    subject = claims["credentialSubject"]
    for name, value in changes.items():
        subject[name] = value
    edited = base64.urlsafe_b64encode(json.dumps(claims, ensure_ascii=False).encode()).rstrip(b"=").decode()
    return ".".join((header, edited, signature))
