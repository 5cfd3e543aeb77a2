"""Publishing in a real browser with real workers: a publisher uploads a clip and watches the
transcode reach 100 %, builds and submits a course, a reviewer approves it, and it appears in the
catalog with a video that plays."""

import re

import pytest
from playwright.sync_api import Browser, expect

from lms.accounts.models import OrgKind, Role
from lms.extensions import db
from tests.clips import make_lecture
from tests.conftest import TEST_PASSWORD, credit_code, id_number
from tests.e2e.conftest import serving_with_workers, until
from tests.e2e.pages import sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def lecture(tmp_path_factory):
    """20 s at 640x360: long enough that the transcode reports progress along the way."""
    return make_lecture(tmp_path_factory.mktemp("upload") / "第一讲-应急预案.mp4", 20)


@pytest.fixture(scope="module")
def site(tmp_path_factory, live_server):
    """A server with a queue of its own and one real consumer per queue (depends on live_server
    only so the per-test rollback fixture stands aside)."""
    with serving_with_workers(tmp_path_factory.mktemp("publishing"), "publishing") as site:
        yield site


def account(app, role, n, **grant):
    from lms.accounts import services as accounts

    with app.test_request_context():
        user = accounts.create_person(None, accounts.PersonData(
            real_name={"publisher": "发布员", "reviewer": "审核员", "learner": "学员"}[role],
            id_number=id_number(f"11010519850101{n:03d}"), password=TEST_PASSWORD, mobile=f"137{n:08d}",
            region_code="110000", employer_name="测试单位", employer_credit_code=credit_code("91110105MA01ABCD5")))
        if role == "publisher":
            grant["organization"] = accounts.get_or_create_organization("北京市应急管理培训中心", OrgKind.PUBLISHER)
        accounts.grant_role(None, user, Role(role), **grant)
        db.session.commit()
        return user.mobile


def test_upload_transcode_submit_approve_and_play(site, browser: Browser, lecture):
    app, base = site
    publisher = browser.new_page(locale="zh-CN")
    sign_in(publisher, base, account(app, "publisher", 1))

    # Upload: the bar fills while the file goes up, then follows the transcode to 100 %.
    publisher.goto(base + "/publish/media")
    publisher.get_by_label("视频文件").set_input_files(str(lecture))
    publisher.get_by_role("button", name="上传").click()
    row = publisher.locator(".asset-row", has_text=lecture.name)
    expect(row).to_be_visible(timeout=30_000)
    expect(row.get_by_text("已完成，可以在课时中选用。")).to_be_visible(timeout=90_000)
    expect(row.locator(".progress-bar")).to_have_text("100%")
    expect(row.locator(".progress")).to_have_attribute("aria-valuenow", "100")

    # A course with one video lesson.
    publisher.goto(base + "/publish/courses/new")
    publisher.get_by_label("课程编号").fill("GX-E2E-001")
    publisher.get_by_label("课程名称").fill("应急预案编制与演练")
    publisher.get_by_label("科目主题").select_option(label="应急管理")
    publisher.get_by_label("课程简介").fill("讲解应急预案的编制要点与演练组织。")
    publisher.get_by_label("设置结业测验").uncheck()
    publisher.get_by_role("button", name="创建课程").click()
    expect(publisher.get_by_text("课程已创建")).to_be_visible()
    publisher.get_by_label("新章节名称").fill("第一章 预案编制")
    publisher.get_by_role("button", name="添加章节").click()
    publisher.get_by_label("新课时名称").fill("预案的结构与要素")
    publisher.get_by_role("button", name="添加课时").click()
    publisher.get_by_role("link", name="预案的结构与要素").click()
    select = publisher.get_by_label("视频", exact=True)
    option = select.locator("option", has_text=lecture.name).get_attribute("value")
    select.select_option(value=option)
    publisher.get_by_role("button", name="保存").click()
    expect(publisher.get_by_text("课时已保存")).to_be_visible()
    publisher.get_by_role("button", name="提交审核").click()
    expect(publisher.get_by_text("已提交审核")).to_be_visible()

    reviewer = browser.new_page(locale="zh-CN")
    sign_in(reviewer, base, account(app, "reviewer", 2))
    reviewer.goto(base + "/review/")
    reviewer.get_by_role("link", name=re.compile("应急预案编制与演练")).click()
    reviewer.get_by_role("button", name="通过并发布").click()
    expect(reviewer.get_by_text("已通过审核并发布")).to_be_visible()

    # In the catalog, and the lesson's video plays for a learner.
    learner = browser.new_page(locale="zh-CN")
    learner.goto(base + "/courses")
    learner.get_by_role("link", name="应急预案编制与演练").click()
    expect(learner.get_by_text("视频 · 20 秒")).to_be_visible()
    sign_in(learner, base, account(app, "learner", 3))
    learner.goto(base + "/courses/GX-E2E-001")
    learner.locator("form[action$='/enrol'] button").click()
    expect(learner.get_by_text("应急预案编制与演练").first).to_be_visible()
    learner.goto(base + "/learn/GX-E2E-001")
    video = learner.locator("#lesson-video")
    expect(video).to_be_visible()
    until(learner, "document.getElementById('lesson-video').readyState >= 1")
    assert 19 <= learner.evaluate("document.getElementById('lesson-video').duration") <= 21
    learner.evaluate("document.getElementById('lesson-video').muted = true")
    learner.evaluate("document.getElementById('lesson-video').play()")
    until(learner, "document.getElementById('lesson-video').currentTime > 1")



