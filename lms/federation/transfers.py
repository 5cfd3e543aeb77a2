"""Credit portability: credentials earned on another instance, accepted here after verification.

Three parts:

- The trust list of issuers (:func:`add_issuer`, admin page and ``flask federation trust-issuer``):
  the issuer id a credential carries (``issuer.id``), a name, and the keys — pinned from the
  issuer's JWKS URL (on the issuer's own origin; fetched again when a credential names a key not
  pinned yet, which is how a rollover arrives) or pasted by the admin as a JWK Set (pinned for good).
- On the issuer's side, consent links (:func:`create_consent_link`): a learner lets another
  instance read one credential through a short-lived, revocable link; nothing else is served, since
  a salted hash of an 18-digit ID number can be brute-forced and every credential is personal data.
- On the receiving side, :func:`present_credential` (an uploaded OB 3.0 VC-JWT or CLR 2.0 bundle,
  or a consent link read from a trusted issuer's origin). A credential is accepted only when all of
  these hold, each refused with its own reason (:class:`TransferRefused` ``reason``) and nothing
  recorded otherwise: the issuer is on the trust list (``unknown_issuer``); it is signed by one of
  that issuer's keys (``unknown_key``) and the signature matches the content (``tampered``); it has
  not expired (``expired``) and is valid already (``not_yet_valid``); its Bitstring Status List entry, read from the issuer and signed by it,
  is not set (``revoked``; ``status_unavailable`` when it cannot be read now); the salted hash of the
  presenting learner's own ID number equals the credential's (``other_person``); the credential was
  not transferred before (``duplicate``), and its course is not credited here already — by a
  transfer of the same course, a local record of the same course code, or a local course imported
  from that issuer's feed with that original code (``already_credited``).

An accepted credential is one :class:`CreditTransfer` and one ledger entry of origin
``transferred`` (:func:`lms.credits.services.record_activity`), dated on the day the course was
completed, so it counts toward this instance's rule set like local hours and every reader of the
ledger shows its origin. :func:`recheck_transfers` (periodic) reads each issuer's status list again:
a credential revoked there later voids the entry here (a revocation entry with the reason), and a
local completion of the same course that the transfer had left at 0 h is corrected to count. The
network is always read before any lock is taken (see "verifying a credential" below).
"""

import base64
import hashlib
import json
import logging
import secrets
import zlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal, InvalidOperation

import jwt
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from ..accounts import crypto
from ..accounts.models import Role
from ..catalog.models import Category
from ..certificates import numbers
from ..certificates.models import Certificate, CertificateKind
from ..certificates.signing import ALGORITHM
from ..core.audit import record_event
from ..core.clock import local_date, utcnow_naive
from ..core.errors import Conflict, DomainError, InvalidInput, NotAllowed, NotFound
from ..credits import services as ledger
from ..credits.models import CreditOrigin, CreditRecord
from ..extensions import db
from . import remote
from .models import ConsentLink, CourseOrigin, CreditTransfer, TransferStatus, TrustedIssuer
from .subscriptions import CLOCK_LEEWAY_SECONDS, _ed25519_keys, fingerprint_groups

log = logging.getLogger(__name__)

SOURCE_TYPE = "credit_transfer"
MAX_CREDENTIAL_BYTES = 512 * 1024
# Courses one CLR bundle may carry: a year's transcript is a few dozen; more is refused before any
# of them is checked (each would otherwise cost a ledger check).
MAX_BUNDLE_COURSES = 100
TOKEN_PREFIX = "gxc_"


class TransferRefused(DomainError):
    """A credential refused, with the reason the learner sees (``reason``: a short name)."""

    status = 422
    code = "transfer_refused"

    def __init__(self, reason: str, message: str):
        super().__init__(message, reason=reason)


def require_admin(actor) -> None:
    if actor is None or not actor.has_role(Role.ADMIN):
        raise NotAllowed(_("只有平台管理员可以管理信任的发证平台。"))


# ---------------------------------------------------------------- the trust list of issuers

def normalize_issuer_id(value: str) -> str:
    """An issuer id as compared: trimmed, scheme and host lower-cased, one trailing slash."""
    value = (value or "").strip()
    origin = remote.origin_of(value) if "://" in value else ""
    if not origin:
        return value
    path = value.split("://", 1)[1]
    path = path[path.find("/"):] if "/" in path else "/"
    return origin + (path if path.endswith("/") else path + "/")


def _check_issuer_url(value: str, field: str) -> str:
    try:
        return remote.check_feed_url(value)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field=field) from None


def issuers(include_removed: bool = False) -> list[TrustedIssuer]:
    query = select(TrustedIssuer).order_by(TrustedIssuer.name, TrustedIssuer.id)
    if not include_removed:
        query = query.where(TrustedIssuer.removed_at.is_(None))
    return list(db.session.scalars(query))


def get_issuer(actor, issuer_id: int) -> TrustedIssuer:
    require_admin(actor)
    issuer = db.session.get(TrustedIssuer, issuer_id)
    if issuer is None:
        raise NotFound(_("没有找到这个发证平台。"))
    return issuer


def _fetch_keys(jwks_url: str, origin: str) -> dict[str, dict]:
    try:
        _final, document = remote.fetch_json(jwks_url, origin)
    except (remote.FetchRefused, remote.FetchFailed) as exc:
        raise InvalidInput(_("无法读取发证平台的公钥：%(reason)s", reason=exc.message), field="jwks_url") from None
    keys = _ed25519_keys(document)
    if not keys:
        raise InvalidInput(_("发证平台没有公布可用的 Ed25519 签名密钥（%(url)s）。", url=jwks_url[:200]), field="jwks_url")
    return keys


