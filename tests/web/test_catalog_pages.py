from decimal import Decimal

from lms.catalog.models import Category, Course, CourseStatus, Subject


def test_home_shows_themes_and_newest_courses(client):
    html = client.get("/").get_data(as_text=True)
    for theme in ("数字技术", "知识产权", "网络安全", "应急管理"):
        assert theme in html
    assert "《网络安全法》与数据安全" in html and "人工智能通识" in html


def test_catalog_filters_by_subject_and_category(client):
    html = client.get("/courses?subject=cybersecurity").get_data(as_text=True)
    assert "《网络安全法》与数据安全" in html and "人工智能通识" not in html
    html = client.get("/courses?category=elective").get_data(as_text=True)
    assert "共 0 门课程" in html and "清除筛选条件" in html


def test_catalog_search_words_match_title_and_summary(client):
    html = client.get("/courses?q=人工智能").get_data(as_text=True)
    assert "人工智能通识" in html and "《网络安全法》与数据安全" not in html
    # Tags count too, and case does not matter on either database.
    assert "《网络安全法》与数据安全" in client.get("/courses?q=cybersecurity").get_data(as_text=True)
    # LIKE wildcards typed by a user are matched literally, not as "anything".
    assert "共 0 门课程" in client.get("/courses?q=_%25_").get_data(as_text=True)


def test_catalog_paginates(app, client, db_session):
    subject = db_session.query(Subject).filter_by(code="ethics").one()
    publisher = db_session.get(Course, 1).publisher
    for n in range(app.config["CATALOG_PAGE_SIZE"] + 3):
        db_session.add(Course(code=f"T-PAGE-{n:02d}", title=f"职业道德专题{n:02d}", subject=subject,
                              category=Category.PUBLIC, credit_hours=Decimal("1"), publisher=publisher,
                              status=CourseStatus.PUBLISHED, summary="", syllabus=""))
    db_session.commit()
    first = client.get("/courses?subject=ethics").get_data(as_text=True)
    second = client.get("/courses?subject=ethics&page=2").get_data(as_text=True)
    assert f"共 {app.config['CATALOG_PAGE_SIZE'] + 3} 门课程" in first
    assert first.count('class="card result-card') == app.config["CATALOG_PAGE_SIZE"]
    assert second.count('class="card result-card') == 3
    assert 'aria-current="page">2<' in second
    # A page past the end shows the last page rather than an error.
    assert client.get("/courses?subject=ethics&page=99").status_code == 200


def test_course_page_shows_syllabus_hours_publisher_and_lessons(client):
    html = client.get("/courses/GX-NS-001").get_data(as_text=True)
    assert "教学大纲" in html and "2 学时" in html and "公需课程资源中心" in html
    assert "60 分及格" in html
    assert html.count('class="list-group-item') >= 5


def test_unpublished_and_unknown_courses_are_404(client, db_session):
    course = db_session.query(Course).filter_by(code="GX-DT-002").one()
    course.status = CourseStatus.DRAFT
    db_session.commit()
    response = client.get("/courses/GX-DT-002")
    assert response.status_code == 404 and "课程不存在或尚未发布" in response.get_data(as_text=True)
    assert client.get("/courses/NOPE").status_code == 404


def test_unknown_page_is_a_chinese_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404 and "页面不存在" in response.get_data(as_text=True)


def test_healthz_says_only_ok(client, app):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_help_page_explains_rules(client):
    assert "45 分钟计 1 学时" in client.get("/help").get_data(as_text=True)
