"""Export jobs: a large export runs in the background and leaves a file that expires."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import utcnow_naive
from ..extensions import db


class ExportStatus:
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"


class ExportJob(db.Model):
    __tablename__ = "export_job"

    id: Mapped[int] = mapped_column(primary_key=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    # Random, part of the download URL (with the requester's login and the expiry checked too).
    token: Mapped[str] = mapped_column(String(64), unique=True)
    format: Mapped[str] = mapped_column(String(8))  # "csv" | "xlsx"
    year: Mapped[int | None]
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"))
    full_id_numbers: Mapped[bool] = mapped_column(default=False, server_default=false())
    status: Mapped[str] = mapped_column(String(16), default=ExportStatus.QUEUED)
    rows_total: Mapped[int | None]
    rows_done: Mapped[int] = mapped_column(default=0)
    file_path: Mapped[str | None] = mapped_column(String(255))  # relative to LMS_MEDIA_ROOT
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    # Each write of the job (its claim, its progress): its sign of life for the stall sweep.
    updated_at: Mapped[datetime | None] = mapped_column(default=utcnow_naive, onupdate=utcnow_naive)

    requested_by = relationship("User")
    organization = relationship("Organization")
    region = relationship("Region")
