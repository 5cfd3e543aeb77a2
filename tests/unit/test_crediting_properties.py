"""Property tests of the interval and crediting rules (pure functions, no database)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from lms.learning import crediting

DURATION = 600.0
RATES = [1.0, 1.25, 1.5]

seconds = st.floats(min_value=-50, max_value=700, allow_nan=False, allow_infinity=False)
# A segment, sometimes with the rate it was played at (a rate change inside a beat), sometimes reported
# a hair off an allowed rate, as players do.
segment = st.one_of(
    st.tuples(seconds, seconds).map(lambda p: [min(p), max(p)]),
    st.tuples(seconds, seconds, st.sampled_from([0.5, 1.0, 1.25, 1.5, 1.509, 2.0])).map(
        lambda p: [min(p[:2]), max(p[:2]), p[2]]))
beat = st.fixed_dictionaries({
    "elapsed": st.floats(min_value=0, max_value=40, allow_nan=False),
    "segments": st.lists(segment, max_size=6),
    "rate": st.sampled_from([0.5, 1.0, 1.25, 1.5, 2.0, 3.0]),
    "visible": st.booleans(),
})


@given(st.lists(st.lists(segment, max_size=8), max_size=8))
def test_normalized_intervals_are_sorted_disjoint_and_order_free(batches):
    merged = []
    for batch in batches:
        merged = crediting.merge(merged, [(s, e) for s, e, _ in crediting.clean_segments(batch, DURATION)])
    assert all(s < e for s, e in merged)
    assert all(a[1] < b[0] for a, b in zip(merged, merged[1:], strict=False))
    flat = [(s, e) for batch in batches for s, e, _ in crediting.clean_segments(batch, DURATION)]
    assert merged == crediting.normalize(list(reversed(flat)))
    assert 0 <= crediting.covered_seconds(merged) <= DURATION


@settings(max_examples=300)
@given(st.lists(beat, min_size=1, max_size=25))
def test_credit_never_exceeds_wall_clock_and_never_decreases(beats):
    # Retries (same session and seq) are refused before these rules run: see the hypothesis test in
    # test_learning_properties.py, which replays beats against the database.
    intervals, furthest, slack = [], 0.0, crediting.TOLERANCE_SECONDS
    credited_total = wall = accepted_media = 0.0
    for b in beats:
        outcome = crediting.credit_video_beat(
            intervals=intervals, furthest=furthest, slack=slack, duration=DURATION, elapsed=b["elapsed"],
            segments=b["segments"], rate=b["rate"], allowed_rates=RATES, visible=b["visible"])
        wall += b["elapsed"]
        assert outcome.credited >= 0  # credited time never decreases
        assert crediting.covered_seconds(outcome.intervals) >= crediting.covered_seconds(intervals) - 1e-6
        assert outcome.furthest >= furthest
        credited_total += outcome.credited
        accepted_media += sum(e - s for s, e in outcome.accepted)
        intervals, furthest, slack = outcome.intervals, outcome.furthest, outcome.slack
        # Over any run of beats: credit <= wall clock + one tolerance, media <= that × fastest rate.
        assert credited_total <= wall + crediting.TOLERANCE_SECONDS + 1e-3
        assert accepted_media <= (wall + crediting.TOLERANCE_SECONDS) * max(RATES) + 1e-3
        assert crediting.covered_seconds(intervals) <= DURATION
        assert 0 <= slack <= crediting.TOLERANCE_SECONDS


@given(st.lists(segment, max_size=6), st.floats(min_value=0, max_value=30, allow_nan=False))
def test_nothing_is_credited_when_hidden_blocked_or_at_a_disallowed_rate(segments, elapsed):
    segments = [seg[:2] for seg in segments]  # the beat's rate applies
    for kwargs in ({"visible": False, "rate": 1.0}, {"visible": True, "rate": 2.0},
                   {"visible": True, "rate": 1.0, "blocked": "superseded"}):
        outcome = crediting.credit_video_beat(intervals=[], furthest=0, slack=2, duration=DURATION,
                                              elapsed=elapsed, segments=segments, allowed_rates=RATES, **kwargs)
        assert outcome.credited == 0 and outcome.intervals == [] and outcome.furthest == 0


@given(st.floats(min_value=10, max_value=500, allow_nan=False), st.floats(min_value=1, max_value=30, allow_nan=False))
def test_forward_seeks_beyond_the_furthest_point_are_never_credited(start, elapsed):
    outcome = crediting.credit_video_beat(
        intervals=[[0, 5]], furthest=5, slack=2, duration=DURATION, elapsed=elapsed,
        segments=[[5 + crediting.SEEK_TOLERANCE_SECONDS + start, DURATION]], rate=1.0, allowed_rates=RATES,
        visible=True)
    assert outcome.credited == 0 and outcome.intervals == [[0, 5]] and "seek" in outcome.not_counted


@given(st.lists(st.tuples(st.floats(min_value=0, max_value=40, allow_nan=False), st.booleans()), max_size=30))
def test_reading_credit_is_bounded_by_the_wall_clock(beats):
    slack, total, wall = crediting.TOLERANCE_SECONDS, 0.0, 0.0
    for elapsed, visible in beats:
        credited, slack, _ = crediting.credit_reading_beat(slack=slack, elapsed=elapsed, visible=visible, cap=26)
        wall += elapsed
        total += credited
        assert credited >= 0 and total <= wall + crediting.TOLERANCE_SECONDS + 1e-3


@given(st.floats(min_value=1, max_value=30, allow_nan=False))
def test_segments_played_at_different_rates_each_cost_their_own_wall_time(elapsed):
    # 6 s of media at 1× and 6 s at 1.5× cost 6 + 4 = 10 s of wall clock, whatever the beat reports.
    outcome = crediting.credit_video_beat(
        intervals=[], furthest=0, slack=0, duration=DURATION, elapsed=elapsed,
        segments=[[0, 6, 1.0], [6, 12, 1.5]], rate=1.5, allowed_rates=RATES, visible=True)
    assert outcome.credited == min(10.0, elapsed) or abs(outcome.credited - min(10.0, elapsed)) < 0.002


def test_overflowing_and_non_finite_segments_are_dropped():
    assert crediting.clean_segments([[0, 10**400], [float("nan"), 1], [0, 5, float("inf")], ["a", 1], [0, 5]],
                                    DURATION) == [(0.0, 5.0, 1.0)]


def test_rounding_never_returns_used_time_to_the_allowance():
    # Many tiny beats (a script beating 150 times a second): each beat's credit is rounded down to
    # the millisecond, and what it used must not flow back into the carried allowance.
    furthest, slack = 0.0, 0.0
    wall = media = 0.0
    position = 0.0
    for _ in range(20_000):
        elapsed = 0.0065
        outcome = crediting.credit_video_beat(
            intervals=[], furthest=furthest, slack=slack, duration=10_000, elapsed=elapsed,
            segments=[[position, position + 0.01049]], rate=1.5, allowed_rates=RATES, visible=True)
        wall += elapsed
        media += sum(e - s for s, e in outcome.accepted)
        position = furthest = outcome.furthest
        slack = outcome.slack
    assert media <= 1.5 * (wall + crediting.TOLERANCE_SECONDS) + 1e-6, (media, wall)