@dataclass(frozen=True)
class IssuerKeys:
    """An issuer's key set as read from its JWKS URL (before anything is written)."""

    issuer_url: str
    jwks_url: str
    keys: dict


def _issuer_url(issuer_id: str) -> str:
    if not (issuer_id or "").strip():
        raise InvalidInput(_("请填写发证平台的标识（其凭证中 issuer.id 的网址，例如 https://a.example.gov.cn/）。"),
                           field="issuer_id")
    return normalize_issuer_id(_check_issuer_url(issuer_id, "issuer_id"))


def read_issuer_keys(actor, issuer_id: str, jwks_url: str | None = None) -> IssuerKeys:
    """Read the key set of an issuer to be trusted from its JWKS URL (default:
    ``/.well-known/jwks.json`` of the issuer's origin, never another origin). Network only: the page
    calls it holding no lock, then :func:`add_issuer` with what it read."""
    require_admin(actor)
    issuer_url = _issuer_url(issuer_id)
    origin = remote.origin_of(issuer_url)
    jwks_url = _check_issuer_url((jwks_url or "").strip() or origin + "/.well-known/jwks.json", "jwks_url")
    if remote.origin_of(jwks_url) != origin:
        raise InvalidInput(_("公钥地址必须与发证平台在同一站点（%(origin)s）。", origin=origin), field="jwks_url")
    return IssuerKeys(issuer_url=issuer_url, jwks_url=jwks_url, keys=_fetch_keys(jwks_url, origin))


def add_issuer(actor, issuer_id: str, name: str, *, jwks_url: str | None = None,
               keys_json: str | None = None, read: IssuerKeys | None = None) -> TrustedIssuer:
    """Trust an issuer: its keys pinned now, from its JWKS URL (default: ``/.well-known/jwks.json`` of
    the issuer's origin; ``read``: as :func:`read_issuer_keys` read it already) or from a JWK Set the
    admin pasted."""
    require_admin(actor)
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise InvalidInput(_("请填写发证平台的名称（不超过 120 个字）。"), field="name")
    issuer_url = _issuer_url(issuer_id)
    if db.session.scalar(select(TrustedIssuer.id).where(TrustedIssuer.issuer_id == issuer_url,
                                                       TrustedIssuer.removed_at.is_(None))):
        raise Conflict(_("发证平台 %(issuer)s 已在信任列表中。", issuer=issuer_url), field="issuer_id")
    keys_json = (keys_json or "").strip()
    if keys_json:
        try:
            document = json.loads(keys_json)
        except ValueError:
            raise InvalidInput(_("公钥应为 JSON 格式的 JWK Set（{\"keys\": [...]}）。"), field="keys") from None
        keys = _ed25519_keys(document if isinstance(document, dict) else {})
        if not keys:
            raise InvalidInput(_("粘贴的公钥中没有可用的 Ed25519 密钥（kid 须为密钥的 RFC 7638 指纹）。"), field="keys")
        jwks_url = None
    else:
        if read is None or read.issuer_url != issuer_url:
            read = read_issuer_keys(actor, issuer_id, jwks_url)
        jwks_url, keys = read.jwks_url, read.keys
    issuer = TrustedIssuer(issuer_id=issuer_url, name=name, jwks_url=jwks_url, pinned_keys=keys,
                           keys_fetched_at=utcnow_naive(), created_by_id=actor.id)
    db.session.add(issuer)
    db.session.flush()
    record_event(actor, "federation.issuer_trusted", issuer, issuer_id=issuer_url, name=name, jwks_url=jwks_url,
                 keys=sorted(keys))
    return issuer


def remove_issuer(actor, issuer_id: int) -> TrustedIssuer:
    """Stop accepting an issuer's credentials; what was transferred from it stays."""
    issuer = get_issuer(actor, issuer_id)
    if not issuer.active:
        raise Conflict(_("该发证平台已移出信任列表。"))
    issuer.removed_at = utcnow_naive()
    issuer.removed_by_id = actor.id
    db.session.flush()
    record_event(actor, "federation.issuer_removed", issuer, issuer_id=issuer.issuer_id)
    return issuer


def read_refreshed_keys(actor, issuer_id: int) -> dict:
    """Read a trusted issuer's JWKS again (network; writes nothing): for :func:`refresh_issuer_keys`."""
    issuer = get_issuer(actor, issuer_id)
    if not issuer.jwks_url:
        raise Conflict(_("该发证平台的公钥由管理员直接粘贴，没有公钥地址可以刷新。"))
    return _fetch_keys(issuer.jwks_url, remote.origin_of(issuer.issuer_id))


def refresh_issuer_keys(actor, issuer_id: int, *, read: dict | None = None) -> TrustedIssuer:
    """Read the issuer's JWKS again (keys already pinned stay pinned; ``read``: as
    :func:`read_refreshed_keys` read it already)."""
    issuer = get_issuer(actor, issuer_id)
    if read is None:
        read = read_refreshed_keys(actor, issuer_id)
    added = _add_keys(issuer, read)
    record_event(actor, "federation.issuer_keys_refreshed", issuer, added=added)
    return issuer


def _add_keys(issuer: TrustedIssuer, keys: dict) -> list[str]:
    added = sorted(set(keys) - set(issuer.pinned_keys))
    issuer.pinned_keys = {**issuer.pinned_keys, **keys}
    issuer.keys_fetched_at = utcnow_naive()
    db.session.flush()
    return added


def key_fingerprints(issuer: TrustedIssuer) -> list[str]:
    return [fingerprint_groups(kid) for kid in sorted(issuer.pinned_keys)]


