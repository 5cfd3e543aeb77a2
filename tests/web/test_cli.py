"""The flask commands: users and course packages."""

import shutil
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from lms.accounts.models import Role, RoleGrant, User
from lms.catalog.models import Course
from lms.media.models import MediaAsset
from tests.conftest import TEST_PASSWORD, id_number

ROOT = Path(__file__).resolve().parents[2]


def approved_by(make_user) -> list[str]:
    """A publishing import names its approving reviewer (separation of duties)."""
    return ["--approved-by", make_user(roles=(Role.REVIEWER,), real_name="导入审核员").mobile]


def test_users_create_and_grant(runner, db_session):
    number = id_number("44030419920315123")
    result = runner.invoke(args=["users", "create", "--name", "陈静", "--id-number", number,
                                 "--password", TEST_PASSWORD, "--mobile", "13600000001",
                                 "--role", "publisher", "--org-name", "广东省专业技术人员继续教育基地"])
    assert result.exit_code == 0, result.output
    assert number[:4] + "**********" + number[-4:] in result.output and number not in result.output
    user = db_session.scalar(select(User).where(User.mobile == "13600000001"))
    assert user.has_role(Role.PUBLISHER)
    assert user.grants_for(Role.PUBLISHER)[0].organization.name == "广东省专业技术人员继续教育基地"

    result = runner.invoke(args=["users", "grant", "13600000001", "hr_auditor", "--region", "440000"])
    assert result.exit_code == 0, result.output
    db_session.refresh(user)
    assert user.grants_for(Role.HR_AUDITOR)[0].region_code == "440000"


def test_users_create_rejects_bad_id_number_and_creates_nothing(runner, db_session):
    before = db_session.scalar(select(func.count(User.id)))
    result = runner.invoke(args=["users", "create", "--name", "陈静", "--id-number", "440304199203151230",
                                 "--password", TEST_PASSWORD, "--mobile", "13600000002"])
    assert result.exit_code != 0 and "校验码" in result.output
    assert db_session.scalar(select(func.count(User.id))) == before


def test_users_grant_role_needing_org_says_so(runner, make_user):
    user = make_user()
    result = runner.invoke(args=["users", "grant", user.mobile, "unit_admin"])
    assert result.exit_code != 0 and "--org-name" in result.output


@pytest.mark.parametrize("args,words", [
    (["inspector", "--org-name", "某公司"], "不属于某个机构"),  # an inspector's organization is their employer
    (["reviewer", "--org-code", "91320102MA1WXYU00A"], "不属于某个机构"),
    (["inspector", "--region", "110000"], "不按地区授予"),
    (["unit_admin", "--org-name", "某公司", "--region", "110000"], "不按地区授予"),
])
def test_users_grant_refuses_options_the_role_does_not_take(runner, make_user, db_session, args, words):
    user = make_user()
    before = db_session.scalar(select(func.count(RoleGrant.id)))
    result = runner.invoke(args=["users", "grant", user.mobile, *args])
    assert result.exit_code != 0 and words in result.output, result.output
    assert db_session.scalar(select(func.count(RoleGrant.id))) == before


def test_users_revoke_disable_and_enable_call_the_console_services(runner, make_user, db_session):
    user = make_user(roles=(Role.LEARNER, Role.REVIEWER))
    result = runner.invoke(args=["users", "revoke", user.mobile, "reviewer", "--reason", "岗位调整"])
    assert result.exit_code == 0, result.output
    db_session.refresh(user)
    assert not user.has_role(Role.REVIEWER)
    assert "没有角色" in runner.invoke(args=["users", "revoke", user.mobile, "reviewer"]).output
    result = runner.invoke(args=["users", "disable", user.mobile, "--reason", "本人申请"])
    assert result.exit_code == 0 and "已停用" in result.output and user.id_number_masked in result.output
    db_session.refresh(user)
    assert not user.is_active_account
    again = runner.invoke(args=["users", "disable", user.mobile, "--reason", "本人申请"])
    assert again.exit_code != 0 and "已是停用状态" in again.output
    result = runner.invoke(args=["users", "enable", user.mobile, "--reason", "核实身份"])
    assert result.exit_code == 0, result.output
    db_session.refresh(user)
    assert user.is_active_account
    short = runner.invoke(args=["users", "disable", user.mobile, "--reason", "短"])
    assert short.exit_code != 0 and "原因" in short.output


