"""API clients of HR and title-evaluation systems, and the webhooks they register."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import utcnow_naive
from ..extensions import db

WEBHOOK_EVENTS = ("credit_record.created", "credit_record.voided")


class ApiClient(db.Model):
    """A system that reads records with a bearer token ``<key_id>.<secret>``.

    The secret is shown once when issued; only its keyed hash is kept. A client sees the records of
    exactly one unit (``organization_id``) or one region (``region_code``), never more; a unit client
    issued by an HR auditor carries the auditor's region too, and sees the unit's staff there only."""

    __tablename__ = "api_client"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), index=True)
    region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"), index=True)
    # Whether responses carry full ID numbers (granted only by an HR auditor or admin; audited).
    full_id_numbers: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    # Optional end: the token works until this moment (local midnight after the chosen last day).
    expires_at: Mapped[datetime | None]
    # Rotation: the secret before the last change keeps working until previous_secret_expires_at,
    # so the system using it can switch without a gap.
    rotated_at: Mapped[datetime | None]
    previous_secret_hash: Mapped[str | None] = mapped_column(String(64))
    previous_secret_expires_at: Mapped[datetime | None]

    organization = relationship("Organization")
    region = relationship("Region")
    created_by = relationship("User", foreign_keys=[created_by_id])
    webhooks: Mapped[list["WebhookSubscription"]] = relationship(back_populates="client",
                                                                 cascade="all, delete-orphan")

    @property
    def is_active(self) -> bool:
        """Not revoked (an expired client may still be rotated to a new end date or revoked)."""
        return self.revoked_at is None

    def is_expired(self, at: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (at or utcnow_naive())


class TokenReveal(db.Model):
    """A token just issued or rotated, held for the one page view that shows it (redirect after the
    POST, so a reload does not resubmit the form): encrypted, deleted when shown, and useless after
    ``expires_at`` in any case. The browser holds only the row's random key in its session cookie;
    the token itself is never in a URL or a cookie."""

    __tablename__ = "api_token_reveal"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("api_client.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    token_encrypted: Mapped[str] = mapped_column(Text)
    rotated: Mapped[bool] = mapped_column(default=False, server_default=false())
    expires_at: Mapped[datetime] = mapped_column(index=True)

    client = relationship("ApiClient")


class WebhookSubscription(db.Model):
    """A URL that receives ``credit_record.*`` events for its client's scope, signed with its own secret."""

    __tablename__ = "webhook_subscription"

    id: Mapped[int] = mapped_column(primary_key=True)
    api_client_id: Mapped[int] = mapped_column(ForeignKey("api_client.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    # The signing secret, encrypted at rest (it must be read back to sign each delivery).
    secret_encrypted: Mapped[str] = mapped_column(Text)
    events: Mapped[str] = mapped_column(String(200), default=",".join(WEBHOOK_EVENTS))
    created_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    deleted_at: Mapped[datetime | None]

    client: Mapped[ApiClient] = relationship(back_populates="webhooks")

    @property
    def event_list(self) -> list[str]:
        return [e for e in self.events.split(",") if e]
