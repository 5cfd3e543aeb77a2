from pathlib import PurePosixPath

from flask import Blueprint, Response, abort, url_for
from flask_login import current_user, login_required

from ..core.storage import media_link, media_storage, send_stored
from ..extensions import db
from . import permissions
from .models import MediaAsset, MediaStatus

bp = Blueprint("media", __name__, url_prefix="/media")

_KINDS = {"video": ("mp4_path", None), "poster": ("poster_path", "image/jpeg"), "captions": ("captions_path", "text/vtt")}
PLAYLIST = "application/vnd.apple.mpegurl"


def _load(asset_id: int) -> MediaAsset:
    asset = db.get_or_404(MediaAsset, asset_id)
    if not permissions.can_view(current_user, asset):
        abort(403)
    return asset


def _rendition_of_ready(asset: MediaAsset, relative: str | None) -> str:
    """A rendition is served only while its asset is ready: while a transcode runs (or after it
    failed), nothing it may be writing, nor what an earlier one left, answers but 404."""
    if not relative or asset.status != MediaStatus.READY:
        abort(404)
    return relative


@bp.get("/<int:asset_id>/<any(video, poster, captions):kind>")
@login_required
def asset_file(asset_id: int, kind: str):
    asset = _load(asset_id)
    attribute, mimetype = _KINDS[kind]
    relative = getattr(asset, attribute)
    if kind == "captions":  # a publisher's file, not a rendition: it does not wait for the transcode
        if not relative:
            abort(404)
    else:
        _rendition_of_ready(asset, relative)
    return send_stored(relative, mimetype=mimetype or asset.content_type, max_age=3600)


@bp.get("/<int:asset_id>/hls/<path:name>")
@login_required
def hls_file(asset_id: int, name: str):
    asset = _load(asset_id)
    _rendition_of_ready(asset, asset.hls_path)
    folder = PurePosixPath(asset.hls_path).parent
    parts = PurePosixPath(name).parts
    if not parts or any(part in ("", ".", "..") for part in parts) or name.startswith("/"):
        abort(404)
    key = str(folder / name)
    if not key.endswith(".m3u8"):
        return send_stored(key, mimetype="video/mp2t", max_age=3600)
    storage = media_storage()
    if media_link(key) is None:
        return send_stored(key, mimetype=PLAYLIST, max_age=3600)
    # Links that expire (object storage, nginx's secure_link): the playlist is read here and its
    # segments named by such links, so the player fetches every byte of video without the app
    # (the playlists it names come back here).
    try:
        with storage.open(key) as fh:
            text = fh.read().decode("utf-8")
    except FileNotFoundError:
        abort(404)
    return Response(rewrite_playlist(text, asset, PurePosixPath(name).parent), mimetype=PLAYLIST,
                    headers={"Cache-Control": "no-store"})


def rewrite_playlist(text: str, asset: MediaAsset, under: PurePosixPath) -> str:
    """Each URI line of an HLS playlist, relative to the playlist: a nested playlist through this
    route, a segment as a link that expires after ``LMS_MEDIA_LINK_SECONDS`` (:func:`media_link`)."""
    folder = PurePosixPath(asset.hls_path).parent
    lines = []
    for line in text.splitlines():
        uri = line.strip()
        if uri and not uri.startswith("#") and "://" not in uri and not uri.startswith("/") and ".." not in uri:
            target = str(under / uri) if str(under) != "." else uri
            if uri.endswith(".m3u8"):
                line = url_for(".hls_file", asset_id=asset.id, name=target)
            else:
                line = media_link(str(folder / target), content_type="video/mp2t")
        lines.append(line)
    return "\n".join(lines) + "\n"
