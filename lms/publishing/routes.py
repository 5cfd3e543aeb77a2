"""Publisher workspace (/publish) and review queue (/review): parse, load + authorize, one service, respond."""

import shutil
import tempfile
from contextlib import suppress
from decimal import Decimal
from pathlib import Path

from flask import (
    Blueprint,
    abort,
    after_this_request,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import ClientDisconnected

from ..accounts.models import Organization, Role
from ..assessment.models import QuizQuestion
from ..catalog.models import Chapter, Course, Lesson
from ..catalog.packages import PackageError
from ..catalog.services import export_archive
from ..core.audit import record_event
from ..core.clock import utcnow_naive
from ..core.database import writing
from ..core.errors import Conflict, DomainError, InvalidInput
from ..core.forms import run_action, run_form, run_service
from ..core.jobs import enqueue
from ..core.storage import StorageUnavailable, media_storage, remove_created
from ..core.web import FORM_OVERHEAD_BYTES, body_limit, checks_own_input, commit, roles_required
from ..extensions import db
from ..media import services as media
from ..media import uploads
from ..media.models import MediaAsset, Upload, UploadKind, UploadStatus
from ..media.tasks import transcode_job
from . import services
from .forms import CaptionsForm, ChapterForm, CourseForm, LessonForm, QuestionForm, RejectForm, UploadForm

bp = Blueprint("publishing", __name__)


# ---------------------------------------------------------------- loading and authorization

def _course(course_id: int) -> Course:
    course = db.get_or_404(Course, course_id)
    if not services.can_edit(current_user, course):
        abort(403)
    return course


def _chapter(chapter_id: int) -> Chapter:
    chapter = db.get_or_404(Chapter, chapter_id)
    _course(chapter.course_id)
    return chapter


def _lesson(lesson_id: int) -> Lesson:
    lesson = db.get_or_404(Lesson, lesson_id)
    _chapter(lesson.chapter_id)
    return lesson


def _asset(asset_id: int) -> MediaAsset:
    asset = db.get_or_404(MediaAsset, asset_id)
    if asset.organization_id not in services.publisher_orgs(current_user) and not current_user.has_role(Role.ADMIN):
        abort(403)
    return asset


def _upload_cap(setting: str):
    """The body cap of an upload view: the setting (in MB) plus the form around the file, for
    publishers and admins only; anyone else keeps the app-wide cap."""

    def cap() -> int | None:
        if not current_user.is_authenticated or not (current_user.has_role(Role.PUBLISHER)
                                                     or current_user.has_role(Role.ADMIN)):
            return None
        return current_app.config[setting] * 1024 * 1024 + FORM_OVERHEAD_BYTES

    return cap


def _course_data(form: CourseForm) -> services.CourseData:
    return services.CourseData(
        title=form.title.data, subject_id=form.subject_id.data, category=form.category.data,
        summary=form.summary.data or "", syllabus=form.syllabus.data or "", tags=form.tags.data or "",
        credit_hours=Decimal(form.credit_hours.data) if form.credit_hours.data is not None else None,
        has_exam=form.has_exam.data, pass_score=form.pass_score.data)


def _subject_choices(form: CourseForm) -> None:
    form.subject_id.choices = [(s.id, s.name) for s in services.subjects()]


# ---------------------------------------------------------------- courses

@bp.get("/publish/")
@roles_required(Role.PUBLISHER, Role.ADMIN)
def my_courses():
    courses = services.publisher_courses(current_user)
    return render_template("publishing/courses.html", courses=courses, stats=services.course_stats(courses))


@bp.route("/publish/courses/new", methods=["GET", "POST"])
@roles_required(Role.PUBLISHER, Role.ADMIN)
def new_course():
    form = CourseForm()
    _subject_choices(form)
    form.organization_id.choices = [(o.id, o.name) for o in services.publisher_organizations(current_user)]
    created = run_form(form, lambda: services.create_course(
        current_user, services.organization(form.organization_id.data, refusal=_("请选择发布机构。"),
                                            field="organization_id"),
        form.code.data, _course_data(form)))
    if created:
        flash(_("课程已创建。接下来添加章节和课时。"), "success")
        return redirect(url_for(".edit_course", course_id=created.value.id))
    return render_template("publishing/course_new.html", form=form)


@bp.route("/publish/courses/<int:course_id>", methods=["GET", "POST"])
@roles_required(Role.PUBLISHER, Role.ADMIN)
def edit_course(course_id: int):
    course = _course(course_id)
    form = CourseForm(obj=course) if request.method == "GET" else CourseForm()
    _subject_choices(form)
    if not form.is_bound:
        form.tags.data = _("，").join(course.tags or [])
        form.has_exam.data = course.pass_score is not None
        form.pass_score.data = course.pass_score if course.pass_score is not None else 60
    if run_form(form, lambda: services.update_course(current_user, course, _course_data(form))):
        flash(_("课程信息已保存。"), "success")
        return redirect(url_for(".edit_course", course_id=course.id))
    assets = services.media_assets([course.publisher_id])
    return render_template(
        "publishing/course_edit.html", course=course, form=form, chapter_form=ChapterForm(),
        lesson_form=LessonForm(), question_form=QuestionForm(), questions=services.questions_of(course),
        history=services.review_history(course), problems=services.publish_problems(course),
        suggested=services.suggested_credit_hours(course), bounds=services.credit_hours_bounds(course),
        assets=assets, versions=services.versions_of(course))


@bp.post("/publish/courses/<int:course_id>/chapters")
@roles_required(Role.PUBLISHER, Role.ADMIN)
def add_chapter(course_id: int):
    course = _course(course_id)
    return run_action(lambda: services.add_chapter(current_user, course, request.form.get("title", "")),
                _("章节已添加。"), url_for(".edit_course", course_id=course.id, _anchor="outline"))


@bp.post("/publish/chapters/<int:chapter_id>/rename")
@roles_required(Role.PUBLISHER, Role.ADMIN)
def rename_chapter(chapter_id: int):
    chapter = _chapter(chapter_id)
    return run_action(lambda: services.rename_chapter(current_user, chapter, request.form.get("title", "")),
                _("章节名称已修改。"), url_for(".edit_course", course_id=chapter.course_id, _anchor="outline"))


@bp.post("/publish/chapters/<int:chapter_id>/delete")
@roles_required(Role.PUBLISHER, Role.ADMIN)
def delete_chapter(chapter_id: int):
    chapter = _chapter(chapter_id)
    course_id = chapter.course_id
    return run_action(lambda: services.delete_chapter(current_user, chapter), _("章节已删除。"),
                url_for(".edit_course", course_id=course_id, _anchor="outline"))


@bp.post("/publish/chapters/<int:chapter_id>/lessons")
@roles_required(Role.PUBLISHER, Role.ADMIN)
def add_lesson(chapter_id: int):
    chapter = _chapter(chapter_id)
    data = services.LessonData(title=request.form.get("title", ""), kind=request.form.get("kind", "video"),
                               body=request.form.get("body", ""))
    return run_action(lambda: services.add_lesson(current_user, chapter, data), _("课时已添加。"),
                url_for(".edit_course", course_id=chapter.course_id, _anchor="outline"))


@bp.route("/publish/lessons/<int:lesson_id>", methods=["GET", "POST"])
@roles_required(Role.PUBLISHER, Role.ADMIN)
def edit_lesson(lesson_id: int):
    lesson = _lesson(lesson_id)
    course = lesson.chapter.course
    form = LessonForm(obj=lesson) if request.method == "GET" else LessonForm()
    form.media_asset_id.choices = [(0, _("（未选择）"))] + [(a.id, _("%(original_name)s（%(duration_seconds)s 秒）", original_name=a.original_name, duration_seconds=a.duration_seconds))
                                                      for a in services.media_assets([course.publisher_id])]
    if not form.is_bound:
        form.media_asset_id.data = lesson.media_asset_id or 0
    if run_form(form, lambda: services.save_lesson(
            current_user, lesson, services.LessonData(title=form.title.data, kind=form.kind.data,
                                                      body=form.body.data or ""),
            media_asset_id=form.media_asset_id.data)):
        flash(_("课时已保存。"), "success")
        return redirect(url_for(".edit_course", course_id=course.id, _anchor="outline"))
    return render_template("publishing/lesson_edit.html", lesson=lesson, course=course, form=form)


@bp.post("/publish/lessons/<int:lesson_id>/delete")
@roles_required(Role.PUBLISHER, Role.ADMIN)
def delete_lesson(lesson_id: int):
    lesson = _lesson(lesson_id)
    course_id = lesson.chapter.course_id
    return run_action(lambda: services.delete_lesson(current_user, lesson), _("课时已删除。"),
                url_for(".edit_course", course_id=course_id, _anchor="outline"))


@bp.post("/publish/courses/<int:course_id>/move")
@roles_required(Role.PUBLISHER, Role.ADMIN)
def move(course_id: int):
    course = _course(course_id)
    kind = "chapter" if request.form.get("kind") == "chapter" else "lesson"
    direction = -1 if request.form.get("direction") == "up" else 1
    item_id = request.form.get("id", type=int) or 0
    return run_action(lambda: services.move(current_user, course, kind, item_id, direction), _("顺序已调整。"),
                url_for(".edit_course", course_id=course.id, _anchor="outline"))


@bp.post("/publish/courses/<int:course_id>/outline")
@roles_required(Role.PUBLISHER, Role.ADMIN)
def save_outline(course_id: int):
    """The drag-to-reorder editor posts the whole outline as JSON."""
    course = _course(course_id)
    payload = request.get_json(silent=True) or {}
    try:
        order = [(int(item["chapter"]), [int(x) for x in item["lessons"]]) for item in payload.get("outline", [])]
    except (KeyError, TypeError, ValueError):
        return jsonify(error={"code": "invalid_input", "message": _("目录数据格式不正确，请刷新页面后重试。")}), 400
    saved = run_service(lambda: services.reorder_outline(current_user, course, order))
    if not saved:
        return _json_error(saved.error)
    return jsonify(ok=True, message=_("顺序已保存。"))


@bp.post("/publish/courses/<int:course_id>/questions")
@roles_required(Role.PUBLISHER, Role.ADMIN)
def add_question(course_id: int):
    course = _course(course_id)
    form = QuestionForm()
    if not form.validate_on_submit():
        flash(_("题目未保存：%(errors)s", errors=_("；").join(str(e) for errors in form.errors.values() for e in errors)),
              "danger")
        return redirect(url_for(".edit_course", course_id=course.id, _anchor="exam"))
    data = services.QuestionData(kind=form.kind.data, text=form.text.data,
                                 options=(form.options.data or "").splitlines(), answer=form.answer.data,
                                 explanation=form.explanation.data or "")
    return run_action(lambda: services.add_question(current_user, course, data), _("题目已添加。"),
                url_for(".edit_course", course_id=course.id, _anchor="exam"))


@bp.post("/publish/questions/<int:question_id>/delete")
@roles_required(Role.PUBLISHER, Role.ADMIN)
def delete_question(question_id: int):
    question = db.get_or_404(QuizQuestion, question_id)
    course = _course(question.course_id)
    return run_action(lambda: services.delete_question(current_user, question), _("题目已删除。"),
                url_for(".edit_course", course_id=course.id, _anchor="exam"))


@bp.post("/publish/courses/<int:course_id>/submit")
@roles_required(Role.PUBLISHER, Role.ADMIN)
def submit(course_id: int):
    course = _course(course_id)
    return run_action(lambda: services.submit_course(current_user, course), _("已提交审核，审核结果会显示在本页。"),
                url_for(".edit_course", course_id=course.id))


@bp.post("/publish/courses/<int:course_id>/new-version")
@roles_required(Role.PUBLISHER, Role.ADMIN)
def new_version(course_id: int):
    course = _course(course_id)
    created = run_service(lambda: services.new_version(current_user, course))
    if not created:
        flash(created.error.message, "danger")
        return redirect(url_for(".edit_course", course_id=course.id))
    draft = created.value
    flash(_("已创建第 %(version)s 版草稿。已报名的学员继续学习原版本，直到学完。", version=draft.version), "success")
    return redirect(url_for(".edit_course", course_id=draft.id))


@bp.post("/publish/courses/<int:course_id>/retire")
@roles_required(Role.PUBLISHER, Role.ADMIN, Role.REVIEWER)
def retire(course_id: int):
    course = db.get_or_404(Course, course_id)
    target = url_for(".edit_course", course_id=course.id) if services.can_edit(current_user, course) \
        else url_for(".review_queue")
    return run_action(lambda: services.retire_course(current_user, course, request.form.get("reason", "")),
                _("课程已下线，不再出现在课程目录中。"), target)


# ---------------------------------------------------------------- media library

@bp.get("/publish/media")
@roles_required(Role.PUBLISHER, Role.ADMIN)
def media_library():
    assets = services.media_assets(services.publisher_orgs(current_user))
    return render_template("publishing/media.html", assets=assets, form=UploadForm(), captions_form=CaptionsForm(),
                           max_mb=current_app.config["LMS_MAX_UPLOAD_MB"], is_stalled=media.is_stalled,
                           organizations=services.publisher_organizations(current_user))


@bp.post("/publish/media")
@body_limit(_upload_cap("LMS_MAX_UPLOAD_MB"))
@roles_required(Role.PUBLISHER, Role.ADMIN)
def upload_media():
    max_bytes = current_app.config["LMS_MAX_UPLOAD_MB"] * 1024 * 1024
    wants_json = request.accept_mimetypes.best == "application/json"
    if (request.content_length or 0) > max_bytes + FORM_OVERHEAD_BYTES:  # refused before anything is read
        message = _("视频超过大小上限 %(mb)s MB，请压缩后再上传。", mb=current_app.config["LMS_MAX_UPLOAD_MB"])
        if wants_json:
            return jsonify(error={"code": "too_large", "message": message}), 413
        flash(message, "danger")
        return redirect(url_for(".media_library"))
    orgs = services.publisher_orgs(current_user)
    org_id = request.form.get("organization_id", type=int) or (orgs[0] if orgs else None)
    upload = request.files.get("file")

    def save():
        if org_id not in orgs:
            raise InvalidInput(_("请选择发布机构。"))
        if upload is None or not upload.filename:
            raise InvalidInput(_("请选择要上传的视频文件。"))
        return media.save_upload(upload.stream, original_name=upload.filename,
                                 organization=services.organization(org_id, refusal=_("请选择发布机构。")),
                                 max_bytes=max_bytes)

    saved = run_service(save)
    if not saved:
        if wants_json:
            return _json_error(saved.error)
        flash(saved.error.message, "danger")
        return redirect(url_for(".media_library"))
    asset = saved.value
    queued = _enqueue_transcode(asset)
    if wants_json:
        return jsonify(asset=_asset_json(asset, queued=queued)), 201
    if queued:
        flash(_("视频已上传，正在转码。"), "success")
    else:
        flash(_queue_down_message(), "warning")
    return redirect(url_for(".media_library"))


def _queue_down_message() -> str:
    return _("视频已保存。后台转码队列暂时不可用，恢复后会在几分钟内自动开始转码，无需重新上传或操作。")


def _enqueue_transcode(asset: MediaAsset) -> bool:
    """Queue the asset's transcode; False when the queue is down (the media workers' sweep queues
    it within minutes of the queue's return: lms.media.tasks.sweep_stalled_transcodes)."""
    return enqueue(transcode_job, asset.id)


def _asset_json(asset: MediaAsset, *, queued: bool = True) -> dict:
    stalled = media.is_stalled(asset)
    answer = {"id": asset.id, "name": asset.original_name, "status": asset.status, "progress": asset.progress,
              "stalled": stalled, "error": asset.error, "duration_seconds": asset.duration_seconds,
              "status_url": url_for(".media_status", asset_id=asset.id)}
    if not queued:
        answer["notice"] = _queue_down_message()
    return answer


@bp.get("/publish/media/<int:asset_id>/status")
@roles_required(Role.PUBLISHER, Role.ADMIN)
def media_status(asset_id: int):
    return jsonify(asset=_asset_json(_asset(asset_id)))


@bp.post("/publish/media/<int:asset_id>/retry")
@roles_required(Role.PUBLISHER, Role.ADMIN)
def retry_media(asset_id: int):
    asset = _asset(asset_id)
    marked = run_service(lambda: media.mark_for_transcode(asset))
    if not marked:
        flash(marked.error.message, "danger")
        return redirect(url_for(".media_library"))
    if _enqueue_transcode(asset):
        flash(_("已重新开始转码。"), "success")
    else:
        flash(_queue_down_message(), "warning")
    return redirect(url_for(".media_library"))


@bp.post("/publish/media/<int:asset_id>/captions")
@roles_required(Role.PUBLISHER, Role.ADMIN)
def upload_captions(asset_id: int):
    asset = _asset(asset_id)
    upload = request.files.get("file")

    def save():
        if upload is None or not upload.filename:
            raise InvalidInput(_("请选择字幕文件。"))
        media.save_captions(asset, upload.stream, original_name=upload.filename)

    return run_action(save, _("字幕已保存（WebVTT）。"), url_for(".media_library"))


# ---------------------------------------------------------------- uploads in parts (lms/media/uploads.py)

def _upload(upload_id: int) -> Upload:
    """An upload is its creator's alone: to anyone else it does not exist (404)."""
    upload = db.session.get(Upload, upload_id)
    if upload is None or upload.owner_id != current_user.id:
        abort(404)
    return upload


def _upload_json(upload: Upload) -> dict:
    return uploads.upload_json(upload, url_for(".upload_state", upload_id=upload.id))


def _json_error(exc: DomainError, **extra):
    return jsonify(error={"code": exc.code, "message": exc.message}, **extra), exc.status


def _part_cap() -> int | None:
    """A part's body may be one part long (publishers only; everyone else keeps the app-wide cap)."""
    if not current_user.is_authenticated or not (current_user.has_role(Role.PUBLISHER)
                                                 or current_user.has_role(Role.ADMIN)):
        return None
    return uploads.part_size()


@bp.post("/publish/uploads")
@checks_own_input  # the upload service refuses a file name with control characters, naming the field
@roles_required(Role.PUBLISHER, Role.ADMIN)
def create_upload():
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        payload = {}
    orgs = services.publisher_orgs(current_user)
    try:
        org_id = int(payload.get("organization_id") or (orgs[0] if orgs else 0))
    except (TypeError, ValueError):
        org_id = 0

    def create():
        if org_id not in orgs:
            raise InvalidInput(_("请选择发布机构。") if orgs else _("您还没有所属的发布机构，请联系平台管理员开通。"))
        return uploads.create_upload(current_user, services.organization(org_id, refusal=_("请选择发布机构。")),
                                     kind=str(payload.get("kind") or ""), filename=str(payload.get("filename") or ""),
                                     total_bytes=payload.get("size"))

    created = run_service(create)
    if not created:
        return _json_error(created.error)
    body = _upload_json(created.value)
    return jsonify(upload=body), 201, {"Location": body["url"], "Upload-Offset": "0"}


@bp.get("/publish/uploads/<int:upload_id>")
@roles_required(Role.PUBLISHER, Role.ADMIN)
def upload_state(upload_id: int):
    upload = _upload(upload_id)
    return jsonify(upload=_upload_json(upload)), 200, {"Upload-Offset": str(upload.received_bytes),
                                                       "Cache-Control": "no-store"}


@bp.patch("/publish/uploads/<int:upload_id>")
@body_limit(_part_cap)
@roles_required(Role.PUBLISHER, Role.ADMIN)
def upload_part(upload_id: int):
    upload = _upload(upload_id)
    if request.mimetype != "application/offset+octet-stream":
        return jsonify(error={"code": "unsupported_media_type",
                              "message": _("分片应以 application/offset+octet-stream 发送，请刷新页面后重试。")}), 415
    # Committed: nothing is held (SQLite's write lock, a pooled connection) while the part streams in.
    checked = run_service(lambda: uploads.check_part(upload, request.headers.get("Upload-Offset", type=int),
                                                     request.content_length))
    if not checked:
        return _json_error(checked.error, upload=_upload_json(upload))
    part = checked.value

    def receive() -> dict:
        try:
            uploads.write_part(part, request.stream)
        except ClientDisconnected:
            raise uploads.PartNotKept(_("分片未完整送达（连接中断），已丢弃这一片，请从原位置重试。")) from None
        with writing():
            return _upload_json(uploads.record_part(part))

    received = run_service(receive)
    if not received:
        current = db.session.get(Upload, upload_id)
        return _json_error(received.error, **({"upload": _upload_json(current)} if current is not None else {}))
    body = received.value
    return jsonify(upload=body), 200, {"Upload-Offset": str(body["offset"])}


@bp.delete("/publish/uploads/<int:upload_id>")
@roles_required(Role.PUBLISHER, Role.ADMIN)
def cancel_upload(upload_id: int):
    upload = _upload(upload_id)
    if upload.status == UploadStatus.FINISHING:
        return _json_error(Conflict(_("文件正在处理，不能取消。处理完成后可在媒体库或课程列表中删除。")),
                           upload=_upload_json(upload))
    uploads.discard_upload(upload)
    commit()
    return "", 204


@bp.post("/publish/uploads/<int:upload_id>/finish")
@roles_required(Role.PUBLISHER, Role.ADMIN)
def finish_upload(upload_id: int):
    """Assemble the parts and hand the file to the media library or the package import.

    A refused file (not a playable video, a package with problems) is gone afterwards, parts,
    file and row; after an unexpected error the upload stays and the finish can be retried."""
    upload = _upload(upload_id)
    begun = run_service(lambda: uploads.begin_finish(upload))
    if not begun:
        return _json_error(begun.error, upload=_upload_json(upload))
    was_assembled = begun.value
    kind, filename, started = upload.kind, upload.filename, upload.created_at
    created: list = []
    assembled = was_assembled
    try:
        key = uploads.assemble(upload, was_assembled=was_assembled)
        assembled = True
        if kind == UploadKind.MEDIA:
            prepared = media.prepare_video(key, original_name=filename)  # long: no transaction open
            # Reading the upload's expired fields began a deferred transaction: end it, so the write
            # begins one of its own with the write lock (a deferred one that read before another
            # writer committed cannot write: SQLite's "database is locked").
            db.session.rollback()
            with writing():
                upload = db.session.get(Upload, upload_id)
                target = media.record_video(prepared, organization=db.session.get(Organization,
                                                                                   upload.organization_id))
                _upload_finished(upload, target, started)
                commit()
            queued = _enqueue_transcode(target)
            if not queued:  # shown on the library page the uploader reloads
                flash(_queue_down_message(), "warning")
            return jsonify(asset=_asset_json(target, queued=queued)), 201
        db.session.rollback()  # as above: the import's transaction begins with the write lock
        with writing(), media_storage().local_path(key) as archive:
            upload = db.session.get(Upload, upload_id)
            result = services.import_package_archive(
                current_user, archive, max_bytes=current_app.config["LMS_PACKAGE_MAX_MB"] * 1024 * 1024,
                organization=db.session.get(Organization, upload.organization_id), created_files=created)
            _upload_finished(upload, result.imported[0], started, courses=[c.code for c in result.imported])
            commit()
        media_storage().delete(key)  # the package was read; its courses and videos are stored now
        flash(_("已导入 %(n)s 门课程（草稿）。检查后即可提交审核。", n=len(result.imported)), "success")
        return jsonify(imported=[c.code for c in result.imported],
                       redirect=url_for(".edit_course", course_id=result.imported[0].id)), 201
    except StorageUnavailable as exc:
        # Nothing was recorded (the rows are rolled back); the parts stay for a finish tried again.
        db.session.rollback()
        with suppress(StorageUnavailable):
            _remove(created)
        with writing():
            uploads.finish_failed(upload_id, assembled=assembled)
            commit()
        return _json_error(exc, upload=_upload_json(db.session.get(Upload, upload_id)))
    except (PackageError, DomainError) as exc:
        db.session.rollback()
        _remove(created)
        with writing():
            gone = db.session.get(Upload, upload_id)
            if gone is not None:
                uploads.discard_upload(gone)
            commit()
        problems = [str(p) for p in exc.problems] if isinstance(exc, PackageError) else [exc.message]
        status = exc.status if isinstance(exc, DomainError) else 400
        message = (_("课程包有误，未导入任何内容，上传的文件已清除。") if kind == UploadKind.PACKAGE
                   else _("%(problem)s 上传的文件已清除。", problem=problems[0]))
        return jsonify(error={"code": getattr(exc, "code", "invalid_package"), "message": message,
                              "problems": problems}), status
    except BaseException:
        db.session.rollback()
        _remove(created)
        with writing():
            uploads.finish_failed(upload_id, assembled=assembled)
            commit()
        raise


def _upload_finished(upload: Upload, target, started, **detail) -> None:
    seconds = max(0, round((utcnow_naive() - started).total_seconds()))
    record_event(current_user, "upload.finished", target, ip=request.remote_addr, kind=upload.kind,
                 filename=upload.filename, bytes=upload.total_bytes, seconds=seconds, **detail)
    uploads.forget_upload(upload)


# ---------------------------------------------------------------- review

@bp.get("/review/")
@roles_required(Role.REVIEWER, Role.ADMIN)
def review_queue():
    return render_template("publishing/review_queue.html", courses=services.review_queue(current_user))


@bp.get("/review/courses/<int:course_id>")
@roles_required(Role.REVIEWER, Role.ADMIN)
def review_course(course_id: int):
    course = db.get_or_404(Course, course_id)
    return render_template("publishing/review_course.html", course=course, form=RejectForm(),
                           questions=services.questions_of(course), history=services.review_history(course),
                           problems=services.publish_problems(course),
                           approval_refusal=services.approval_refusal(current_user, course))


@bp.post("/review/courses/<int:course_id>/approve")
@roles_required(Role.REVIEWER, Role.ADMIN)
def approve(course_id: int):
    course = db.get_or_404(Course, course_id)
    return run_action(lambda: services.approve_course(current_user, course), _("《%(title)s》已通过审核并发布。", title=course.title),
                url_for(".review_queue"))


@bp.post("/review/courses/<int:course_id>/reject")
@roles_required(Role.REVIEWER, Role.ADMIN)
def reject(course_id: int):
    course = db.get_or_404(Course, course_id)
    form = RejectForm()
    if run_form(form, lambda: services.reject_course(current_user, course, form.reason.data)):
        flash(_("《%(title)s》已退回发布机构。", title=course.title), "success")
        return redirect(url_for(".review_queue"))
    return render_template("publishing/review_course.html", course=course, form=form,
                           questions=services.questions_of(course), history=services.review_history(course),
                           problems=services.publish_problems(course),
                           approval_refusal=services.approval_refusal(current_user, course)), 400


# ---------------------------------------------------------------- packages and cover

@bp.get("/publish/courses/<int:course_id>/export")
@roles_required(Role.PUBLISHER, Role.ADMIN)
def export_course(course_id: int):
    course = _course(course_id)
    scratch = Path(tempfile.mkdtemp(prefix="export-"))
    archive = export_archive(course, scratch / f"{course.code}-v{course.version}.zip")

    @after_this_request
    def cleanup(response):
        response.call_on_close(lambda: shutil.rmtree(scratch, ignore_errors=True))
        return response

    return send_file(archive, mimetype="application/zip", as_attachment=True, download_name=archive.name)


@bp.route("/publish/import", methods=["GET", "POST"])
@body_limit(_upload_cap("LMS_PACKAGE_MAX_MB"))
@roles_required(Role.PUBLISHER, Role.ADMIN)
def import_package():
    orgs = services.publisher_organizations(current_user)
    if request.method == "GET":
        return render_template("publishing/import.html", organizations=orgs,
                               max_mb=current_app.config["LMS_PACKAGE_MAX_MB"])
    max_bytes = current_app.config["LMS_PACKAGE_MAX_MB"] * 1024 * 1024
    if (request.content_length or 0) > max_bytes + FORM_OVERHEAD_BYTES:  # refused before anything is read
        return render_template("publishing/import.html", organizations=orgs, max_mb=max_bytes // (1024 * 1024),
                               problems=[_("课程包超过大小上限 %(mb)s MB。", mb=max_bytes // (1024 * 1024))]), 413
    upload = request.files.get("file")
    org = next((o for o in orgs if o.id == request.form.get("organization_id", type=int)), orgs[0] if orgs else None)
    created: list = []  # files the import stored: removed again unless its rows are committed

    def load(scratch: str):
        if org is None:
            raise InvalidInput(_("您还没有所属的发布机构，请联系平台管理员开通。"))
        if upload is None or not upload.filename:
            raise InvalidInput(_("请选择课程包（.zip）。"))
        if not upload.filename.lower().endswith(".zip"):
            raise InvalidInput(_("课程包应为 .zip 文件。"))
        path = Path(scratch) / "package.zip"
        upload.save(path)
        return services.import_package_archive(current_user, path, max_bytes=max_bytes, organization=org,
                                               created_files=created)

    with tempfile.TemporaryDirectory(prefix="upload-") as scratch:
        try:
            imported = run_service(lambda: load(scratch), refusals=(PackageError, DomainError))
        except BaseException:
            db.session.rollback()
            _remove(created)
            raise
    if not imported:
        _remove(created)
        exc = imported.error
        problems = exc.problems if isinstance(exc, PackageError) else [exc.message]
        return render_template("publishing/import.html", organizations=orgs, problems=problems,
                               max_mb=current_app.config["LMS_PACKAGE_MAX_MB"]), imported.status
    result = imported.value
    flash(_("已导入 %(n)s 门课程（草稿）。检查后即可提交审核。", n=len(result.imported)), "success")
    return redirect(url_for(".edit_course", course_id=result.imported[0].id))


def _remove(created: list) -> None:
    remove_created(created)  # stored objects (keys) and local files (paths)


@bp.post("/publish/courses/<int:course_id>/cover")
@roles_required(Role.PUBLISHER, Role.ADMIN)
def upload_cover(course_id: int):
    course = _course(course_id)
    upload = request.files.get("file")

    def save():
        if upload is None or not upload.filename:
            raise InvalidInput(_("请选择封面图片。"))
        services.set_cover(current_user, course, upload.stream)

    return run_action(save, _("封面已更新。"), url_for(".edit_course", course_id=course.id))
