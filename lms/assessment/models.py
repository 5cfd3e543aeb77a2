from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from ..core.enums import N_, LabelledEnum
from ..extensions import db


class QuestionKind(LabelledEnum):
    SINGLE = "single", N_("单选题")
    MULTIPLE = "multiple", N_("多选题")
    TRUE_FALSE = "truefalse", N_("判断题")


class QuizQuestion(db.Model):
    """A course's exam question. ``answer`` holds option letters ("B", "ACD") or "true" / "false"."""

    __tablename__ = "quiz_question"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    options: Mapped[list] = mapped_column(JSON, default=list)
    answer: Mapped[str] = mapped_column(String(16))
    explanation: Mapped[str] = mapped_column(Text, default="")

    course = relationship("Course", backref=backref("questions", cascade="all, delete-orphan", passive_deletes=True))
