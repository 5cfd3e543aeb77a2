"""Export pages: choose what to export, download it at once or follow a background job.

Who may export what is decided only by :func:`records.scope_for`; the service does the rest."""

from flask import (
    Blueprint,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from wtforms import BooleanField, RadioField, SelectChoice, StringField

from ..core.clock import now
from ..core.errors import InvalidInput
from ..core.forms import Form, form_error
from ..core.jobs import enqueue
from ..core.storage import send_stored
from ..core.web import commit, writes_on_read
from . import records, services
from .models import ExportStatus
from .responses import download_response
from .tasks import export_job

bp = Blueprint("exports", __name__, url_prefix="/exports")


class ExportForm(Form):
    unit = StringField(_l("单位统一社会信用代码（可选）"))
    region = StringField(_l("地区代码（可选）"))
    year = StringField(_l("年度"))
    format = RadioField(_l("文件格式"), choices=[SelectChoice("xlsx", _l("Excel 表格（XLSX）")),
                                                SelectChoice("csv", _l("CSV（UTF-8）"))], default="xlsx",
                        validate_choice=False)  # checked by the service, with its message
    full_id_numbers = BooleanField(_l("含完整身份证号"))


def _ip() -> str | None:
    return request.remote_addr


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new_export():
    form = ExportForm()
    if not form.is_bound:  # a link may fill in the choices
        form = ExportForm(formdata=request.args)
    if request.method == "GET":
        form.year.data = form.year.data or str(now().year)
    full_allowed = records.may_see_full_id_numbers(current_user)
    scope, rows, status = None, None, 200
    try:
        year = services.parse_year(form.year.data)
        scope = records.scope_for(current_user, unit=form.unit.data or None, region=form.region.data or None,
                                  full_id_numbers=bool(form.full_id_numbers.data) and request.method == "POST")
        rows = services.count_rows(scope, year)
    except InvalidInput as exc:  # NotAllowed goes to the 403 handler
        form_error(form, exc)
        status = 400 if request.method == "POST" else 200
    if request.method == "POST" and scope is not None and form.validate():
        try:
            fmt = services.parse_format(form.format.data)
        except InvalidInput as exc:
            form_error(form, exc)
            status = 400
        else:
            if rows <= services.inline_max_rows():
                return _download_now(scope, year, fmt, rows)
            job = services.start_export_job(current_user, scope, year=year, fmt=fmt, rows=rows, ip=_ip())
            commit()

            if not enqueue(export_job, job.id):  # after the commit, so the worker finds the job
                flash(_("导出任务已记录。后台队列暂时不可用，恢复后会在几分钟内自动开始，本页会显示进度。"), "warning")
            return redirect(url_for("exports.job_page", job_id=job.id))
    elif request.method == "POST" and status == 200:
        status = 400
    return render_template("exports/new.html", form=form, scope=scope, rows=rows, full_allowed=full_allowed,
                           inline_max=services.inline_max_rows()), status


def _download_now(scope: records.Scope, year: int, fmt: str, rows: int):
    return download_response(current_user, scope, year=year, fmt=fmt, rows=rows, via="web", ip=_ip(), commit=commit)


@bp.get("")
@login_required
def list_exports():
    return render_template("exports/list.html", jobs=services.recent_jobs(current_user),
                           direct=services.recent_direct_exports(current_user), label=services.job_label,
                           expired=services.is_expired)


@bp.get("/<int:job_id>")
@login_required
def job_page(job_id: int):
    job = services.job_for(current_user, job_id)
    return render_template("exports/job.html", job=job, status=services.job_status(job),
                           label=services.job_label(job), file_name=services.job_file_name(job))


@bp.get("/<int:job_id>/status")
@login_required
def job_status(job_id: int):
    job = services.job_for(current_user, job_id)
    body = services.job_status(job)
    if job.status == ExportStatus.DONE and not body["expired"]:
        body["download_url"] = url_for("exports.download", job_id=job.id, token=job.token)
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/<int:job_id>/download")
@login_required
@writes_on_read
def download(job_id: int):
    job = services.job_for(current_user, job_id)
    try:
        key = services.file_for_download(current_user, job, request.args.get("token", ""), ip=_ip())
    except services.Gone:
        commit()  # the expired file is deleted and the job marked, even though the answer is an error
        raise
    commit()
    name = services.job_file_name(job)
    response = send_stored(key, mimetype=services.MEDIA_TYPES[job.format], download_name=name)
    if response.status_code != 302:  # a signed link carries its own
        response.headers["Content-Disposition"] = services.content_disposition(name)
    response.headers["Cache-Control"] = "no-store"
    return response
