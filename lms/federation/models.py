"""Tables of the courseware federation.

Hub side: which course codes an admin shares (``federation_share``), the package archive built for
each shared version (``federation_archive``) and the tokens subscribers present to download
archives (``federation_token``; packages carry the exam's answer keys, so archives are not public).

Subscriber side: the feeds this instance follows (``federation_subscription``, with the publisher's
pinned keys), one row per entry taken or refused (``federation_entry``: the progress page), and
where an imported course version came from (``course_origin``, shown on the course page).

Credit portability: the issuers whose credentials this instance accepts (``trusted_issuer``), each
credential accepted here (``credit_transfer``, with the ledger entry it made) and, on the issuer's
side, learners' consent links to one credential (``credential_consent``).
"""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Numeric, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import utcnow_naive
from ..core.enums import N_, LabelledEnum
from ..extensions import db


class SharedCourse(db.Model):
    """A course code an admin chose to share: its published version is in the feed."""

    __tablename__ = "federation_share"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    shared_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    shared_at: Mapped[datetime] = mapped_column(default=utcnow_naive)


class FeedArchive(db.Model):
    """The package archive of one shared course version, built once (its size and SHA-256 go in the
    signed entry; ``built_at`` orders the feed and answers ``updated_since``)."""

    __tablename__ = "federation_archive"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), unique=True)
    path: Mapped[str] = mapped_column(String(512))  # relative to LMS_MEDIA_ROOT
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    built_at: Mapped[datetime] = mapped_column(default=utcnow_naive, index=True)

    course = relationship("Course")


class FederationToken(db.Model):
    """A subscriber's token for package archives; only its SHA-256 is kept."""

    __tablename__ = "federation_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class PinSource(LabelledEnum):
    FIRST_USE = "first_use", N_("首次订阅时经管理员核对指纹确认")
    TRUST_LIST = "trust_list", N_("配置的信任列表")


class FeedSubscription(db.Model):
    """A feed this instance follows. Ended subscriptions are kept (with what they imported)."""

    __tablename__ = "federation_subscription"

    id: Mapped[int] = mapped_column(primary_key=True)
    feed_url: Mapped[str] = mapped_column(String(512))
    origin: Mapped[str] = mapped_column(String(255), index=True)  # scheme://host[:port]
    instance_name: Mapped[str] = mapped_column(String(120))
    token_encrypted: Mapped[str] = mapped_column(Text)
    publish_at_once: Mapped[bool] = mapped_column(default=False)
    pinned_keys: Mapped[dict] = mapped_column(JSON, default=dict)  # kid → public JWK
    pinned_via: Mapped[str] = mapped_column(String(16), default=PinSource.FIRST_USE)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    ended_at: Mapped[datetime | None]
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    cursor: Mapped[str | None] = mapped_column(String(64))  # the feed's updated_since for the next pull
    last_pulled_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)  # why the last pull stopped early, if it did

    created_by = relationship("User", foreign_keys=[created_by_id])

    @property
    def active(self) -> bool:
        return self.ended_at is None

    @property
    def pinned_via_label(self) -> str:
        return PinSource(self.pinned_via).label


class EntryOutcome(LabelledEnum):
    IMPORTED = "imported", N_("已导入")
    REJECTED = "rejected", N_("已拒绝")


class FeedEntry(db.Model):
    """One feed entry this instance took (imported) or refused (rejected, with the reason)."""

    __tablename__ = "federation_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("federation_subscription.id", ondelete="CASCADE"),
                                                 index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    code: Mapped[str] = mapped_column(String(32))
    version: Mapped[int | None]
    title: Mapped[str] = mapped_column(String(120), default="")
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    course_id: Mapped[int | None] = mapped_column(ForeignKey("course.id", ondelete="SET NULL"))

    course = relationship("Course")

    @property
    def outcome_label(self) -> str:
        return EntryOutcome(self.outcome).label