# ---------------------------------------------------------------- verifying a credential
#
# A presentation is checked in two steps. :func:`verify_presentation` reads the issuer's documents
# (keys, status lists) over the network and writes nothing: no lock of the ledger, nor SQLite's
# single write lock, is held while a slow or unreachable issuer answers. :func:`accept_presentation`
# then takes the ledger's lock, reads again what may have changed meanwhile (the credential
# transferred by a request that ran at the same time, the course credited since) and records.

@dataclass(frozen=True)
class CourseCredential:
    """What one verified OpenBadgeCredential says."""

    credential_id: str
    number: str
    course_code: str
    title: str
    category: str
    hours: Decimal
    term: str
    completed_on: date
    identifiers: list
    status_list_url: str | None
    status_index: int | None


@dataclass
class Presentation:
    """A presentation verified at the issuer and not recorded yet: the issuer (by row id), the courses
    its credential certifies, and the keys its key set named that are not pinned yet (a rollover)."""

    issuer_id: int
    token: str
    courses: list[CourseCredential]
    new_keys: dict = field(default_factory=dict)


def _refuse(reason: str, message: str) -> TransferRefused:
    return TransferRefused(reason, message)


def _types(document: dict) -> list[str]:
    """A credential's ``type``: a list of names (one name alone is a list of one; anything else none)."""
    value = document.get("type")
    if isinstance(value, str):
        return [value]
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _issuer_for(claims: dict) -> TrustedIssuer:
    issuer = claims.get("issuer")
    issuer_url = issuer.get("id") if isinstance(issuer, dict) else issuer
    if not isinstance(issuer_url, str) or not issuer_url:
        raise _refuse("format", _("凭证没有写明发证平台（issuer），无法核验，未转入。"))
    if claims.get("iss") not in (None, issuer_url):
        raise _refuse("tampered", _("凭证的签发方与其内容不一致，未转入。"))
    found = db.session.scalar(select(TrustedIssuer).where(TrustedIssuer.issuer_id == normalize_issuer_id(issuer_url),
                                                         TrustedIssuer.removed_at.is_(None)))
    if found is None:
        raise _refuse("unknown_issuer", _("发证平台 %(issuer)s 不在本平台信任的发证平台列表中，未转入。请联系本平台管理员。",
                                          issuer=issuer_url[:200]))
    return found


def _expected_issuer(claims: dict, expected: TrustedIssuer) -> TrustedIssuer:
    issuer = claims.get("issuer")
    issuer_url = issuer.get("id") if isinstance(issuer, dict) else issuer
    if not isinstance(issuer_url, str) or normalize_issuer_id(issuer_url) != expected.issuer_id \
            or claims.get("iss") not in (None, issuer_url):
        raise _refuse("tampered", _("凭证的签发方与其内容不一致，未转入。"))
    return expected


def _not_a_credential() -> TransferRefused:
    return _refuse("format", _("上传的不是有效的学时凭证（应为 Open Badges 3.0 凭证或 CLR 学时档案的 .jwt 文件），未转入。"))


def _verified(token: str, *, typ: str | None = "vc+jwt", new_keys: dict | None = None,
              expected: TrustedIssuer | None = None) -> tuple[TrustedIssuer, dict]:
    """(issuer, claims) of a VC-JWT signed by a trusted issuer's key; TransferRefused otherwise. A key
    the issuer's key set names but this instance has not pinned yet is read from the issuer's origin
    into ``new_keys`` (kid → JWK; pinned when the presentation is recorded), never written here.
    ``expected``: the document must be that issuer's, trusted still or removed since (a status list
    read to re-check what it issued: a revocation is believed from an issuer no longer trusted)."""
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except (jwt.exceptions.PyJWTError, RecursionError, ValueError, TypeError):
        # RecursionError: JSON nested too deeply to read is no credential either.
        raise _not_a_credential() from None
    if not isinstance(unverified, dict):
        raise _refuse("format", _("上传的不是有效的学时凭证，未转入。"))
    issuer = _issuer_for(unverified) if expected is None else _expected_issuer(unverified, expected)
    if header.get("alg") != ALGORITHM or (typ and header.get("typ") != typ):
        raise _refuse("tampered", _("凭证的签名算法或类型不符（应为 EdDSA 签名的 vc+jwt），未转入。"))
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise _refuse("unknown_key", _("凭证没有注明签名密钥（kid），无法核验，未转入。"))
    learned = new_keys if new_keys is not None else {}
    jwk = issuer.pinned_keys.get(kid) or learned.get(kid)
    if jwk is None and issuer.jwks_url:
        try:  # a rollover at the issuer: its key set, from its own origin, names the new key
            learned.update({k: v for k, v in _fetch_keys(issuer.jwks_url, remote.origin_of(issuer.issuer_id)).items()
                            if k not in issuer.pinned_keys})
        except InvalidInput as exc:
            raise _refuse("status_unavailable", exc.message) from None
        jwk = learned.get(kid)
    if jwk is None:
        raise _refuse("unknown_key", _("凭证的签名密钥 %(kid)s 不是 %(issuer)s 公布的密钥，未转入。",
                                       kid=kid[:64], issuer=issuer.name))
    try:
        key = jwt.PyJWK({**jwk, "alg": ALGORITHM}).key
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], leeway=CLOCK_LEEWAY_SECONDS,
                            options={"verify_aud": False})
    except jwt.exceptions.InvalidSignatureError:
        raise _refuse("tampered", _("凭证的签名与内容不符（凭证被改动过），未转入。")) from None
    except jwt.exceptions.ExpiredSignatureError:
        raise _refuse("expired", _("凭证已过有效期，未转入。")) from None
    except jwt.exceptions.PyJWTError as exc:
        raise _refuse("tampered", _("凭证的签名无法验证（%(error)s），未转入。", error=exc.__class__.__name__)) from None
    _check_valid_until(claims)
    return issuer, claims


