"""Fetching from a subscribed feed, under the webhook rules (lms/api/webhooks.py).

- Only the feed's own origin (scheme, host and port of the subscribed URL): a URL the feed names
  elsewhere — an archive, a next page, a redirect — on another origin is refused.
- Redirects are followed by hand, at most ``MAX_REDIRECTS``, each checked again as above.
- Before every request the host is resolved and refused if any address is loopback, private,
  link-local or reserved (unless ``LMS_FEDERATION_ALLOW_PRIVATE``); the connection goes to the
  checked address (``Host`` header and TLS server name stay the URL's host), so a DNS change
  between the check and the connection cannot point it at an internal service.
- Every request times out (``LMS_FEDERATION_TIMEOUT_SECONDS``); documents are read up to
  ``LMS_FEDERATION_MAX_FEED_KB``, archives streamed to a file up to ``LMS_PACKAGE_MAX_MB`` (and
  never past the size the signed entry declares), hashing as they arrive.

A refusal is a :class:`FetchRefused` (the address or the answer is not acceptable: the entry or the
pull is refused with its reason); a network failure a :class:`FetchFailed` (try again later).
"""

import hashlib
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
from flask import current_app
from flask_babel import gettext as _

from ..api.services import check_webhook_url, resolve_public_address
from ..core.errors import InvalidInput

MAX_REDIRECTS = 3
USER_AGENT = "Gongxu-LMS-Federation/1"


class FetchRefused(Exception):
    """The address or the answer is refused (not retried as it is)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class FetchFailed(Exception):
    """The network or the feed's server failed; a later pull tries again."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    default = 443 if scheme == "https" else 80
    literal = f"[{host}]" if ":" in host else host
    return f"{scheme}://{literal}" + (f":{parts.port}" if parts.port and parts.port != default else "")


def check_feed_url(url: str) -> str:
    """The feed URL if it may be subscribed to (scheme, no credentials, a public address unless
    allowed): InvalidInput saying what is wrong otherwise."""
    config = current_app.config
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput(_("请填写对方平台的订阅源地址，例如 https://hub.example.gov.cn/federation/courses。"), field="url")
    try:
        return check_webhook_url(url, allow_http=config["LMS_FEDERATION_ALLOW_HTTP"],
                                 allow_private=config["LMS_FEDERATION_ALLOW_PRIVATE"])
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field="url") from None


def _pinned(url: str) -> tuple[str, dict, dict]:
    """(URL to connect to, extra headers, httpx extensions): the host resolved and checked now."""
    if current_app.config["LMS_FEDERATION_ALLOW_PRIVATE"]:
        return url, {}, {}
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    try:
        address = resolve_public_address(host, parts.port or (443 if scheme == "https" else 80))
    except InvalidInput as exc:
        raise FetchRefused(_("地址 %(host)s 未通过检查：%(reason)s", host=host, reason=exc.message)) from None
    literal = f"[{address}]" if ":" in address else address
    netloc = literal + (f":{parts.port}" if parts.port is not None else "")
    target = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
    return target, {"Host": parts.netloc.rpartition("@")[2]}, ({"sni_hostname": host} if scheme == "https" else {})


def _same_origin(url: str, origin: str) -> None:
    if origin_of(url) != origin:
        raise FetchRefused(_("地址 %(url)s 不在订阅的平台 %(origin)s 上，已拒绝（只从订阅的平台下载）。",
                             url=url[:200], origin=origin))


@dataclass(frozen=True)
class Fetched:
    url: str  # where the answer came from, after redirects
    size: int
    sha256: str


