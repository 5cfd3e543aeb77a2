"""Signals through which domain modules react to each other.

- ``user_registered(user)``: a learner registered.
- ``course_imported(course)``: a course package was imported.
- ``course_published(course)`` / ``course_retired(course)``: a course entered or left the catalog.
- ``lesson_completed(progress)`` / ``course_completed(enrollment)``: learning milestones.
- ``certificate_issued(certificate)``: a certificate was issued.
- the ledger and learning events below.
"""

from blinker import Namespace

_signals = Namespace()

user_registered = _signals.signal("user-registered")
course_imported = _signals.signal("course-imported")
course_published = _signals.signal("course-published")
course_retired = _signals.signal("course-retired")
lesson_completed = _signals.signal("lesson-completed")
course_completed = _signals.signal("course-completed")
certificate_issued = _signals.signal("certificate-issued")

# The ledger (sent after the entry is flushed, inside the writing transaction):
# - ``credit_record_created(record)``: a completion or correction entry now counts;
# - ``credit_record_voided(record, by=entry)``: ``record`` no longer counts; ``entry`` (a correction
#   or revocation) replaced it.
credit_record_created = _signals.signal("credit-record-created")
credit_record_voided = _signals.signal("credit-record-voided")

# Learning events for statements to a Learning Record Store:
# - ``play_session_started(session)``: a learner opened a lesson in the player (xAPI "launched");
# - ``quiz_attempt_finished(attempt)``: an exam attempt was submitted and scored (xAPI "passed"/"failed").
play_session_started = _signals.signal("play-session-started")
quiz_attempt_finished = _signals.signal("quiz-attempt-finished")