def _check_valid_from(claims: dict) -> None:
    """A credential (or a bundled one) whose ``validFrom`` is still ahead is not valid yet."""
    valid_from = claims.get("validFrom")
    if valid_from is None:
        return
    try:
        since = datetime.fromisoformat(str(valid_from).replace("Z", "+00:00"))
    except ValueError:
        raise _refuse("format", _("凭证的生效时间（validFrom）格式不正确，未转入。")) from None
    now = utcnow_naive().replace(tzinfo=UTC) + timedelta(seconds=CLOCK_LEEWAY_SECONDS)
    if (since if since.tzinfo else since.replace(tzinfo=UTC)) > now:
        raise _refuse("not_yet_valid", _("凭证自 %(date)s 起才生效，现在不能转入。", date=str(valid_from)[:10]))


def _check_valid_until(claims: dict) -> None:
    valid_until = claims.get("validUntil")
    if valid_until is None:
        return
    try:
        until = datetime.fromisoformat(str(valid_until).replace("Z", "+00:00"))
    except ValueError:
        raise _refuse("format", _("凭证的有效期（validUntil）格式不正确，未转入。")) from None
    if (until if until.tzinfo else until.replace(tzinfo=UTC)) < utcnow_naive().replace(tzinfo=UTC):
        raise _refuse("expired", _("凭证已于 %(date)s 过期，未转入。", date=str(valid_until)[:10]))


_CATEGORIES = {c.source_label: c.value for c in Category} | {c.value: c.value for c in Category}


def _hours(value) -> Decimal | None:
    """``creditsEarned`` as hours: a finite number (or a number written as text), to one decimal,
    rounded down (rounding never creates credit); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        hours = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    if not hours.is_finite() or abs(hours) > 1000:
        return None
    return hours.quantize(Decimal("0.1"), rounding=ROUND_FLOOR)


def _course(badge: dict) -> CourseCredential:
    """The facts of one OpenBadgeCredential (already covered by a verified signature)."""
    subject = badge.get("credentialSubject") if isinstance(badge.get("credentialSubject"), dict) else {}
    achievement = subject.get("achievement") if isinstance(subject.get("achievement"), dict) else {}
    if "OpenBadgeCredential" not in _types(badge) or not achievement:
        raise _refuse("format", _("凭证不是课程学时凭证（OpenBadgeCredential），未转入。"))
    _check_valid_from(badge)  # a credential in a bundle has its own validity
    _check_valid_until(badge)
    credential_id = badge.get("id")
    code = achievement.get("humanCode")
    title = achievement.get("name")
    category = _CATEGORIES.get(str(achievement.get("fieldOfStudy") or ""))
    hours = _hours(subject.get("creditsEarned"))
    end = str(subject.get("activityEndDate") or badge.get("validFrom") or "")
    try:
        completed_on = datetime.fromisoformat(end.replace("Z", "+00:00")).date()
    except ValueError:
        completed_on = None
    if completed_on and completed_on > local_date(utcnow_naive()) + timedelta(days=1):
        raise _refuse("format", _("凭证的完成日期 %(date)s 晚于今天，未转入。", date=completed_on.isoformat()))
    if not (isinstance(credential_id, str) and credential_id and isinstance(code, str) and code.strip()
            and isinstance(title, str) and category and hours is not None and Decimal(0) < hours <= Decimal(99)
            and completed_on):
        raise _refuse("format", _("凭证缺少课程编号、名称、类别、学时或完成日期，无法转入。"))
    status = badge.get("credentialStatus") if isinstance(badge.get("credentialStatus"), dict) else {}
    list_url, index = None, None
    if status:
        if status.get("type") != "BitstringStatusListEntry" or status.get("statusPurpose") != "revocation":
            raise _refuse("format", _("凭证的吊销状态（credentialStatus）不是本平台能核验的类型，未转入。"))
        list_url = status.get("statusListCredential")
        raw_index = status.get("statusListIndex")
        index = int(raw_index) if isinstance(raw_index, str) and raw_index.isascii() and raw_index.isdigit() \
            and len(raw_index) < 10 else raw_index if isinstance(raw_index, int) and not isinstance(raw_index, bool) \
            else None
        if not isinstance(list_url, str) or index is None or not 0 <= index < 2**31:
            raise _refuse("format", _("凭证的吊销状态（credentialStatus）不完整，未转入。"))
    identifiers = subject.get("identifier") if isinstance(subject.get("identifier"), list) else []
    return CourseCredential(credential_id=credential_id[:255], number=credential_id.rstrip("/").rsplit("/", 1)[-1][:64],
                            course_code=code.strip()[:64], title=title[:160], category=category, hours=hours,
                            term=str(subject.get("term") or "")[:32], completed_on=completed_on,
                            identifiers=identifiers, status_list_url=list_url, status_index=index)


def _id_spellings(id_number: str) -> list[str]:
    """The learner's own ID number as issuers may have hashed it: as stored (upper-case check
    character X), and with a lower-case x. Only ever spellings of this learner's number."""
    spellings = [id_number]
    if id_number.endswith("X"):
        spellings.append(id_number[:-1] + "x")
    return spellings