def test_courses_import_reports_file_and_field_and_imports_nothing(runner, db_session, tmp_path, make_user):
    good = tmp_path / "GX-EM-001"
    bad = tmp_path / "GX-EM-002"
    shutil.copytree(ROOT / "courses" / "GX-EM-001", good)
    shutil.copytree(ROOT / "courses" / "GX-EM-002", bad)
    data = yaml.safe_load((bad / "course.yaml").read_text(encoding="utf-8"))
    data["chapters"][0]["lessons"][0]["text"] = "../GX-EM-001/course.yaml"
    (bad / "course.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    courses_before = db_session.scalar(select(func.count(Course.id)))
    assets_before = db_session.scalar(select(func.count(MediaAsset.id)))

    result = runner.invoke(args=["courses", "import", *approved_by(make_user), str(tmp_path)])
    assert result.exit_code != 0
    assert "GX-EM-002/course.yaml: chapters[0].lessons[0].text" in result.output
    assert "未导入任何内容" in result.output
    assert db_session.scalar(select(func.count(Course.id))) == courses_before
    assert db_session.scalar(select(func.count(MediaAsset.id))) == assets_before


def test_failure_during_import_rolls_back_rows_and_removes_copied_videos(app, runner, db_session, make_user):
    from lms.core.storage import media_root

    with app.app_context():
        root = media_root()
    files_before = {p for p in root.rglob("*") if p.is_file()}
    courses_before = db_session.scalar(select(func.count(Course.id)))
    # GX-EM-001 imports (copying its videos) before GX-NS-001, already in the catalog, is refused.
    result = runner.invoke(args=["courses", "import", *approved_by(make_user), str(ROOT / "courses" / "GX-EM-001"),
                                 str(ROOT / "courses" / "GX-NS-001")])
    assert result.exit_code != 0 and "GX-NS-001 已存在" in result.output
    assert db_session.scalar(select(func.count(Course.id))) == courses_before
    assert db_session.scalar(select(Course.id).where(Course.code == "GX-EM-001")) is None
    assert {p for p in root.rglob("*") if p.is_file()} == files_before


def test_cli_never_prints_a_full_id_number(runner):
    number = id_number("11010519491231002")
    result = runner.invoke(args=["users", "grant", number, "learner"])
    assert result.exit_code != 0 and "找不到账号" in result.output
    assert number not in result.output and "1101**********002X" in result.output


def test_courses_import_then_skip_existing(runner, db_session, make_user):
    approver = approved_by(make_user)
    result = runner.invoke(args=["courses", "import", *approver, str(ROOT / "courses" / "GX-EM-002")])
    assert result.exit_code == 0, result.output
    assert "已导入 GX-EM-002" in result.output
    again = runner.invoke(args=["courses", "import", *approver, str(ROOT / "courses" / "GX-EM-002")])
    assert again.exit_code != 0 and "已存在" in again.output
    skipped = runner.invoke(args=["courses", "import", *approver, "--skip-existing",
                                  str(ROOT / "courses" / "GX-EM-002")])
    assert skipped.exit_code == 0 and "跳过 GX-EM-002" in skipped.output


def test_setup_is_repeatable(runner):
    result = runner.invoke(args=["setup"])
    assert result.exit_code == 0, result.output
    assert "数据库已就绪" in result.output


def test_demo_prints_one_account_per_role_and_can_run_twice(app, runner, db_session, tmp_path):
    shutil.copytree(ROOT / "courses" / "GX-IP-001", tmp_path / "GX-IP-001")
    first = runner.invoke(args=["demo", "--courses", str(tmp_path)])
    assert first.exit_code == 0, first.output
    for label in ("学员", "课件发布机构", "课程审核员", "单位管理员", "人社审核", "平台管理员"):
        assert label in first.output
    assert "已导入 GX-IP-001" in first.output
    users = db_session.scalar(select(func.count(User.id)))

    second = runner.invoke(args=["demo", "--courses", str(tmp_path)])
    assert second.exit_code == 0, second.output
    assert "跳过 GX-IP-001" in second.output
    assert db_session.scalar(select(func.count(User.id))) == users
    logins = [line.split()[2] for line in first.output.splitlines() if "账号 " in line]
    assert logins == [line.split()[2] for line in second.output.splitlines() if "账号 " in line]
    credentials = Path(app.instance_path) / "demo-accounts.txt"
    assert credentials.stat().st_mode & 0o077 == 0
    credentials.unlink()


def test_the_demo_unit_admin_is_a_confirmed_member_not_a_pending_learner(app, runner, db_session, tmp_path, client,
                                                                          login):
    from lms.accounts.models import EmploymentStatus

    shutil.copytree(ROOT / "courses" / "GX-IP-001", tmp_path / "GX-IP-001")
    result = runner.invoke(args=["demo", "--courses", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (Path(app.instance_path) / "demo-accounts.txt").unlink()
    admin = db_session.scalar(select(User).where(User.real_name == "演示单位管理员"))
    learner = db_session.scalar(select(User).where(User.real_name == "演示学员"))
    assert admin.employment_status == EmploymentStatus.APPROVED and admin.employer_id == learner.employer_id
    password = next(line.split()[-1] for line in result.output.splitlines() if f"账号 {admin.mobile}" in line)
    login(admin, password)
    page = client.get("/unit")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    pending = html[html.index('id="pending-h"'):html.index("</section>", html.index('id="pending-h"'))]
    assert "演示学员" in pending and "演示单位管理员" not in pending  # the learner still shows how approval works


def test_users_reset_password_sets_a_new_one_and_ends_every_session(runner, db_session, make_user, client, login):
    from lms.accounts import services
    from lms.accounts.models import UserSession
    from lms.core.audit import AuditEvent

    user = make_user()
    login(user)
    assert client.get("/profile").status_code == 200
    new = "Reset2026ok"
    weak = runner.invoke(args=["users", "reset-password", user.mobile, "--password", "abcdefgh"])
    assert weak.exit_code != 0 and "字母和数字" in weak.output  # the same rules as a change of one's own
    assert services.authenticate(user.mobile, TEST_PASSWORD) is not None  # nothing changed
    unknown = runner.invoke(args=["users", "reset-password", "13999999999", "--password", new])
    assert unknown.exit_code != 0 and "找不到账号" in unknown.output

    result = runner.invoke(args=["users", "reset-password", user.mobile, "--password", new])
    assert result.exit_code == 0, result.output
    assert user.id_number_masked in result.output and new not in result.output
    assert services.authenticate(user.mobile, TEST_PASSWORD) is None
    assert services.authenticate(user.mobile, new) is not None
    assert client.get("/profile").status_code in (302, 401)  # the old session is over
    live = db_session.scalar(select(func.count()).select_from(UserSession).where(
        UserSession.user_id == user.id, UserSession.revoked_at.is_(None)))
    assert live == 0
    assert db_session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "user.password_reset")) == 1


def test_exams_reset_and_audit_export(app, runner, make_user, db_session, tmp_path):
    import csv

    from lms.core.audit import AuditEvent
    from lms.learning import exam
    from lms.learning import services as learning
    from tests.learning_helpers import Clock, course, study_all_lessons

    learner = make_user(real_name="命令行补考")
    with app.test_request_context():
        c = course(db_session)
        enrollment = learning.enroll(learner, c.code)
        tick = Clock()
        study_all_lessons(learner.id, c, tick)
        with tick():
            exam.submit_attempt(learner, exam.start_attempt(learner, enrollment), {})
        db_session.commit()
    missing = runner.invoke(args=["exams", "reset", learner.mobile, "GX-XX-999", "--reason", "系统故障"])
    assert missing.exit_code != 0 and "没有报名课程" in missing.output
    result = runner.invoke(args=["exams", "reset", learner.mobile, "gx-ns-001", "--reason", "系统故障"])
    assert result.exit_code == 0 and "重置课程 GX-NS-001 的 1 次测验" in result.output, result.output
    again = runner.invoke(args=["exams", "reset", learner.mobile, "GX-NS-001", "--reason", "系统故障"])
    assert again.exit_code != 0 and "无需重置" in again.output

    out = tmp_path / "audit.csv"
    result = runner.invoke(args=["audit", "export", "--out", str(out), "--action", "exam.attempts_reset",
                                 "--target-id", str(learner.id)])
    assert result.exit_code == 0 and "已导出 1 条" in result.output, result.output
    rows = list(csv.reader(out.read_text(encoding="utf-8-sig").splitlines()))
    assert len(rows) == 2 and rows[1][1] == "系统" and rows[1][4] == "exam.attempts_reset"
    assert db_session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "audit.exported")) >= 1
    bad = runner.invoke(args=["audit", "export", "--out", str(tmp_path / "a.pdf")])
    assert bad.exit_code != 0 and "CSV 或 XLSX" in bad.output
    bad = runner.invoke(args=["audit", "export", "--out", str(out), "--since", "2026-02-30"])
    assert bad.exit_code != 0 and "开始日期" in bad.output
