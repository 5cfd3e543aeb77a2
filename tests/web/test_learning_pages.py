"""Learner pages and the player's JSON API: enrol, my learning, player, heartbeat auth, exam."""

import re

import pytest
from sqlalchemy import select

from lms.learning.models import LessonProgress, PlaySession, QuizAttempt
from tests.learning_helpers import course


def _api(client, path, body, token):
    return client.post(f"/api/v1/learning/{path}", json=body, headers={"X-CSRFToken": token})


def _page_token(client, csrf_token, url="/my/learning"):
    return csrf_token(client.get(url).get_data(as_text=True))


def test_enrol_from_the_course_page_and_see_my_learning(client, db_session, make_user, login, csrf_token):
    c = course(db_session)
    page = client.get(f"/courses/{c.code}").get_data(as_text=True)
    assert "报名学习" not in page  # anonymous: sign in first
    login(make_user())
    page = client.get(f"/courses/{c.code}").get_data(as_text=True)
    assert "报名学习（免费）" in page
    response = client.post(f"/learn/{c.code}/enrol", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    mine = client.get("/my/learning").get_data(as_text=True)
    assert c.title in mine and "开始学习" in mine and "已完成 0 / 6 个课时" in mine
    assert "继续学习" in client.get(f"/courses/{c.code}").get_data(as_text=True)
    player = client.get(f"/learn/{c.code}", follow_redirects=True).get_data(as_text=True)
    assert 'id="lesson-video"' in player and "有效学习时间" in player and "课程目录" in player
    assert "player.js" in player and "<script>" not in player  # no inline scripts (CSP)


def test_player_requires_enrolment(client, db_session, make_user, login):
    c = course(db_session)
    login(make_user())
    response = client.get(f"/learn/{c.code}/{c.lessons[0].id}")
    assert response.status_code == 403 and "报名学习" in response.get_data(as_text=True)


def test_reading_lesson_page_renders_markdown(client, db_session, make_user, login, csrf_token):
    c = course(db_session)
    login(make_user())
    page = client.get(f"/courses/{c.code}").get_data(as_text=True)
    client.post(f"/learn/{c.code}/enrol", data={"csrf_token": csrf_token(page)})
    reading = next(lesson for lesson in c.lessons if lesson.kind == "reading")
    html = client.get(f"/learn/{c.code}/{reading.id}").get_data(as_text=True)
    assert "reading-body" in html and "<h" in html.split("reading-body", 1)[1]
    assert "图文课时打开并停留在页面上阅读满规定时间即完成" in html


@pytest.fixture
def enrolled_client(client, db_session, make_user, login, csrf_token):
    c = course(db_session)
    user = make_user()
    login(user)
    page = client.get(f"/courses/{c.code}").get_data(as_text=True)
    client.post(f"/learn/{c.code}/enrol", data={"csrf_token": csrf_token(page)})
    return client, user, c, _page_token(client, csrf_token)


def test_heartbeat_api_round_trip_and_csrf(enrolled_client, db_session):
    client, user, c, token = enrolled_client
    lesson = c.lessons[0]
    assert client.post("/api/v1/learning/sessions", json={"lesson_id": lesson.id}).status_code == 403  # no token
    started = _api(client, "sessions", {"lesson_id": lesson.id}, token)
    assert started.status_code == 200
    sid = started.json["session_id"]
    beat = {"session_id": sid, "seq": 1, "position": 1, "segments": [[0, 1]], "rate": 1, "visible": True}
    # sendBeacon: text/plain body with the token inside.
    response = client.post("/api/v1/learning/heartbeat", data=__import__("json").dumps({**beat, "csrf_token": token}),
                           content_type="text/plain")
    assert response.status_code == 200 and response.json["status"] == "ok"
    assert response.json["watched_percent"] >= 0 and "not_counted" in response.json
    assert _api(client, "heartbeat", {**beat, "seq": "x"}, token).status_code == 400
    again = _api(client, "heartbeat", beat, token)
    assert again.status_code == 200 and again.json["seq"] == 1  # duplicate: nothing changes
    # A second tab takes the lease; the first is told to stop.
    _api(client, "sessions", {"lesson_id": lesson.id}, token)
    stale = _api(client, "heartbeat", {**beat, "seq": 2}, token)
    assert stale.status_code == 409 and "其他页面或设备" in stale.json["message"]


def test_another_learner_cannot_use_my_session_progress_or_attempt(
        app, enrolled_client, db_session, make_user, csrf_token):
    client, user, c, token = enrolled_client
    sid = _api(client, "sessions", {"lesson_id": c.lessons[0].id}, token).json["session_id"]
    progress_id = db_session.get(PlaySession, sid).progress_id
    from lms.learning import services

    with app.test_request_context():
        enrollment = services.find_enrollment(user.id, c.code)
    attempt = QuizAttempt(user_id=user.id, course_id=c.id, enrollment_id=enrollment.id, layout=[], pass_score=60)
    db_session.add(attempt)
    db_session.commit()
    assert client.get(f"/api/v1/learning/progress/{progress_id}").status_code == 200

    intruder = app.test_client()
    other = make_user()
    page = intruder.get("/login").get_data(as_text=True)
    intruder.post("/login", data={"login": other.mobile, "password": "Study2026ok", "csrf_token": csrf_token(page)})
    other_token = _page_token(intruder, csrf_token)
    beat = {"session_id": sid, "seq": 5, "position": 1, "segments": [[0, 1]]}
    assert _api(intruder, "heartbeat", beat, other_token).status_code == 403
    assert _api(intruder, "attention", {"session_id": sid}, other_token).status_code == 403
    assert intruder.get(f"/api/v1/learning/progress/{progress_id}").status_code == 403
    assert intruder.get(f"/learn/exam/{attempt.id}").status_code == 403
    assert intruder.post(f"/learn/exam/{attempt.id}", data={"csrf_token": other_token}).status_code == 403
    assert db_session.get(PlaySession, sid).seq == 0


def test_exam_page_waits_for_the_lessons_and_never_sends_answers(enrolled_client, db_session, app, csrf_token):
    client, user, c, token = enrolled_client
    page = client.get(f"/learn/{c.code}/exam").get_data(as_text=True)
    assert "请先完成全部课时" in page
    # Study everything (service level, moved clock), then take the exam through the pages.
    from tests.learning_helpers import Clock, study_all_lessons

    with app.test_request_context():
        study_all_lessons(user.id, c, Clock())
        db_session.commit()
    page = client.get(f"/learn/{c.code}/exam").get_data(as_text=True)
    response = client.post(f"/learn/{c.code}/exam", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    form = client.get(response.headers["Location"]).get_data(as_text=True)
    attempt = db_session.scalar(select(QuizAttempt).where(QuizAttempt.user_id == user.id))
    from lms.assessment.models import QuizQuestion

    for item in attempt.layout:
        q = db_session.get(QuizQuestion, item["q"])
        if q.explanation:
            assert q.explanation not in form  # nothing about answers before submission
    assert "answer" not in form.lower() or "data-answer" not in form
    from tests.learning_helpers import correct_answers

    with app.test_request_context():
        answers = correct_answers(attempt)
    data = {"csrf_token": csrf_token(form)}
    data.update({f"q-{qid}": letters for qid, letters in answers.items()})
    result = client.post(response.headers["Location"], data=data, follow_redirects=True).get_data(as_text=True)
    assert "得分：100 分" in result and "学时已记入您的年度学时档案" in result and "解析" in result
    mine = client.get("/my/learning").get_data(as_text=True)
    assert re.search(r"已完成，学时已记入档案", mine)
    # A completed course offers a look back and the hours, not "continue".
    assert "回顾课程" in mine and "查看我的学时" in mine and "继续学习" not in mine
    course_page = client.get(f"/courses/{c.code}").get_data(as_text=True)
    assert "已完成 · 回顾课程" in course_page and "继续学习" not in course_page


def test_heartbeats_stop_counting_once_the_password_was_changed_elsewhere(enrolled_client, db_session):
    client, user, c, token = enrolled_client
    sid = _api(client, "sessions", {"lesson_id": c.lessons[0].id}, token).json["session_id"]
    beat = {"session_id": sid, "seq": 1, "position": 1, "segments": [[0, 1]], "rate": 1, "visible": True}
    assert _api(client, "heartbeat", beat, token).status_code == 200
    user.login_epoch += 1  # what a password change on another device does
    db_session.commit()
    refused = _api(client, "heartbeat", {**beat, "seq": 2}, token)
    assert refused.status_code == 403 and "重新登录" in refused.json["error"]["message"]


def test_malformed_beats_and_ids_get_a_clear_answer_never_a_server_error(enrolled_client, db_session):
    client, user, c, token = enrolled_client
    sid = _api(client, "sessions", {"lesson_id": c.lessons[0].id}, token).json["session_id"]
    beat = {"session_id": sid, "seq": 1, "position": 1, "segments": [[0, 1]], "rate": 1, "visible": True}
    for bad in ({"segments": [[0, 10**400]]}, {"position": 10**400}, {"rate": 10**400}, {"seq": 2**31},
                {"seq": 2**63}, {"resend": [{"seq": -1, "segments": []}]}, {"resend": "x"}, {"segments": "x"}):
        response = _api(client, "heartbeat", {**beat, **bad}, token)
        assert response.status_code in (200, 400), (bad, response.status_code)
        if response.status_code == 200:  # dropped as malformed: nothing credited
            assert response.json.get("accepted", []) == []
    deep = "[" * 100_000 + "]" * 100_000
    response = client.post("/api/v1/learning/heartbeat", data=deep, content_type="application/json",
                           headers={"X-CSRFToken": token})
    assert response.status_code == 400 and "JSON" in response.json["error"]["message"]
    assert _api(client, "sessions", {"lesson_id": 2**63}, token).status_code == 404
    assert _api(client, "sessions", {"lesson_id": 2**31}, token).status_code == 404
    assert client.get(f"/api/v1/learning/progress/{2**63}").status_code == 404
    assert client.get(f"/learn/{c.code}/{2**63}").status_code == 404


def test_a_check_owed_from_the_previous_lesson_is_asked_at_once_on_the_next(enrolled_client, db_session):
    from lms.credits.models import RuleSet

    client, user, c, token = enrolled_client
    db_session.add(RuleSet(name="测试规则", region_code=user.region_code, attention_check_min_seconds=1,
                           attention_check_max_seconds=1, attention_window_seconds=60))
    db_session.flush()
    videos = [lesson for lesson in c.lessons if lesson.kind == "video"]
    from tests.learning_helpers import Clock

    tick = Clock()
    with tick():
        sid = _api(client, "sessions", {"lesson_id": videos[0].id}, token).json["session_id"]
    tick.advance(5)
    with tick():
        body = _api(client, "heartbeat", {"session_id": sid, "seq": 1, "position": 5, "segments": [[0, 5]],
                                          "rate": 1, "visible": True}, token).json
    assert body["attention_check"] is not None
    tick.advance(3)
    with tick():
        started = _api(client, "sessions", {"lesson_id": videos[1].id}, token).json
    assert started["attention_check"]["remaining_seconds"] > 0  # the player shows it before any beat
    with tick():
        answered = _api(client, "attention", {"session_id": started["session_id"]}, token).json
    assert answered["attention"] == "passed"
    progress = db_session.scalar(select(LessonProgress).where(LessonProgress.user_id == user.id,
                                                              LessonProgress.lesson_id == videos[0].id))
    assert progress.credited_seconds == 5 and progress.pending_seconds == 0


def test_resent_batches_sharing_a_seq_are_taken_by_seq_alone(enrolled_client, db_session):
    client, user, c, token = enrolled_client
    sid = _api(client, "sessions", {"lesson_id": c.lessons[0].id}, token).json["session_id"]
    response = _api(client, "heartbeat", {"session_id": sid, "seq": 3, "position": 1, "segments": [[0, 1]],
                                          "rate": 1, "visible": True,
                                          "resend": [{"seq": 2, "segments": [[0, 1]]},
                                                     {"seq": 2, "segments": [["a", 1]]}]}, token)
    assert response.status_code == 200  # sorted by seq alone: the client's segments are never compared


def test_the_player_page_resumes_where_the_learner_stopped(enrolled_client, db_session):
    """The page hands the player the saved position (the header's own template variables once shadowed
    ``current`` and the page said 0)."""
    client, user, c, token = enrolled_client
    lesson = c.lessons[0]
    started = _api(client, "sessions", {"lesson_id": lesson.id}, token)
    beat = {"session_id": started.json["session_id"], "seq": 1, "position": 4, "segments": [[0, 4]], "rate": 1,
            "visible": True}
    assert _api(client, "heartbeat", beat, token).json["status"] == "ok"
    saved = db_session.scalars(select(LessonProgress).filter_by(user_id=user.id, lesson_id=lesson.id)).one()
    assert saved.resume_position > 0
    page = client.get(f"/learn/{c.code}/{lesson.id}").get_data(as_text=True)
    assert f'data-resume="{saved.resume_position}"' in page
    assert 'data-furthest="0"' not in page