def names_learner(identifiers: list, id_number: str) -> bool:
    """Whether one of the credential's salted ``IdentityObject`` hashes is this ID number's."""
    for item in identifiers:
        if not isinstance(item, dict) or item.get("identityType") != "nationalIdentityNumber":
            continue
        salt, stated = item.get("salt"), str(item.get("identityHash") or "")
        if isinstance(salt, str) and stated.startswith("sha256$"):
            for spelling in _id_spellings(id_number):
                digest = hashlib.sha256((spelling + salt).encode()).hexdigest()
                if secrets.compare_digest(digest, stated[len("sha256$"):].lower()):
                    return True
    return False


def _bit(encoded: str, index: int) -> bool:
    """Bit ``index`` of a Bitstring Status List's ``encodedList`` (multibase base64url of GZIP),
    inflating no further than the byte that holds it (a list is small compressed, not inflated)."""
    if not encoded.startswith("u"):
        raise ValueError("an encodedList is multibase base64url: it starts with 'u'")
    raw = encoded[1:]
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    bits = inflate.decompress(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)), index // 8 + 1)
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def is_revoked(issuer: TrustedIssuer, list_url: str, index: int, *, new_keys: dict | None = None,
               lists: dict | None = None) -> bool:
    """Read the issuer's Bitstring Status List (signed by one of its keys, from its origin only, the
    list the credential names). ``lists`` keeps each list read (by URL) for the next credential."""
    subject = lists.get(list_url) if lists is not None else None
    if subject is None:
        subject = _status_list(issuer, list_url, new_keys)
        if lists is not None:
            lists[list_url] = subject
    try:
        return _bit(str(subject.get("encodedList") or ""), index)
    except (ValueError, OSError, IndexError, EOFError, zlib.error):
        raise _refuse("status_unavailable", _("发证平台的吊销状态列表无法读取，未转入。")) from None


def _status_list(issuer: TrustedIssuer, list_url: str, new_keys: dict | None) -> dict:
    origin = remote.origin_of(issuer.issuer_id)
    try:
        if remote.origin_of(list_url) != origin:
            raise remote.FetchRefused(_("状态列表不在发证平台的站点上。"))
        _final, body = remote.fetch_bytes(list_url, origin)
        list_issuer, claims = _verified(body.decode("ascii", "replace").strip(), new_keys=new_keys, expected=issuer)
    except (remote.FetchRefused, remote.FetchFailed) as exc:
        raise _refuse("status_unavailable", _("暂时无法向发证平台核实凭证是否已吊销（%(reason)s），未转入。请稍后再试。",
                                              reason=exc.message)) from None
    except TransferRefused as exc:
        raise _refuse("status_unavailable", _("发证平台的吊销状态列表未通过核验（%(reason)s），未转入。",
                                              reason=exc.message)) from None
    subject = claims.get("credentialSubject") if isinstance(claims.get("credentialSubject"), dict) else {}
    if list_issuer.id != issuer.id or "BitstringStatusListCredential" not in _types(claims) \
            or subject.get("statusPurpose") != "revocation":
        raise _refuse("status_unavailable", _("发证平台的吊销状态列表格式不符，未转入。"))
    if claims.get("id") != list_url:  # another list of the issuer's, served at this one's address
        raise _refuse("status_unavailable", _("发证平台在 %(url)s 提供的不是该地址的吊销状态列表，未转入。", url=list_url[:200]))
    return subject


def _credited_already(user, issuer: TrustedIssuer, course: CourseCredential) -> bool:
    # A course code is the course's wherever it was certified (as a local completion of that code is):
    # the same course from a second issuer does not count again.
    if db.session.scalar(select(CreditTransfer.id).where(
            CreditTransfer.user_id == user.id, CreditTransfer.course_code == course.course_code,
            CreditTransfer.status == TransferStatus.ACCEPTED)):
        return True
    if ledger.active_record_for_course(user.id, course.course_code) is not None:
        return True
    imported = select(CourseOrigin.course_id).where(CourseOrigin.instance_url == remote.origin_of(issuer.issuer_id),
                                                    CourseOrigin.original_code == course.course_code)
    return db.session.scalar(ledger.active_query(user.id).where(CreditRecord.course_id.in_(imported))
                             .with_only_columns(CreditRecord.id).limit(1)) is not None


def _duplicate(course: CourseCredential) -> TransferRefused:
    return _refuse("duplicate", _("凭证 %(number)s 已经转入过，不能重复转入。", number=course.number))


def _already_credited(course: CourseCredential) -> TransferRefused:
    return _refuse("already_credited", _("课程 %(code)s《%(title)s》已在本平台计入学时，不能重复计入。",
                                         code=course.course_code, title=course.title))


def _accept(user, issuer: TrustedIssuer, course: CourseCredential, token: str) -> CreditTransfer:
    """Every check that needs the ledger, then the transfer and its ledger entry. The caller holds the
    ledger's lock: what is read here includes what another presentation committed before it."""
    if db.session.scalar(select(CreditTransfer.id).where(CreditTransfer.credential_id == course.credential_id)):
        raise _duplicate(course)
    if _credited_already(user, issuer, course):
        raise _already_credited(course)
    transfer = CreditTransfer(user_id=user.id, issuer_id=issuer.id, credential_id=course.credential_id,
                              original_number=course.number, course_code=course.course_code,
                              course_title=course.title, category=course.category, hours=course.hours,
                              term=course.term, completed_on=course.completed_on,
                              status_list_url=course.status_list_url, status_index=course.status_index,
                              credential_jwt=token)
    try:
        with db.session.begin_nested():
            db.session.add(transfer)
    except IntegrityError:  # the unique indexes behind the checks above (a race they lost)
        if db.session.scalar(select(CreditTransfer.id).where(CreditTransfer.credential_id == course.credential_id)):
            raise _duplicate(course) from None
        raise _already_credited(course) from None
    record = ledger.record_activity(
        user, origin=CreditOrigin.TRANSFERRED, title=course.title, hours=course.hours, category=course.category,
        day=course.completed_on, activity_kind=SOURCE_TYPE, source=(SOURCE_TYPE, str(transfer.id)),
        note=_("自 %(issuer)s 转入：证书编号 %(number)s，课程编号 %(code)s，%(term)s。", issuer=issuer.name,
               number=course.number, code=course.course_code, term=course.term or "-"))
    transfer.credit_record_id = record.id
    db.session.flush()
    return transfer


