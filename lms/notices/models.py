from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import Region, User
from ..core.clock import utcnow_naive
from ..extensions import db


class Notice(db.Model):
    """A notice (通知公告). ``region_code`` None: nationwide, shown to everyone. Shown from
    ``starts_on`` to ``ends_on`` (platform-local dates, both included; no end: until withdrawn);
    pinned ones first, then the newest. ``body`` is Markdown, rendered without raw HTML."""

    __tablename__ = "notice"
    __table_args__ = (Index("ix_notice_region_code_starts_on", "region_code", "starts_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"))
    pinned: Mapped[bool] = mapped_column(default=False)
    starts_on: Mapped[date]
    ends_on: Mapped[date | None]
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    withdrawn_at: Mapped[datetime | None]

    region: Mapped[Region | None] = relationship()
    author: Mapped[User | None] = relationship()


class NoticeRead(db.Model):
    """That a learner opened a notice: what the unread marks leave out."""

    __tablename__ = "notice_read"
    __table_args__ = (UniqueConstraint("user_id", "notice_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notice.id", ondelete="CASCADE"), index=True)
    read_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
