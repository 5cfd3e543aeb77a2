"""The crediting rules of a heartbeat, as pure functions (no database), so they can be property-tested.

Units: positions and segments are media seconds; ``elapsed``, ``slack`` and ``credited`` are
wall-clock seconds.

The invariant, per learner (not per session): over any interval of wall-clock time, the time
credited to one learner, across all their sessions, lessons, courses, tabs and devices, is at most
the length of that interval plus one tolerance (TOLERANCE_SECONDS) for the whole learner; and the
media seconds accepted as watched are at most that length times the fastest allowed rate.

How it holds: a learner has one play lease (services.start_session supersedes every other session,
and a superseded session credits nothing). A beat is credited at most the wall-clock time since the
previous accepted beat of the lease plus ``slack``, the unused allowance carried between beats and
never above the tolerance; its media seconds are capped at that times the rate. A new session takes
the allowance over from the one it supersedes and counts its own time from its start, so starting,
closing, superseding or resuming sessions, pausing, seeking back, switching lessons and reloading
create no allowance. Time that waits for an attention check was charged when it was earned, so
crediting it later cannot exceed the budget either.
"""

import math
from dataclasses import dataclass, field

TOLERANCE_SECONDS = 2.0  # network and timer jitter, in wall-clock seconds
SEEK_TOLERANCE_SECONDS = 3.0  # media seconds a segment may start beyond the furthest point
MAX_SEGMENTS = 64  # segments in one beat's own batch
MAX_TOTAL_SEGMENTS = 256  # with the resent batches of beats whose acknowledgement was lost


def normalize(intervals) -> list[list[float]]:
    """Sorted, disjoint [start, end] pairs; touching or overlapping pairs are merged."""
    # Millisecond precision first, then merge, so rounding can never leave touching pairs apart.
    cleaned = sorted((round(float(s), 3), round(float(e), 3)) for s, e in intervals)
    merged: list[list[float]] = []
    for start, end in cleaned:
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def merge(intervals, new) -> list[list[float]]:
    return normalize([*intervals, *new])


def covered_seconds(intervals) -> float:
    return round(sum(e - s for s, e in intervals), 3)


def clean_segments(raw, duration: float, rate: float = 1.0) -> list[tuple[float, float, float]]:
    """Client-reported segments clipped to the media, as (start, end, rate): a segment may carry the
    rate it was played at as a third element (a rate change inside a beat), else the beat's ``rate``
    applies. Anything malformed (not numbers, not finite, too large for a float) is dropped."""
    segments = []
    for item in list(raw or [])[:MAX_TOTAL_SEGMENTS]:
        try:
            start, end = float(item[0]), float(item[1])
            played_at = float(item[2]) if len(item) > 2 else float(rate)
        except (TypeError, ValueError, IndexError, KeyError, OverflowError):
            continue
        if not (math.isfinite(start) and math.isfinite(end) and math.isfinite(played_at)):
            continue
        start, end = max(0.0, start), min(float(duration), end)
        if end - start > 0.01:
            segments.append((start, end, played_at))
    return segments


def _down(x: float) -> float:
    """Round down to the millisecond: rounding must never create credit."""
    return math.floor(x * 1000) / 1000


def allowed_rate(rate: float, allowed: list[float]) -> float | None:
    """The allowed rate a reported one stands for (players report 1.5 as 1.4999…), or None. Budgets
    use the allowed value, so a reported 1.509 never buys more media than 1.5 does."""
    return next((r for r in allowed if r > 0 and abs(rate - r) < 0.01), None)


@dataclass
class BeatOutcome:
    intervals: list
    furthest: float
    credited: float  # wall-clock seconds credited by this beat
    slack: float
    accepted: list = field(default_factory=list)  # media segments accepted
    not_counted: dict = field(default_factory=dict)  # reason → media seconds refused


def credit_video_beat(*, intervals, furthest: float, slack: float, duration: float, elapsed: float,
                      segments, rate: float, allowed_rates: list[float], visible: bool,
                      blocked: str | None = None) -> BeatOutcome:
    """Apply one beat's played segments.

    ``blocked`` names a reason that refuses every segment (superseded session, an attention check
    awaiting an answer). Otherwise a segment is refused when the page was hidden, its rate (its own,
    or the beat's ``rate``) is not allowed, or it starts beyond the furthest point (a forward seek).
    The beat may credit ``elapsed + slack`` wall-clock seconds; a segment played at rate r costs its
    length ÷ r of them, and what does not fit is refused as over the wall clock.
    """
    not_counted: dict[str, float] = {}

    def refuse(reason: str, seconds: float) -> None:
        if seconds > 0:
            not_counted[reason] = round(not_counted.get(reason, 0.0) + seconds, 3)

    available = max(0.0, elapsed) + max(0.0, slack)
    wall = available  # wall-clock seconds this beat may still credit
    credited = 0.0
    accepted = []
    for start, end, played_at in clean_segments(segments, duration, rate):
        length = end - start
        snapped = allowed_rate(played_at, allowed_rates)
        if blocked:
            refuse(blocked, length)
        elif not visible:
            refuse("hidden", length)
        elif snapped is None:
            refuse("rate", length)
        elif start > furthest + SEEK_TOLERANCE_SECONDS:
            refuse("seek", length)
        else:
            take = min(length, wall * snapped)
            refuse("over_wallclock", length - take)
            if take > 0.001:
                accepted.append((start, start + take))
                wall -= take / snapped
                credited += take / snapped
                furthest = max(furthest, start + take)
    used = min(available, credited)  # the carried allowance is what was not used, not what was not credited
    return BeatOutcome(
        intervals=merge(intervals, accepted) if accepted else [list(i) for i in intervals],
        furthest=round(furthest, 3), credited=_down(used),
        slack=_down(min(TOLERANCE_SECONDS, available - used)),
        accepted=accepted, not_counted=not_counted)


def credit_reading_beat(*, slack: float, elapsed: float, visible: bool, cap: float) -> tuple[float, float, dict]:
    """Reading time: wall-clock seconds while the page is visible, at most ``cap`` per beat.

    Returns (credited, new slack, not_counted)."""
    available = max(0.0, elapsed) + max(0.0, slack)
    if not visible:
        return 0.0, _down(min(TOLERANCE_SECONDS, available)), {"hidden": round(max(0.0, elapsed), 3)}
    used = min(available, cap)
    return _down(used), _down(min(TOLERANCE_SECONDS, available - used)), {}


def add_tallies(total: dict, more: dict) -> dict:
    result = dict(total or {})
    for reason, seconds in more.items():
        result[reason] = round(result.get(reason, 0.0) + seconds, 3)
    return result
