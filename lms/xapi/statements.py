"""Building xAPI 1.0.3 statements (plain dicts) from learning events.

- the actor is an account on this platform (``homePage`` = ``LMS_PUBLIC_URL``) named by a keyed
  pseudonym of the user id: never the ID number or the real name;
- activities are addressed by public URLs: ``<LMS_PUBLIC_URL>/courses/<code>``, its lessons
  ``…/lessons/<id>`` and its final exam ``…/exam``, named in Chinese (``zh-CN``);
- the context carries the platform and a registration: a UUID derived from the enrollment, the
  same in every statement about one enrollment;
- timestamps are UTC.
"""

import hashlib
import hmac
import uuid
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

from ..core.web import public_base

VERSION = "1.0.3"
ADL = "http://adlnet.gov/expapi/verbs/"
VERBS = {
    "launched": {"en-US": "launched", "zh-CN": "开始学习"},
    "progressed": {"en-US": "progressed", "zh-CN": "学习进展"},
    "completed": {"en-US": "completed", "zh-CN": "完成"},
    "passed": {"en-US": "passed", "zh-CN": "通过"},
    "failed": {"en-US": "failed", "zh-CN": "未通过"},
}
ACTIVITY_TYPES = {
    "course": "http://adlnet.gov/expapi/activities/course",
    "lesson": "http://adlnet.gov/expapi/activities/lesson",
    "assessment": "http://adlnet.gov/expapi/activities/assessment",
}
PROGRESS_EXTENSION = "https://w3id.org/xapi/cmi5/result/extensions/progress"
_REGISTRATION_NAMESPACE = uuid.UUID("6f1c1d6e-3b0a-5a43-9c55-8f0e6f6d2a11")


def verb_id(name: str) -> str:
    return ADL + name


def pseudonym(user_id: int) -> str:
    """A stable name for a learner that reveals nothing without the platform's data key."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"gongxu-lms",
               info=b"xapi-actor-pseudonym").derive(current_app.config["LMS_DATA_KEY"].encode())
    return hmac.new(key, f"user:{user_id}".encode(), hashlib.sha256).hexdigest()[:32]


def actor(user_id: int) -> dict:
    return {"objectType": "Agent", "account": {"homePage": public_base(), "name": pseudonym(user_id)}}


def registration(enrollment_id: int) -> str:
    return str(uuid.uuid5(_REGISTRATION_NAMESPACE, f"{public_base()}/enrollments/{enrollment_id}"))


def timestamp(at: datetime) -> str:
    aware = at if at.tzinfo else at.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def course_activity(course) -> dict:
    return {"objectType": "Activity", "id": f"{public_base()}/courses/{course.code}",
            "definition": {"name": {"zh-CN": course.title}, "type": ACTIVITY_TYPES["course"]}}


def lesson_activity(course, lesson) -> dict:
    return {"objectType": "Activity", "id": f"{public_base()}/courses/{course.code}/lessons/{lesson.id}",
            "definition": {"name": {"zh-CN": lesson.title}, "type": ACTIVITY_TYPES["lesson"]}}


def exam_activity(course) -> dict:
    return {"objectType": "Activity", "id": f"{public_base()}/courses/{course.code}/exam",
            "definition": {"name": {"zh-CN": f"{course.title} · 结业测验"}, "type": ACTIVITY_TYPES["assessment"]}}


def _context(course, enrollment_id: int, *, parent: bool) -> dict:
    context = {"registration": registration(enrollment_id),
               "platform": current_app.config["LMS_CERT_ISSUER_NAME"],
               "language": "zh-CN",
               "extensions": {f"{public_base()}/xapi/extensions/course-version": course.version}}
    if parent:
        context["contextActivities"] = {"parent": [course_activity(course)]}
    return context


def statement(verb: str, *, user_id: int, obj: dict, course, enrollment_id: int, at: datetime,
              result: dict | None = None, parent: bool = True, statement_id: str | None = None) -> dict:
    body = {
        "id": statement_id or str(uuid.uuid4()),
        "actor": actor(user_id),
        "verb": {"id": verb_id(verb), "display": VERBS[verb]},
        "object": obj,
        "context": _context(course, enrollment_id, parent=parent),
        "timestamp": timestamp(at),
    }
    if result is not None:
        body["result"] = result
    return body


def launched(*, user_id: int, course, lesson, enrollment_id: int, at: datetime) -> dict:
    return statement("launched", user_id=user_id, obj=lesson_activity(course, lesson), course=course,
                     enrollment_id=enrollment_id, at=at)


def progressed(*, user_id: int, course, lesson, enrollment_id: int, at: datetime, percent: int) -> dict:
    """A lesson was completed: the course is now ``percent`` % done (cmi5 progress extension)."""
    return statement("progressed", user_id=user_id, obj=lesson_activity(course, lesson), course=course,
                     enrollment_id=enrollment_id, at=at,
                     result={"completion": True, "extensions": {PROGRESS_EXTENSION: int(percent)}})


def completed(*, user_id: int, course, enrollment_id: int, at: datetime, exam_score: int | None) -> dict:
    result = {"completion": True, "success": True}
    if exam_score is not None:
        result["score"] = {"scaled": round(exam_score / 100, 4), "raw": exam_score, "min": 0, "max": 100}
    return statement("completed", user_id=user_id, obj=course_activity(course), course=course,
                     enrollment_id=enrollment_id, at=at, result=result, parent=False)


def exam_result(*, user_id: int, course, enrollment_id: int, at: datetime, score: int, passed: bool) -> dict:
    """``passed`` or ``failed`` for a scored exam attempt (score 0–100)."""
    return statement("passed" if passed else "failed", user_id=user_id, obj=exam_activity(course), course=course,
                     enrollment_id=enrollment_id, at=at,
                     result={"score": {"scaled": round(score / 100, 4), "raw": score, "min": 0, "max": 100},
                             "success": bool(passed), "completion": True})
