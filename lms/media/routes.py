from pathlib import Path

from flask import Blueprint, abort, send_file
from flask_login import current_user, login_required

from ..core.storage import media_path
from ..extensions import db
from . import permissions
from .models import MediaAsset

bp = Blueprint("media", __name__, url_prefix="/media")

_KINDS = {"video": ("mp4_path", None), "poster": ("poster_path", "image/jpeg"), "captions": ("captions_path", "text/vtt")}


def _load(asset_id: int) -> MediaAsset:
    asset = db.get_or_404(MediaAsset, asset_id)
    if not permissions.can_view(current_user, asset):
        abort(403)
    return asset


@bp.get("/<int:asset_id>/<any(video, poster, captions):kind>")
@login_required
def asset_file(asset_id: int, kind: str):
    asset = _load(asset_id)
    attribute, mimetype = _KINDS[kind]
    relative = getattr(asset, attribute)
    if not relative:
        abort(404)
    # Range requests are answered (conditional=True), so players can seek without downloading all.
    return send_file(media_path(relative), mimetype=mimetype or asset.content_type, conditional=True,
                     max_age=3600)


@bp.get("/<int:asset_id>/hls/<path:name>")
@login_required
def hls_file(asset_id: int, name: str):
    asset = _load(asset_id)
    if not asset.hls_path:
        abort(404)
    folder = media_path(str(Path(asset.hls_path).parent))
    try:
        target = media_path(str(Path(asset.hls_path).parent / name))
    except ValueError:
        abort(404)
    if not target.is_relative_to(folder) or not target.is_file():
        abort(404)
    mimetype = "application/vnd.apple.mpegurl" if target.suffix == ".m3u8" else "video/mp2t"
    return send_file(target, mimetype=mimetype, conditional=True, max_age=3600)
