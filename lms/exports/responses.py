"""An export as an HTTP download, for the export page and the HR API alike."""

import secrets

from flask import Response, send_file, stream_with_context

from ..core.storage import media_root
from . import records, services


def download_response(actor, scope: records.Scope, *, year: int | None, fmt: str, rows: int, via: str,
                      ip: str | None, commit) -> Response:
    """CSV streams straight from the database; XLSX (a zip) is written to a scratch file first and
    sent from there. Either way memory stays flat. The export is audited and committed before the
    first byte is sent."""
    name = services.file_name(scope, year, fmt)
    if fmt == "csv":
        services.audit_export(actor, scope, year=year, fmt=fmt, rows=rows, via=via, ip=ip)
        commit()
        response = Response(stream_with_context(services.iter_csv(scope, year=year)),
                            mimetype=services.MEDIA_TYPES["csv"])
    else:
        folder = media_root() / services.EXPORT_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"direct-{secrets.token_hex(8)}.xlsx"
        try:
            services.write_export(scope, year=year, fmt=fmt, out=path, actor=actor, via=via, ip=ip, commit=commit)
            fh = open(path, "rb")  # noqa: SIM115 (closed by the response)
        finally:
            path.unlink(missing_ok=True)  # the open handle keeps the data until the response is sent
        response = send_file(fh, mimetype=services.MEDIA_TYPES["xlsx"], as_attachment=True, download_name=name)
    response.headers["Content-Disposition"] = services.content_disposition(name)
    response.headers["Cache-Control"] = "no-store"
    return response
