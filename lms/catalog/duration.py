"""How long a course takes to study: its videos' durations plus an estimate of its reading time.

Reading time is estimated from a reading lesson's text at :data:`READING_CHARS_PER_MINUTE`
characters a minute, counting the characters a reader reads: letters, digits and CJK characters,
not spaces, line breaks or Markdown markup (``#``, ``*``, ``>``, ``|``, ``-`` …). 300 characters a
minute is the usual figure for attentive study of Chinese text (faster skimming reaches 500 or more);
a video lesson's script is not counted again, the video's length is the lesson's time.
"""

import re

from flask_babel import gettext as _

from .models import LessonKind

READING_CHARS_PER_MINUTE = 300
_MARKUP = re.compile(r"[\s#*>|`_~\-=\[\]()!]+")


def reading_seconds(text: str) -> int:
    """The estimated time to read ``text`` (Markdown), in whole seconds."""
    characters = len(_MARKUP.sub("", text or ""))
    return round(characters * 60 / READING_CHARS_PER_MINUTE)


def video_seconds(course) -> int:
    return sum(lesson.media_asset.duration_seconds for lesson in course.lessons
               if lesson.kind == LessonKind.VIDEO and lesson.media_asset is not None)


def study_seconds(course) -> tuple[int, int]:
    """(video seconds, estimated reading seconds) of a course's lessons."""
    reading = sum(reading_seconds(lesson.body) for lesson in course.lessons if lesson.kind == LessonKind.READING)
    return video_seconds(course), reading


def format_duration(seconds: int) -> str:
    """``1 小时 2 分 5 秒``, ``1 分 15 秒``, ``40 秒``: the way the messages state a length."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return _("%(h)s 小时 %(m)s 分 %(s)s 秒", h=hours, m=minutes, s=secs)
    if minutes:
        return _("%(m)s 分 %(s)s 秒", m=minutes, s=secs)
    return _("%(s)s 秒", s=secs)
