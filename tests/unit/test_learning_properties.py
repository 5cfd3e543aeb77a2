"""Hypothesis against the real services and database: any sequence of beats, some of them
retried, credits no more than the wall clock allows, never takes back what it credited (only the
waiting time a missed attention check forfeits leaves the count), and retries change nothing."""

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lms.core import clock
from lms.learning import crediting, heartbeat, play, services
from lms.learning.heartbeat import Beat
from tests.learning_helpers import T0, course

beats = st.lists(st.fixed_dictionaries({
    "elapsed": st.floats(min_value=0, max_value=20, allow_nan=False),
    "start": st.floats(min_value=0, max_value=35, allow_nan=False),
    "length": st.floats(min_value=0, max_value=30, allow_nan=False),
    "retry": st.booleans(),
    "event": st.sampled_from(["tick", "tick", "pause"]),
}), min_size=1, max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=beats)
def test_heartbeats_against_the_database(app, db_session, make_user, plan):
    with app.test_request_context():
        learner = make_user()
        c = course(db_session)
        services.enroll(learner, c.code)
        lesson = next(lesson for lesson in c.lessons if lesson.kind == "video")
        now = T0
        with clock.freeze(now):
            session, progress = play.start_session(learner.id, lesson.id)
        wall, seq, last_beat, previous, credited = 0.0, 0, None, 0.0, 0.0
        for step in plan:
            now += timedelta(seconds=step["elapsed"])
            wall += step["elapsed"]
            if step["retry"] and last_beat is not None:
                beat = last_beat
            else:
                seq += 1
                beat = Beat(session.id, seq, step["start"], [[step["start"], step["start"] + step["length"]]],
                            event=step["event"])
            before = (progress.credited_seconds, progress.pending_seconds, list(progress.watched_intervals or []))
            with clock.freeze(now):
                result = heartbeat.record_heartbeat(learner.id, beat)
            if beat is last_beat:
                assert result.status == "duplicate"
                assert (progress.credited_seconds, progress.pending_seconds, progress.watched_intervals) == before
            last_beat = beat
            counted = progress.credited_seconds + progress.pending_seconds
            # Never decreases, but for the waiting time a missed attention check forfeits (the rules:
            # written to not_counted["attention"]); what is credited never decreases at all.
            forfeited = (progress.not_counted or {}).get("attention", 0.0)
            assert counted + forfeited >= previous - 1e-9
            assert progress.credited_seconds >= credited - 1e-9
            previous, credited = counted + forfeited, progress.credited_seconds
            assert counted <= wall + crediting.TOLERANCE_SECONDS + 1e-6
            assert crediting.covered_seconds(progress.watched_intervals) <= session.duration_seconds
        db_session.rollback()