@contextmanager
def _open(url: str, origin: str, *, token: str | None = None):
    """A streamed GET of ``url`` on ``origin``, redirects followed by hand and each hop checked."""
    timeout = current_app.config["LMS_FEDERATION_TIMEOUT_SECONDS"]
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            _same_origin(url, origin)
            target, headers, extensions = _pinned(url)
            headers = {"User-Agent": USER_AGENT, **headers}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            try:
                with client.stream("GET", target, headers=headers, extensions=extensions or None) as response:
                    if response.is_redirect:
                        location = response.headers.get("Location", "")
                        url = urljoin(url, location)
                        continue
                    if response.status_code in (401, 403):  # the pull stops; entries are not refused for it
                        raise FetchFailed(_("订阅的平台拒绝了下载（HTTP %(status)s）：订阅令牌无效或已吊销。请向对方管理员索取新的令牌，在本订阅的页面上更换。",
                                             status=response.status_code))
                    if response.status_code != 200:
                        raise FetchFailed(_("订阅的平台返回 HTTP %(status)s（%(url)s）。", status=response.status_code,
                                            url=url[:200]))
                    yield url, response
                    return
            except httpx.TimeoutException:
                raise FetchFailed(_("连接订阅的平台超时（%(seconds)s 秒）：%(url)s", seconds=f"{timeout:g}",
                                    url=url[:200])) from None
            except httpx.HTTPError as exc:
                raise FetchFailed(_("无法连接订阅的平台：%(error)s", error=exc.__class__.__name__)) from None
        raise FetchRefused(_("订阅的平台重定向超过 %(n)s 次，已停止。", n=MAX_REDIRECTS))


def fetch_bytes(url: str, origin: str) -> tuple[str, bytes]:
    """(final URL, the body) of a small document (a feed page, a key set, a credential, a status
    list), read up to the configured cap."""
    cap = current_app.config["LMS_FEDERATION_MAX_FEED_KB"] * 1024
    timeout = current_app.config["LMS_FEDERATION_TIMEOUT_SECONDS"]
    # The timeout bounds each wait; a server that answers a byte now and then never trips it. A small
    # document is read whole within the timeout, or not at all.
    deadline = time.monotonic() + timeout
    with _open(url, origin) as (final, response):
        body = bytearray()
        for block in response.iter_bytes():
            body.extend(block)
            if len(body) > cap:
                raise FetchRefused(_("订阅的平台返回的内容超过 %(kb)s KB，已停止读取。", kb=cap // 1024))
            if time.monotonic() > deadline:
                raise FetchFailed(_("连接订阅的平台超时（%(seconds)s 秒）：%(url)s", seconds=f"{timeout:g}",
                                    url=final[:200]))
    return final, bytes(body)


def fetch_json(url: str, origin: str) -> tuple[str, dict]:
    """(final URL, the JSON object) of a feed page or key set, read up to the configured cap."""
    final, body = fetch_bytes(url, origin)
    try:
        document = json.loads(bytes(body))
    except (ValueError, UnicodeDecodeError, RecursionError):  # nested too deeply to read: not a document either
        raise FetchRefused(_("订阅的平台返回的不是 JSON（%(url)s）。", url=final[:200])) from None
    if not isinstance(document, dict):
        raise FetchRefused(_("订阅的平台返回的 JSON 不是对象（%(url)s）。", url=final[:200]))
    return final, document


def download(url: str, origin: str, target: Path, *, token: str, declared_size: int) -> Fetched:
    """Stream an archive to ``target``, hashing it, never past its declared size nor the package cap."""
    cap = current_app.config["LMS_PACKAGE_MAX_MB"] * 1024 * 1024
    if declared_size > cap:
        raise FetchRefused(_("课程包声明的大小 %(mb)s MB 超过本平台的上限 %(cap)s MB。", mb=declared_size // (1024 * 1024),
                             cap=cap // (1024 * 1024)))
    digest = hashlib.sha256()
    size = 0
    with _open(url, origin, token=token) as (final, response), open(target, "wb") as out:
        for block in response.iter_bytes():
            size += len(block)
            if size > declared_size:
                raise FetchRefused(_("下载的课程包超过了签名条目声明的大小（%(size)s 字节），已停止下载。", size=declared_size))
            digest.update(block)
            out.write(block)
    return Fetched(url=final, size=size, sha256=digest.hexdigest())