def _courses_matching(course) -> list:
    """Conditions on CreditTransfer naming ``course``: its code, or the code it had at the instance it
    was imported from."""
    codes = [CreditTransfer.course_code == course.code]
    origin = db.session.scalar(select(CourseOrigin).where(CourseOrigin.course_id == course.id))
    if origin is not None:
        codes.append((CreditTransfer.course_code == origin.original_code)
                     & CreditTransfer.issuer.has(TrustedIssuer.issuer_id.startswith(origin.instance_url + "/")))
    return codes


def transferred_course(user, course) -> str | None:
    """For :data:`lms.credits.services.COUNTED_ELSEWHERE`: why a local completion of ``course`` must
    not count again — a standing transfer of the same course code, or of the code the course had at
    the instance it was imported from."""
    transfer = db.session.scalar(select(CreditTransfer).where(
        CreditTransfer.user_id == user.id, CreditTransfer.status == TransferStatus.ACCEPTED,
        or_(*_courses_matching(course))).limit(1))
    if transfer is None:
        return None
    return _("该课程的学时已于 %(date)s 自 %(issuer)s 转入（证书编号 %(number)s），本次完成不重复计入。",
             date=transfer.accepted_at.date().isoformat(), issuer=transfer.issuer.name, number=transfer.original_number)


def connect() -> None:
    if transferred_course not in ledger.COUNTED_ELSEWHERE:
        ledger.COUNTED_ELSEWHERE.append(transferred_course)


def _learner_id_number(user) -> str:
    encrypted = getattr(user, "id_number_encrypted", None)
    if not encrypted:
        raise _refuse("other_person", _("您的账号没有登记身份证号，无法核对凭证持有人。"))
    return crypto.decrypt(encrypted)


def _badges(issuer: TrustedIssuer, claims: dict) -> list:
    """The OpenBadgeCredentials a verified VC-JWT carries: itself, or those a CLR bundles (covered by
    the bundle's signature, so they must name the same issuer)."""
    if "ClrCredential" not in _types(claims):
        return [claims]
    subject = claims.get("credentialSubject") if isinstance(claims.get("credentialSubject"), dict) else {}
    badges = subject.get("verifiableCredential") if isinstance(subject.get("verifiableCredential"), list) else []
    if not badges:
        raise _refuse("format", _("学时档案中没有课程凭证，未转入。"))
    if len(badges) > MAX_BUNDLE_COURSES:
        raise _refuse("format", _("学时档案中的课程凭证超过 %(max)s 份，请分批转入（每次不超过 %(max)s 份）。",
                                  max=MAX_BUNDLE_COURSES))
    for badge in badges:
        inner = badge.get("issuer") if isinstance(badge, dict) else None
        inner_id = inner.get("id") if isinstance(inner, dict) else inner
        if not isinstance(inner_id, str) or normalize_issuer_id(inner_id) != issuer.issuer_id:
            raise _refuse("tampered", _("学时档案中含有其他平台签发的凭证，未转入。"))
    return badges


def verify_presentation(actor, token: str) -> Presentation:
    """Check a VC-JWT (one OpenBadgeCredential, or a ClrCredential bundling several) presented by
    ``actor``: signed by a trusted issuer, valid, naming this learner, not revoked at the issuer (its
    status lists read once each). Reads the network, writes nothing; TransferRefused with the reason
    (for a bundle, the first credential refused stops it)."""
    if actor is None:
        raise NotAllowed(_("请先登录。"))
    token = (token or "").strip()
    if not token:
        raise InvalidInput(_("请上传学时凭证文件，或填写原平台给出的凭证授权链接。"), field="credential")
    if len(token) > MAX_CREDENTIAL_BYTES:
        raise _refuse("format", _("凭证文件过大，不是本平台能识别的学时凭证。"))
    new_keys: dict = {}
    issuer, claims = _verified(token, new_keys=new_keys)
    badges = _badges(issuer, claims)
    id_number = _learner_id_number(actor)
    courses = [_course(badge) for badge in badges]
    lists: dict = {}
    for course in courses:
        if not names_learner(course.identifiers, id_number):
            raise _refuse("other_person", _("凭证 %(number)s 的持有人不是您本人（身份证号不符），未转入。",
                                            number=course.number))
        if course.status_list_url is None:
            raise _refuse("format", _("凭证没有声明吊销状态，无法向发证平台核实，未转入。"))
        if is_revoked(issuer, course.status_list_url, course.status_index, new_keys=new_keys, lists=lists):
            raise _refuse("revoked", _("凭证 %(number)s 已被发证平台 %(issuer)s 吊销，未转入。", number=course.number,
                                       issuer=issuer.name))
    return Presentation(issuer_id=issuer.id, token=token, courses=courses, new_keys=new_keys)


