"""The exam pages with a seeded draw: an attempt shows fewer questions than the pool, the next
attempt another set, and the page of a failed attempt marks the learner's answers right or wrong
without giving away a single correct answer."""

import html
import random
import re

import pytest
from sqlalchemy import select

from lms.assessment.models import QuizQuestion
from lms.learning import exam
from lms.learning.models import QuizAttempt
from tests.learning_helpers import Clock, correct_answers, course, study_all_lessons

LETTERS = "ABCDEFGH"


@pytest.fixture
def ready_client(app, client, db_session, make_user, login, csrf_token, monkeypatch):
    """A signed-in learner who finished every lesson of GX-NS-001, with a seeded draw."""
    monkeypatch.setattr(exam, "rng", random.Random(1129))
    c = course(db_session)
    user = make_user()
    login(user)
    page = client.get(f"/courses/{c.code}").get_data(as_text=True)
    client.post(f"/learn/{c.code}/enrol", data={"csrf_token": csrf_token(page)})
    with app.test_request_context():
        study_all_lessons(user.id, c, Clock())
        db_session.commit()
    return client, user, c


def start(client, c, csrf_token) -> tuple[str, str]:
    """Start (or resume) an attempt from the exam page; the attempt's URL and its form."""
    page = client.get(f"/learn/{c.code}/exam").get_data(as_text=True)
    response = client.post(f"/learn/{c.code}/exam", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302, response.get_data(as_text=True)
    url = response.headers["Location"]
    return url, client.get(url).get_data(as_text=True)


def latest_attempt(db_session, user) -> QuizAttempt:
    return db_session.scalar(select(QuizAttempt).where(QuizAttempt.user_id == user.id).order_by(QuizAttempt.id.desc()))


def wrong_answer(q: QuizQuestion, order: list[int]) -> list[str]:
    """A wrong answer in the attempt's shown letters: only options that are not right."""
    if q.kind == "truefalse":
        return ["false" if q.answer == "true" else "true"]
    wrong = [LETTERS[shown] for shown, original in enumerate(order) if LETTERS[original] not in q.answer]
    return wrong[:1]


def sections(page: str) -> dict[int, str]:
    found = re.findall(r'<section class="quiz-question[^"]*"[^>]*aria-labelledby="q(\d+)">(.*?)</section>', page, re.S)
    return {int(n): body for n, body in found}


def test_exam_page_says_how_many_questions_an_attempt_draws(ready_client):
    client, user, c = ready_client
    page = client.get(f"/learn/{c.code}/exam").get_data(as_text=True)
    assert "每次从本课程 10 道题的题库中随机抽取 6 题" in page
    assert "未通过时不显示" in page


def test_a_failed_attempt_shows_the_score_and_wrong_questions_but_no_correct_answer(
        ready_client, db_session, csrf_token):
    client, user, c, = ready_client
    url, form = start(client, c, csrf_token)
    attempt = latest_attempt(db_session, user)
    pool = db_session.scalars(select(QuizQuestion).where(QuizQuestion.course_id == c.id)).all()
    assert len(pool) == 10
    assert len(attempt.layout) == 6 and form.count('<fieldset class="quiz-question') == 6  # fewer than the pool

    # The first question answered right, the other five wrong: 17 points, failed.
    questions = {item["q"]: db_session.get(QuizQuestion, item["q"]) for item in attempt.layout}
    right = correct_answers(attempt)
    answers = {}
    for n, item in enumerate(attempt.layout, 1):
        q = questions[item["q"]]
        answers[f"q-{q.id}"] = right[str(q.id)] if n == 1 else wrong_answer(q, item["o"])
    result = client.post(url, data={"csrf_token": csrf_token(form), **answers}, follow_redirects=True)
    page = result.get_data(as_text=True)
    assert result.status_code == 200
    assert "得分：17 分" in page and "未通过" in page and "答对 1 题" in page
    assert "您还可参加 2 次，下次将从题库重新随机抽题" in page

    # Nothing names or marks the key, anywhere on the page.
    assert "正确答案：" not in page and "解析：" not in page  # the labels of the key and the explanations
    for q in pool:
        if q.explanation:
            assert html.escape(q.explanation, quote=False) not in page
    assert not re.search(r"data-(answer|correct|key)", page, re.I)
    assert all(name == "csrf_token" for name in re.findall(r'<input type="hidden" name="([^"]+)"', page))
    assert not [cls for cls in re.findall(r'class="([^"]*)"', page) if re.search(r"correct|answer|key", cls)]

    shown = sections(page)
    assert sorted(shown) == list(range(1, 7))
    for n, item in enumerate(attempt.layout, 1):
        q, body = questions[item["q"]], shown[n]
        assert ("✓ 答对" in body) == (n == 1) and ("✗ 答错" in body) == (n != 1)
        if n == 1:
            continue
        # The learner's own (wrong) answer is shown as theirs ...
        given = answers[f"q-{q.id}"][0]
        assert f"您的答案：{ {'true': '正确', 'false': '错误'}.get(given, given) }" in body
        # ... and every option they did not tick, the right one included, is plain: its letter and text.
        items = re.findall(r"<li>(.*?)</li>", body, re.S)
        if q.kind == "truefalse":
            labels = {"true": "正确", "false": "错误"}
            assert set(items) == {labels[q.answer], labels[given] + ' <span class="badge text-bg-secondary">您的选择</span>'}
            continue
        for shown_i, original in enumerate(item["o"]):
            letter, text = LETTERS[shown_i], html.escape(q.options[original], quote=False)
            plain = f"{letter}. {text}"
            if letter == given:
                assert items[shown_i] == plain + ' <span class="badge text-bg-secondary">您的选择</span>'
            else:
                assert items[shown_i] == plain  # not marked, whether it is the right option or not


def test_the_next_attempt_draws_another_set_and_a_pass_shows_the_key(ready_client, db_session, csrf_token):
    client, user, c = ready_client
    url, form = start(client, c, csrf_token)
    first = latest_attempt(db_session, user)
    client.post(url, data={"csrf_token": csrf_token(form)})  # nothing ticked: 0 points
    url, form = start(client, c, csrf_token)
    second = latest_attempt(db_session, user)
    assert second.id != first.id and len(second.layout) == 6
    assert {i["q"] for i in second.layout} != {i["q"] for i in first.layout}

    answers = {f"q-{qid}": letters for qid, letters in correct_answers(second).items()}
    page = client.post(url, data={"csrf_token": csrf_token(form), **answers}, follow_redirects=True).get_data(as_text=True)
    assert "得分：100 分" in page and "正确答案：" in page
    for item in second.layout:
        q = db_session.get(QuizQuestion, item["q"])
        assert html.escape(q.explanation, quote=False) in page
