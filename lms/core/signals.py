"""Signals through which domain modules react to each other.

- ``user_registered(user)``: a learner registered.
- ``course_imported(course)``: a course package was imported.
- ``course_published(course)`` / ``course_retired(course)``: a course entered or left the catalog.
- ``lesson_completed(progress)`` / ``course_completed(enrollment)``: learning milestones.
- ``certificate_issued(certificate)``: a certificate was issued.
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