def _pin(issuer: TrustedIssuer, new_keys: dict) -> None:
    """Pin keys read from the issuer's key set during a verification (keys already pinned stay)."""
    added = {kid: jwk for kid, jwk in new_keys.items() if kid not in issuer.pinned_keys}
    if added:
        issuer.pinned_keys = {**issuer.pinned_keys, **added}
        issuer.keys_fetched_at = utcnow_naive()
        db.session.flush()


def accept_presentation(actor, presentation: Presentation) -> list[CreditTransfer]:
    """Record a verified presentation: under the ledger's lock, each course not transferred nor
    credited here yet becomes a transfer and its ledger entry (for a bundle, one refused course
    refuses it all)."""
    ledger.lock_ledger()  # to the commit: no other ledger write interleaves (PostgreSQL; SQLite has one writer)
    issuer = db.session.get(TrustedIssuer, presentation.issuer_id, populate_existing=True)
    if issuer is None or not issuer.active:
        raise _refuse("unknown_issuer", _("发证平台已移出本平台的信任列表，未转入。"))
    _pin(issuer, presentation.new_keys)
    transfers = [_accept(actor, issuer, course, presentation.token) for course in presentation.courses]
    for transfer in transfers:
        record_event(actor, "federation.credit_transferred", transfer, issuer=issuer.issuer_id,
                     number=transfer.original_number, course=transfer.course_code, hours=str(transfer.hours),
                     credit_record=transfer.credit_record_id)
    return transfers


def present_credential(actor, token: str) -> list[CreditTransfer]:
    """Verify and record a presentation in one transaction (:func:`verify_presentation`, then
    :func:`accept_presentation`). The pages commit between the two, so that no lock is held while
    the issuer answers."""
    return accept_presentation(actor, verify_presentation(actor, token))


def check_link(url: str) -> tuple[str, str]:
    """(URL, origin) of a consent link, if it is on the origin of a trusted issuer."""
    url = (url or "").strip()
    try:
        url = remote.check_feed_url(url)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field="link") from None
    origin = remote.origin_of(url)
    trusted = {remote.origin_of(i.issuer_id) for i in issuers()}
    if origin not in trusted:
        raise _refuse("unknown_issuer", _("链接所在的平台 %(origin)s 不在本平台信任的发证平台列表中，未读取。", origin=origin))
    return url, origin


def verify_link(actor, url: str) -> Presentation:
    """Read a consent link from a trusted issuer's origin and verify the credential it serves."""
    url, origin = check_link(url)
    try:
        _final, body = remote.fetch_bytes(url, origin)
    except remote.FetchRefused as exc:
        raise _refuse("link", _("无法读取凭证授权链接：%(reason)s", reason=exc.message)) from None
    except remote.FetchFailed as exc:
        raise _refuse("link", _("无法读取凭证授权链接（链接可能已过期或已被撤回）：%(reason)s", reason=exc.message)) from None
    return verify_presentation(actor, body.decode("ascii", "replace"))


def present_link(actor, url: str) -> list[CreditTransfer]:
    return accept_presentation(actor, verify_link(actor, url))


def record_refusal(actor, exc: DomainError, *, via: str, ip: str | None = None) -> None:
    """Audit a refused presentation (the learner, the reason; never the credential)."""
    record_event(actor, "federation.credit_transfer_refused", None, ip=ip, via=via,
                 reason=getattr(exc, "reason", None) or exc.code, message=exc.message[:300])


def my_transfers(actor) -> list[CreditTransfer]:
    return list(db.session.scalars(select(CreditTransfer).where(CreditTransfer.user_id == actor.id)
                                   .order_by(CreditTransfer.id.desc())))


def recent_transfers(limit: int = 50) -> list[CreditTransfer]:
    return list(db.session.scalars(select(CreditTransfer).order_by(CreditTransfer.id.desc()).limit(limit)))


# ---------------------------------------------------------------- re-checking at the issuer

@dataclass(frozen=True)
class StatusNow:
    """What the issuer's status list says of one transfer now: revoked (True/False), or None when it
    cannot be read now; and keys its key set named that are not pinned yet."""

    revoked: bool | None
    new_keys: dict


def status_now(transfer: CreditTransfer) -> StatusNow:
    """Read the transfer's status bit at the issuer (network; writes nothing)."""
    new_keys: dict = {}
    if transfer.status != TransferStatus.ACCEPTED or transfer.status_list_url is None:
        return StatusNow(False, new_keys)
    try:
        revoked = is_revoked(transfer.issuer, transfer.status_list_url, transfer.status_index, new_keys=new_keys)
    except TransferRefused as exc:
        log.warning("transfer %s: status not checked: %s", transfer.id, exc.message)
        return StatusNow(None, new_keys)
    return StatusNow(revoked, new_keys)


def record_status(transfer_id: int, status: StatusNow) -> bool | None:
    """Record what :func:`status_now` read: a credential revoked at its issuer voids its entry here
    (with the reason), and a local completion of the same course that the transfer had left at 0 h
    counts again. The transfer is locked and read again first, so that two checks running at once
    void it once. True if voided now, False if it stands (or was voided already), None if unread."""
    if status.revoked is None:
        return None
    ledger.lock_ledger()
    transfer = db.session.scalar(select(CreditTransfer).where(CreditTransfer.id == transfer_id)
                                 .with_for_update().execution_options(populate_existing=True))
    if transfer is None or transfer.status != TransferStatus.ACCEPTED:
        return False
    if status.new_keys and transfer.issuer.active:
        _pin(transfer.issuer, status.new_keys)
    now = utcnow_naive()
    transfer.checked_at = now
    if not status.revoked:
        db.session.flush()
        return False
    reason = _("发证平台 %(issuer)s 已吊销凭证 %(number)s，转入的学时作废。", issuer=transfer.issuer.name,
               number=transfer.original_number)
    record = ledger.latest_in_chain(transfer.credit_record)
    if ledger.is_active(record):
        ledger.revoke_record(None, record.id, reason=reason)
    transfer.status = TransferStatus.VOIDED
    transfer.voided_at = now
    transfer.void_reason = reason
    db.session.flush()
    record_event(None, "federation.credit_transfer_voided", transfer, number=transfer.original_number,
                 issuer=transfer.issuer.issuer_id, reason=reason)
    _credit_local_completion(transfer)
    return True


