"""A learner plays a lesson in Chromium through haproxy; one app node is SIGKILLed mid-lesson; playback
goes on through the other node; the credited seconds equal those of an undisturbed run within one
heartbeat interval; nothing is counted twice.

Two learners play the same 30-second lesson one after the other through the balancer (beats every
2 s): the first undisturbed, the second with node1 killed (master and workers, SIGKILL) a dozen
seconds in. Both confirm the attention check asked when the lesson's coverage is reached, as every
learner does, and play to the end. The database then says what each was credited.
"""

import json
import os
import signal
import subprocess

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, expect

from lms.learning import crediting
from tests.cluster.conftest import CLUSTER, PYTHON, cluster_env, part, pid_of
from tests.conftest import ROOT
from tests.e2e import conftest as e2e
from tests.e2e.conftest import browser_context_args, browser_type_launch_args  # noqa: F401 (Debian's Chromium)
from tests.e2e.test_learning_player import play, sign_in

pytestmark = CLUSTER

HEARTBEAT_SECONDS = 2
CLUSTER_SETTINGS = {"LMS_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
                    "LMS_DEMO_CACHE": str(ROOT / ".cache" / "demo-video")}
CODE = "GX-NS-001"

LEARNERS = """
import json
from wsgi import app
from lms.accounts import services as accounts
from lms.catalog.services import import_packages, load_packages
from lms.extensions import db
from lms.learning import services as learning
from tests.conftest import ROOT, TEST_PASSWORD, credit_code, id_number
with app.app_context():
    import_packages(None, load_packages([ROOT / "courses" / "GX-NS-001"]))
    db.session.commit()
for n, name in enumerate(("吴平稳", "郑切换")):
    with app.test_request_context():
        user = accounts.create_person(None, accounts.PersonData(
            real_name=name, id_number=id_number(f"110105199001088{n:02d}"), password=TEST_PASSWORD,
            mobile=f"136555002{n:02d}", region_code="110000", employer_name="测试单位",
            employer_credit_code=credit_code("91110105MA01ABCD3")))
        enrollment = learning.enroll(user, "GX-NS-001")
        lesson = next(lesson.id for lesson in enrollment.course.lessons if lesson.kind == "video")
        db.session.commit()
        print(json.dumps({"user_id": user.id, "mobile": user.mobile, "lesson_id": lesson}))
"""

# What was actually played (media time advancing in normal playback, summed in the page); the next
# lesson's countdown cancelled as soon as it shows, so the learner stays on this lesson.
WATCH_PLAYBACK = """() => {
    const v = document.getElementById('lesson-video');
    window.playedSeconds = 0;
    let last = null;
    v.addEventListener('timeupdate', () => {
        if (last !== null && !v.seeking && v.currentTime > last && v.currentTime - last < 1.5) {
            window.playedSeconds += v.currentTime - last;
        }
        last = v.currentTime;
    });
    v.addEventListener('seeking', () => { last = null; });
    const next = document.getElementById('next-notice');
    if (next) {
        new MutationObserver(() => {
            if (!next.classList.contains('d-none')) { document.getElementById('next-cancel').click(); }
        }).observe(next, {attributes: true, attributeFilter: ['class']});
    }
}"""


def _primary(cluster):
    return psycopg.connect(host="127.0.0.1", port=cluster["port"](32), dbname="lms", user="postgres",
                           connect_timeout=5)


def lesson_record(cluster, learner: dict) -> dict:
    """The learner's progress in the lesson and the wall-clock span of their play sessions, from the primary."""
    with _primary(cluster) as connection:
        credited, pending, intervals, watched, completed, seq = connection.execute(
            "SELECT credited_seconds, pending_seconds, watched_intervals, watched_seconds, completed_at, "
            "last_beat_seq FROM lesson_progress WHERE user_id = %s AND lesson_id = %s",
            (learner["user_id"], learner["lesson_id"])).fetchone()
        first, last = connection.execute(
            "SELECT min(started_at), max(last_beat_at) FROM play_session WHERE user_id = %s",
            (learner["user_id"],)).fetchone()
    return {"counted": credited + pending, "pending": pending, "intervals": intervals, "watched": watched,
            "completed": completed is not None, "seq": seq, "span": (last - first).total_seconds()}