def test_a_large_video_goes_up_in_parts_and_a_reload_resumes_it(site, browser: Browser, clips, tmp_path):
    """30 MB in 8 MiB parts: the bar moves; the network fails after two parts, the page is
    reloaded, the same file chosen again carries on from 16 MiB instead of starting over."""
    from tests.clips import pad_with_free_box

    app, base = site
    video = pad_with_free_box(clips["video"], tmp_path / "第五讲-分片上传.mp4", 30 * 1024 * 1024)
    page = browser.new_page(locale="zh-CN")
    sign_in(page, base, account(app, "publisher", 5))
    page.goto(base + "/publish/media")
    offsets: list[int] = []
    page.on("request", lambda r: offsets.append(int(r.headers["upload-offset"])) if r.method == "PATCH" else None)
    sent = {"parts": 0}

    def flaky(route):
        if route.request.method == "PATCH":
            if sent["parts"] >= 2:
                route.abort("internetdisconnected")
                return
            sent["parts"] += 1
        route.continue_()

    page.route("**/publish/uploads/**", flaky)
    page.get_by_label("视频文件").set_input_files(str(video))
    page.get_by_role("button", name="上传", exact=True).click()
    progress = page.locator("#upload-progress")
    expect(progress).to_have_attribute("aria-valuenow", "53", timeout=30_000)  # 16 of 30 MiB
    expect(page.locator("#upload-status")).to_contain_text("网络中断", timeout=30_000)
    page.unroute("**/publish/uploads/**")

    page.reload()
    expect(page.locator("#upload-status")).to_contain_text("有未完成的上传：" + video.name)
    before_resume = len(offsets)
    page.get_by_label("视频文件").set_input_files(str(video))
    page.get_by_role("button", name="上传", exact=True).click()
    row = page.locator(".asset-row", has_text=video.name)
    expect(row).to_be_visible(timeout=60_000)  # finished: the page reloads into the library
    resumed = offsets[before_resume:]
    assert resumed[0] == 16 * 1024 * 1024 and 0 not in resumed, offsets
    assert resumed[-1] == 24 * 1024 * 1024  # the last part
    expect(row.get_by_text("已完成，可以在课时中选用。")).to_be_visible(timeout=90_000)
    assert "有未完成的上传" not in page.locator("#upload-status").inner_text()