def _credit_local_completion(transfer: CreditTransfer) -> None:
    """After ``transfer`` was voided: the first local completion of its course recorded while it stood
    (credited 0 h because of it) is corrected to the hours it earns, unless the course still counts
    through another standing transfer. The caller holds the ledger's lock."""
    user = transfer.user
    candidates = db.session.scalars(ledger.active_query(user.id).where(
        CreditRecord.course_id.is_not(None), CreditRecord.origin == CreditOrigin.ONLINE_COURSE,
        CreditRecord.hours == 0, CreditRecord.created_at >= transfer.accepted_at).order_by(CreditRecord.id))
    for record in candidates:
        course = record.course
        matches = db.session.scalar(select(CreditTransfer.id).where(
            CreditTransfer.id == transfer.id, or_(*_courses_matching(course))))
        if matches is None:
            continue
        if ledger.counted_elsewhere(user, course):
            return
        hours = ledger.hours_for_completion(user, course, record.completed_at)
        if hours > 0:
            ledger.correct_record(None, record.id, hours=hours, reason=_(
                "该课程转入的学时已作废（发证平台 %(issuer)s 吊销了凭证 %(number)s），本平台的完成记录改为计入学时。",
                issuer=transfer.issuer.name, number=transfer.original_number))
        return


def recheck_transfer(transfer: CreditTransfer) -> bool | None:
    """Read the transfer's status bit again: True if it was revoked at the issuer (the ledger entry
    is voided here, with the reason), False if it stands, None if the issuer cannot be read now.
    In one transaction; the periodic job commits between the read and the record."""
    return record_status(transfer.id, status_now(transfer))


def transfers_due(now: datetime | None = None) -> list[int]:
    hours = current_app.config["LMS_TRANSFER_RECHECK_HOURS"]
    before = (now or utcnow_naive()) - timedelta(hours=hours)
    return list(db.session.scalars(select(CreditTransfer.id).where(
        CreditTransfer.status == TransferStatus.ACCEPTED, CreditTransfer.checked_at <= before)
        .order_by(CreditTransfer.checked_at)))


# ---------------------------------------------------------------- issuer side: consent links

def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_consent_link(actor, number: str) -> tuple[ConsentLink, str]:
    """A short-lived link through which another instance may read one of the actor's course
    credentials (the token is shown once)."""
    cert = db.session.scalar(select(Certificate).where(Certificate.number == numbers.normalize(number)))
    if cert is None or cert.user_id != actor.id:
        raise NotFound(_("没有找到这份证书。"))
    if cert.kind != CertificateKind.COURSE:
        raise InvalidInput(_("只有课程学时证明可以授权其他平台读取；年度汇总请逐门课程授权。"))
    if not cert.is_valid:
        raise Conflict(_("这份证书已撤销，不能授权其他平台读取。"))
    token = TOKEN_PREFIX + secrets.token_urlsafe(24)
    now = utcnow_naive()
    link = ConsentLink(user_id=actor.id, certificate_id=cert.id, token_hash=_token_hash(token), created_at=now,
                       expires_at=now + timedelta(minutes=current_app.config["LMS_CONSENT_LINK_MINUTES"]))
    db.session.add(link)
    db.session.flush()
    record_event(actor, "credential.consent_created", link, number=cert.number, expires_at=link.expires_at.isoformat())
    return link, token


def revoke_consent_link(actor, link_id: int) -> ConsentLink:
    link = db.session.get(ConsentLink, link_id)
    if link is None or link.user_id != actor.id:
        raise NotFound(_("没有找到这个授权链接。"))
    if link.revoked_at is not None:
        raise Conflict(_("这个授权链接已经撤回。"))
    link.revoked_at = utcnow_naive()
    db.session.flush()
    record_event(actor, "credential.consent_revoked", link, number=link.certificate.number)
    return link


def my_consent_links(actor) -> list[ConsentLink]:
    return list(db.session.scalars(select(ConsentLink).where(ConsentLink.user_id == actor.id)
                                   .order_by(ConsentLink.id.desc()).limit(50)))


def consented_credential(token: str, *, ip: str | None = None) -> str:
    """The VC-JWT a live consent link points to; NotFound for an unknown, expired or revoked link
    (all alike, so a link's existence is not disclosed)."""
    link = None
    if isinstance(token, str) and token.startswith(TOKEN_PREFIX) and len(token) < 100:
        link = db.session.scalar(select(ConsentLink).where(ConsentLink.token_hash == _token_hash(token)))
    now = utcnow_naive()
    # A certificate revoked after the link was made is no longer served through it.
    if link is None or not link.usable(now) or not link.certificate.is_valid:  # the route audits the refusal
        raise NotFound(_("授权链接无效、已过期或已被撤回。请学员在原平台重新生成。"))
    link.used_count += 1
    link.last_used_at = now
    db.session.flush()
    record_event(None, "credential.consent_used", link, ip=ip, number=link.certificate.number)
    return link.certificate.credential_jwt