class CourseOrigin(db.Model):
    """Where an imported course version came from: the instance, its publisher, the original code
    and version, and the archive's SHA-256 as the feed signed it."""

    __tablename__ = "course_origin"
    # One local version per upstream version, even when two pulls of one feed run at once.
    __table_args__ = (UniqueConstraint("instance_url", "original_code", "original_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), unique=True)
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("federation_subscription.id",
                                                                   ondelete="SET NULL"), index=True)
    instance_name: Mapped[str] = mapped_column(String(120))
    instance_url: Mapped[str] = mapped_column(String(255))
    publisher_name: Mapped[str] = mapped_column(String(120))
    original_code: Mapped[str] = mapped_column(String(32))
    original_version: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow_naive)


# ---------------------------------------------------------------- credit portability

class TrustedIssuer(db.Model):
    """An instance whose credentials this one accepts (the admin-managed trust list of issuers):
    the issuer id its credentials carry (``issuer.id``, e.g. ``https://a.example.gov.cn/``), its name,
    and its keys — fetched from ``jwks_url`` (on the issuer's origin, fetched again when a credential
    names a key not pinned yet) or pasted by the admin and pinned. Removed issuers are kept (their
    transfers name them)."""

    __tablename__ = "trusted_issuer"

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(120))
    jwks_url: Mapped[str | None] = mapped_column(String(512))
    pinned_keys: Mapped[dict] = mapped_column(JSON, default=dict)  # kid → public JWK
    keys_fetched_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    removed_at: Mapped[datetime | None]
    removed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    @property
    def active(self) -> bool:
        return self.removed_at is None


class TransferStatus(LabelledEnum):
    ACCEPTED = "accepted", N_("已转入")
    VOIDED = "voided", N_("已作废")


_STANDING = text("status = 'accepted'")


class CreditTransfer(db.Model):
    """A credential from another instance accepted here: what it said (issuer, original certificate
    number, course, category, hours, credit year), where its revocation bit is (re-checked
    periodically) and the ledger entry it made. One row per credential: the unique ``credential_id``
    keeps a credential from counting twice even when two presentations race."""

    __tablename__ = "credit_transfer"
    # A learner's course counts once, whichever issuer certified it: one standing transfer per course
    # code (voided ones may repeat).
    __table_args__ = (Index("uq_credit_transfer_standing_course", "user_id", "course_code", unique=True,
                            postgresql_where=_STANDING, sqlite_where=_STANDING),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("trusted_issuer.id"), index=True)
    credential_id: Mapped[str] = mapped_column(String(255), unique=True)
    original_number: Mapped[str] = mapped_column(String(64))
    course_code: Mapped[str] = mapped_column(String(64))
    course_title: Mapped[str] = mapped_column(String(160))
    category: Mapped[str] = mapped_column(String(16))
    hours: Mapped[Decimal] = mapped_column(Numeric(4, 1))
    term: Mapped[str] = mapped_column(String(32), default="")
    completed_on: Mapped[date]
    status_list_url: Mapped[str | None] = mapped_column(String(512))
    status_index: Mapped[int | None]
    credential_jwt: Mapped[str] = mapped_column(Text)  # personal data: shown to nobody, kept as evidence
    credit_record_id: Mapped[int | None] = mapped_column(ForeignKey("credit_record.id"))
    status: Mapped[str] = mapped_column(String(16), default=TransferStatus.ACCEPTED)
    accepted_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    checked_at: Mapped[datetime] = mapped_column(default=utcnow_naive, index=True)
    voided_at: Mapped[datetime | None]
    void_reason: Mapped[str | None] = mapped_column(Text)

    user = relationship("User")
    issuer = relationship("TrustedIssuer")
    credit_record = relationship("CreditRecord")

    @property
    def status_label(self) -> str:
        return TransferStatus(self.status).label


class ConsentLink(db.Model):
    """Issuer side: a learner's consent for another instance to read one credential. The link is
    short-lived (``LMS_CONSENT_LINK_MINUTES``) and revocable; only the token's SHA-256 is kept."""

    __tablename__ = "credential_consent"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificate.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    used_count: Mapped[int] = mapped_column(default=0)
    last_used_at: Mapped[datetime | None]

    certificate = relationship("Certificate")

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at