def play_lesson(browser: Browser, cluster, learner: dict, meanwhile=None) -> tuple[float, list]:
    """``learner`` signs in and plays the lesson to its end through the balancer, confirming the
    attention check on the way; ``meanwhile`` is called a dozen seconds in. Returns the seconds played
    and the statuses of the heartbeats the page sent (0: no answer)."""
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    beats = []
    page.on("response", lambda r: beats.append(r.status) if r.url.endswith("/heartbeat") else None)
    page.on("requestfailed", lambda r: beats.append(0) if r.url.endswith("/heartbeat") else None)
    try:
        sign_in(page, cluster["url"], learner["mobile"])
        page.goto(f"{cluster['url']}/learn/{CODE}/{learner['lesson_id']}")
        e2e.until(page, "() => document.getElementById('lesson-video').readyState >= 1")
        page.evaluate(WATCH_PLAYBACK)
        play(page)
        if meanwhile is not None:
            e2e.until(page, "() => window.playedSeconds > 12", timeout=60)
            meanwhile(page)
        page.get_by_role("button", name="我在学习，继续计时").click(timeout=90_000)
        e2e.until(page, "() => document.getElementById('lesson-video').ended", timeout=90)
        expect(page.locator("#st-state")).to_have_text("已完成", timeout=60_000)
        page.wait_for_timeout(3_000)  # any beat still under way lands
        played = page.evaluate("() => window.playedSeconds")
    finally:
        context.close()
    return played, beats


def assert_counted_once(record: dict, played: float) -> None:
    """Nothing counted twice: the lesson's watched intervals are disjoint and add up to its watched
    seconds; what was credited (or waits for a check) is those seconds (played at 1×, each credited
    second is a watched one), no more than was played and no more than the wall clock allowed."""
    intervals = record["intervals"]
    assert intervals == crediting.normalize(intervals), intervals  # sorted, disjoint
    assert abs(crediting.covered_seconds(intervals) - record["watched"]) < 0.01, record
    assert record["counted"] <= record["watched"] + 0.5, record
    assert record["counted"] <= played + crediting.TOLERANCE_SECONDS, (record, played)
    assert record["counted"] <= record["span"] + crediting.TOLERANCE_SECONDS, record
    assert record["completed"] and record["pending"] == 0, record


@pytest.fixture(scope="module")
def learners(cluster):
    made = subprocess.run([str(PYTHON), "-c", LEARNERS], env=cluster_env(cluster), cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr[-3000:]
    return [json.loads(line) for line in made.stdout.splitlines() if line.startswith("{")]


def test_a_node_killed_mid_lesson_costs_the_learner_no_credit_and_counts_nothing_twice(browser, cluster, learners):
    calm, struck = learners

    calm_played, calm_beats = play_lesson(browser, cluster, calm)
    undisturbed = lesson_record(cluster, calm)

    killed_at = {}

    def kill_node1(page):
        killed_at["seq"] = lesson_record(cluster, struck)["seq"]
        os.killpg(os.getpgid(pid_of(cluster, "node1")), signal.SIGKILL)  # the master and its workers
        with pytest.raises(httpx.TransportError):
            httpx.get(cluster["node"](1) + "/healthz", timeout=2)
        # Playback goes on, its beats answered by the node left.
        e2e.until(page, "() => window.playedSeconds > 20", timeout=60)
        killed_at["seq_later"] = lesson_record(cluster, struck)["seq"]

    try:
        struck_played, struck_beats = play_lesson(browser, cluster, struck, meanwhile=kill_node1)
    finally:
        part(cluster, "stop", "node1")  # its stale pid file
        part(cluster, "start", "node1")
    disturbed = lesson_record(cluster, struck)

    print(f"\nundisturbed: played {calm_played:.1f} s, counted {undisturbed['counted']:.3f} s, beats {calm_beats}"
          f"\ndisturbed:   played {struck_played:.1f} s, counted {disturbed['counted']:.3f} s, beats {struck_beats}"
          f"\nbeats processed when node1 was killed: {killed_at['seq']}, some seconds later: {killed_at['seq_later']}")
    assert killed_at["seq_later"] > killed_at["seq"]  # beats processed by node2 alone
    assert_counted_once(undisturbed, calm_played)
    assert_counted_once(disturbed, struck_played)
    assert abs(disturbed["counted"] - undisturbed["counted"]) <= HEARTBEAT_SECONDS, (undisturbed, disturbed)
