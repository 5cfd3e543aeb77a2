"""Configuration in one place: every setting the code reads is declared here, with its default and
what it means.

- :data:`ENVIRONMENT`: what an operator sets in the environment (``LMS_*`` and a few common names),
  read by :func:`load_config` into ``app.config``;
- :data:`FIXED`: app settings the environment does not set (Flask's and its extensions', fixed
  choices, and switches only tests and benchmarks turn, through ``create_app(config)``);
- :data:`DERIVED`: app settings computed from the ones above.

The README's settings tables are generated from these (:func:`settings_tables`);
``tests/unit/test_config.py`` fails when the code reads a setting that is not declared here, or
when the README's tables differ from what this module prints.
"""

import ipaddress
import json
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit


def _instance_secret(instance_path: str, name: str, nbytes: int = 32) -> str:
    """Read a secret kept in the instance folder, creating it (mode 0600) on first use."""
    path = Path(instance_path) / name
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


ENVIRONMENTS = ("development", "production")

# Keys every app node and worker must share (sessions signed by one node are read by another; ID
# numbers encrypted by one are looked up by another): generated into the instance folder on one
# machine, never in production, which refuses to start without them (settle_config).
SHARED_KEYS = {"SECRET_KEY": "secret_key", "LMS_DATA_KEY": "data_key"}  # setting -> its file in the instance folder

# The issuer named on certificates when LMS_CERT_ISSUER_NAME is unset: the certificate's fixed
# wording, a configured value (not translated).
DEFAULT_ISSUER_NAME = "公需科目继续教育平台"


def is_production(config) -> bool:
    """The one question the code asks about where it runs (``LMS_ENV``)."""
    return config.get("LMS_ENV") == "production"


def _flag(value: str | None) -> bool | None:
    """``1``/``0`` (also true/false, yes/no, on/off); None when unset: decided by LMS_ENV."""
    if value is None or not value.strip():
        return None
    return value.strip().lower() in ("1", "true", "yes", "on")


def _database_url(value: str) -> str:
    """``postgres://`` and ``postgresql://`` URLs use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if value.startswith(prefix):
            return "postgresql+psycopg://" + value[len(prefix):]
    return value


def _on(value: str) -> bool:
    return value == "1"


def _smtp_tls(value: str) -> str:
    value = value.strip().lower()
    if value not in ("none", "starttls", "ssl"):
        raise ValueError(f"LMS_SMTP_TLS must be none, starttls or ssl, not {value!r}.")
    return value


def _sms_sender(value: str) -> str:
    value = value.strip().lower()
    if value not in ("http", "console"):
        raise ValueError(f"LMS_SMS_SENDER must be http or console, not {value!r}.")
    return value


LOG_FORMATS = ("text", "json")


def _log_format(value: str) -> str:
    name = value.strip().lower()
    if name not in LOG_FORMATS:
        raise ValueError(f"LMS_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {value!r}.")
    return name


def _networks(value: str) -> tuple:
    """Networks separated by commas or spaces (``10.0.0.0/8, 127.0.0.1``); a bad one stops start-up."""
    try:
        return tuple(ipaddress.ip_network(part, strict=False) for part in value.replace(",", " ").split())
    except ValueError as exc:
        raise ValueError(f"LMS_METRICS_ALLOW: {exc}") from None


def _trust_list(value: str) -> dict[str, frozenset[str]]:
    """``origin=kid kid; origin=kid`` → {origin: key ids}; a malformed entry stops start-up."""
    trusted: dict[str, frozenset[str]] = {}
    for part in filter(None, (p.strip() for p in value.split(";"))):
        origin, sep, kids = part.partition("=")
        origin = origin.strip().rstrip("/").lower()
        if not sep or not origin.startswith(("https://", "http://")) or not kids.split():
            raise ValueError(f"LMS_FEDERATION_TRUST: {part!r} is not `https://host=<key id> ...`.")
        trusted[origin] = trusted.get(origin, frozenset()) | frozenset(kids.replace(",", " ").split())
    return trusted


def parse_storage_url(value: str) -> str:
    """``file:///absolute/path`` or ``s3://bucket[/prefix]``; anything else stops start-up."""
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme == "file" and parts.path.startswith("/") and not parts.netloc:
        return value
    if parts.scheme == "s3" and parts.netloc and not parts.query:
        return value
    raise ValueError(f"LMS_STORAGE_URL must be file:///absolute/path or s3://bucket[/prefix], not {value!r}.")


def _in_instance(name: str) -> Callable[[str], str]:
    return lambda instance_path: str(Path(instance_path) / name)


def _secret_in_instance(name: str) -> Callable[[str], str]:
    return lambda instance_path: _instance_secret(instance_path, name)


@dataclass(frozen=True)
class Setting:
    """A setting read from the environment variable ``name``."""

    name: str
    # When the variable is unset (or blank): a value as written in the environment, None for none,
    # or a function of the instance folder (paths, generated keys), described by ``shown``.
    default: str | None | Callable[[str], str | None]
    meaning: str
    parse: Callable[[str], object] = str
    key: str | None = None  # the app.config key, when it is not ``name``; "" when it is not kept there
    shown: str | None = None  # the default as the README shows it, when it is not a plain value
    blank_is_unset: bool = True  # False: a blank value is read as it is (and may be refused)

    @property
    def config_key(self) -> str:
        return self.name if self.key is None else self.key

    def read(self, env, instance_path: str):
        raw = env.get(self.name)
        if raw is None or (self.blank_is_unset and not raw.strip()):
            default = self.default
            if callable(default):
                return default(instance_path)
            return None if default is None else self.parse(default)
        return self.parse(raw)


DEVELOPMENT_PUBLIC_URL = "http://127.0.0.1:5000"

ENVIRONMENT: tuple[Setting, ...] = (
    Setting("LMS_ENV", "development", "`development` (one machine, plain http) or `production`: secure cookies and "
            "https links, and no key made on its own (`SECRET_KEY`, `LMS_DATA_KEY` and a signing key must be "
            "given, the same on every node); any other value stops start-up", blank_is_unset=False),
    Setting("LMS_INSTANCE_PATH", None, "the instance folder, where the defaults below live", key="",
            shown="`instance/`"),
    Setting("DATABASE_URL", lambda instance_path: f"sqlite:///{Path(instance_path) / 'lms.sqlite3'}", "the database, e.g. `postgresql://user@host:5432/lms` "
            "(SQLite: WAL, foreign keys on)", parse=_database_url, key="SQLALCHEMY_DATABASE_URI",
            shown="`sqlite:///instance/lms.sqlite3`"),
    Setting("LMS_PGBOUNCER", "0", "`1` when `DATABASE_URL` (and the replica's) go through pgbouncer in transaction "
            "pooling mode: psycopg's automatic prepared statements are turned off (`prepare_threshold=None`), "
            "since consecutive transactions may run on different server connections", parse=_on),
    Setting("DATABASE_REPLICA_URL", None, "a PostgreSQL streaming replica of `DATABASE_URL`: the catalog, search "
            "results, unit and region pages, exports and the HR API read from it (lms/core/replica.py); a "
            "browser that just wrote, a lagging or an unreachable replica read from the primary",
            parse=_database_url, key=""),
    Setting("LMS_REPLICA_MAX_LAG_SECONDS", "5", "a replica further behind than this is not read from",
            parse=float),
    Setting("LMS_REPLICA_STICKY_SECONDS", "5", "after a browser writes, its reads go to the primary for this "
            "long (read-your-writes)", parse=int),
    Setting("SECRET_KEY", _secret_in_instance(SHARED_KEYS["SECRET_KEY"]), "signs sessions and CSRF tokens",
            shown="generated once into `instance/secret_key` (mode 0600); required in production"),
    Setting("LMS_DATA_KEY", _secret_in_instance(SHARED_KEYS["LMS_DATA_KEY"]), "encrypts ID numbers; keys their lookup hash",
            shown="generated once into `instance/data_key` (mode 0600); required in production"),
    Setting("LMS_PUBLIC_URL", DEVELOPMENT_PUBLIC_URL, "the platform's public address: the base of every link "
            "handed out (certificates, credentials, exports, API answers, xAPI statements), never the request's "
            "`Host` header; `make run` sets it from the host and port it serves"),
    Setting("LMS_TIMEZONE", "Asia/Shanghai", "the platform's time zone: credit years and the dates shown",
            key="BABEL_DEFAULT_TIMEZONE"),
    Setting("LMS_SECURE_COOKIES", None, "`1`/`0`: session and remember-me cookies only over HTTPS, or not",
            parse=lambda value: _flag(value), key="", shown="decided by `LMS_ENV`"),
    Setting("LMS_PROXY_FIX", "0", "`1` behind a reverse proxy: trust one hop for the client address and scheme",
            parse=_on),
    Setting("REDIS_URL", None, "when set: rate-limit storage shared by all workers, and the job queues (huey on "
            "Redis, workers on many hosts)"),
    Setting("LMS_MEDIA_ROOT", _in_instance("media"), "uploaded and generated media files (with `LMS_STORAGE_URL` "
            "set to object storage: only claim and base attachments and the demo video cache)",
            shown="`instance/media`"),
    # Object storage (lms/core/storage.py).
    Setting("LMS_STORAGE_URL", None, "where uploads, renditions, exports, certificate PDFs, course covers and "
            "package archives are stored: `file:///path` (a folder; shared by every node, e.g. on NFS) or "
            "`s3://bucket[/prefix]` on any S3-compatible store (MinIO, Ceph RGW, Alibaba OSS), credentials from "
            "`AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`; production refuses to start when it cannot be reached",
            parse=lambda value: parse_storage_url(value), shown="`file://<LMS_MEDIA_ROOT>`"),
    Setting("LMS_S3_ENDPOINT_URL", None, "the S3 endpoint, e.g. `http://minio.internal:9000` or "
            "`https://oss-cn-hangzhou.aliyuncs.com` (unset: AWS, or boto3's `AWS_ENDPOINT_URL`)"),
    Setting("LMS_S3_REGION", None, "the S3 region (unset: boto3's `AWS_DEFAULT_REGION`)"),
    Setting("LMS_MEDIA_LINK_SECONDS", "300", "with object storage, videos, segments and downloads are read "
            "through signed links that expire after this many seconds (the app never streams them)", parse=int),
    Setting("LMS_ACCEL_REDIRECT", None, "with `file://` storage behind nginx: an internal location prefix, e.g. "
            "`/protected-media/`; after its checks the app answers `X-Accel-Redirect: <prefix><key>` and nginx "
            "sends the file (deploy/nginx-media.conf)"),
    Setting("LMS_SECURE_LINK_SECRET", None, "with `file://` storage behind nginx: the secret of nginx's "
            "`secure_link` (deploy/nginx-media.conf); set, videos, segments and posters are answered with links "
            "nginx serves and refuses after `LMS_MEDIA_LINK_SECONDS`"),
    Setting("LMS_SECURE_LINK_PREFIX", "/signed-media/", "the nginx location of those links"),
    Setting("LMS_JOBS_FILE", _in_instance("jobs.sqlite3"), "the job queues (huey on SQLite) when `REDIS_URL` is "
            "unset", shown="`instance/jobs.sqlite3`"),
    Setting("LMS_JOBS_IMMEDIATE", "0", "`1` runs jobs at once in the calling process (tests only; no worker "
            "needed)", parse=_on),
    Setting("LMS_SEARCH_INDEX", _in_instance("search-index"), "the Whoosh index (a link to the live generation "
            "beside it)", shown="`instance/search-index`"),
    Setting("LMS_CJK_FONT", None, "a Chinese font for generated stand-in videos, tried before the usual "
            "WenQuanYi and Noto paths"),
    Setting("LMS_DEMO_CACHE", None, "where generated stand-in videos are kept between imports",
            shown="`<LMS_MEDIA_ROOT>/demo-cache`"),
    # Login sessions (lms/accounts/sessions.py).
    Setting("LMS_REMEMBER_DAYS", "30", "a remembered login (the sign-in form's keep-me-signed-in box) ends this "
            "many days after sign-in, whatever the browser keeps", parse=int),
    Setting("LMS_SESSION_HOURS", "168", "any other login ends on the server this many hours after sign-in (and "
            "when the browser closes)", parse=int),
    Setting("LMS_SESSION_TOUCH_SECONDS", "600", "how often page views record a session's last activity (shown "
            "on the profile page)", parse=int),
    # Login throttling (lms/accounts/throttle.py): no lock; the right password works once the delay has passed.
    Setting("LMS_LOGIN_RATE_LIMIT", "60 per minute", "login requests per address, whatever their outcome (a "
            "flood guard; a workplace may share one address)"),
    Setting("LMS_LOGIN_FREE_FAILURES", "5", "wrong passwords for one account before each next attempt waits",
            parse=int),
    Setting("LMS_LOGIN_DELAY_SECONDS", "30", "the first wait, doubling with each further wrong password",
            parse=float),
    Setting("LMS_LOGIN_MAX_DELAY_SECONDS", "900", "the longest wait", parse=float),
    Setting("LMS_LOGIN_FAILURE_WINDOW_HOURS", "24", "wrong passwords older than this (or before the last "
            "successful login) no longer count", parse=int),
    Setting("LMS_LOGIN_SOURCE_FREE_FAILURES", "30", "wrong passwords from one address across accounts before it "
            "must wait too", parse=int),
    Setting("LMS_LOGIN_SOURCE_WINDOW_SECONDS", "3600", "how long an address's wrong passwords count", parse=int),
    Setting("LMS_KNOWN_DEVICE_DAYS", "180", "a browser where the account signed in before keeps its own failure "
            "count this long", parse=int),
    Setting("LMS_REGISTER_RATE_LIMIT", "20 per hour", "registrations per address"),
    # Account recovery and contact verification (lms/accounts/recovery.py).
    Setting("LMS_SMTP_HOST", None, "the mail server that sends password-reset links and verification codes; "
            "unset: no mail is sent and the reset page offers text messages only"),
    Setting("LMS_SMTP_PORT", "25", "its port (587 with `starttls`, 465 with `ssl`)", parse=int),
    Setting("LMS_SMTP_USER", "", "SMTP login user (empty: no login)"),
    Setting("LMS_SMTP_PASSWORD", "", "SMTP login password"),
    Setting("LMS_SMTP_TLS", "none", "`none`, `starttls` or `ssl` (implicit TLS)", parse=_smtp_tls),
    Setting("LMS_MAIL_FROM", "noreply@localhost", "the sender of the platform's mail, e.g. "
            "`Gongxu LMS <noreply@example.gov.cn>` (a display name in Chinese works too)"),
    Setting("LMS_SMS_SENDER", None, "how text messages go: `http` (a gateway, contract in docs/sms-gateway.md) or "
            "`console` (printed to the server's standard error, development only; refused with "
            "`LMS_ENV=production`); unset: no text messages", parse=_sms_sender),
    Setting("LMS_SMS_GATEWAY_URL", None, "the SMS gateway's endpoint (`LMS_SMS_SENDER=http`)"),
    Setting("LMS_SMS_GATEWAY_KEY", "", "the bearer key sent to the SMS gateway"),
    Setting("LMS_RESET_LINK_MINUTES", "30", "a password-reset link by mail works this long, once", parse=int),
    Setting("LMS_RESET_CODE_MINUTES", "10", "a six-digit code by text message (or a verification code) works "
            "this long, once", parse=int),
    Setting("LMS_RECOVERY_CODE_ATTEMPTS", "5", "wrong entries that end a code", parse=int),
    Setting("LMS_RECOVERY_PER_ACCOUNT", "5", "codes and links sent to one account, and to one address, per "
            "`LMS_RECOVERY_WINDOW_MINUTES`; further requests get the same answer and send nothing", parse=int),
    Setting("LMS_RECOVERY_PER_SOURCE", "20", "reset requests from one client address per "
            "`LMS_RECOVERY_WINDOW_MINUTES` (whether or not they name an account)", parse=int),
    Setting("LMS_RECOVERY_WINDOW_MINUTES", "60", "the window of the two limits above", parse=int),
    Setting("LMS_RECOVERY_RATE_LIMIT", "10 per minute", "posts to the reset pages per address (a flood guard)"),
    Setting("LMS_VERIFY_CONTACT", "0", "`1`: after registration the person is asked to confirm their mobile "
            "number or e-mail with a code sent there", parse=_on),
    # Certificates.
    Setting("LMS_CERT_ISSUER_CODE", "GX", "issuer in certificate numbers (2-6 capitals or digits: `GX` + year + "
            "sequence + MOD 37-2 check character)"),
    Setting("LMS_CERT_ISSUER_NAME", DEFAULT_ISSUER_NAME, "the issuer named on certificates, credentials and xAPI "
            "statements"),
    Setting("LMS_SIGNING_KEY_DIR", _in_instance("signing-keys"), "Ed25519 keys (0600) that sign credentials; "
            "`flask credentials rotate-key` adds one (production: a folder every node shares, its first key made "
            "so before any node starts); public keys at `/.well-known/jwks.json`",
            shown="`instance/signing-keys`"),
    Setting("LMS_VERIFY_RATE_LIMIT", "30 per minute;300 per hour", "public certificate lookups per client"),
    Setting("LMS_INSPECTION_PUBLIC_RATE_LIMIT", "30 per minute;300 per hour",
            "public pages and documents of random inspections per client"),
    Setting("LMS_INSPECTION_REVEAL_DELAY_HOURS", "24", "hours between freezing an inspection plan (its commitment "
            "published) and the earliest reveal of its seed", int),
    # The HR API and its webhooks.
    Setting("LMS_API_RATE_LIMIT", "120 per minute", "HR API requests per client token (429 JSON beyond; tokens "
            "issued at `/api-clients`, spec at `/api/v1/openapi.json`)"),
    Setting("LMS_API_AUTH_FAILURE_LIMIT", "10 per minute;50 per hour", "wrong HR API secrets per key id and "
            "address, and per address over all key ids"),
    Setting("LMS_WEBHOOK_ALLOW_HTTP", "0", "`1` lets webhook URLs use plain http (development, tests)", parse=_on),
    Setting("LMS_WEBHOOK_ALLOW_PRIVATE", "0", "`1` lets webhook URLs point at localhost or private addresses "
            "(development, tests)", parse=_on),
    Setting("LMS_WEBHOOK_MAX_PER_CLIENT", "10", "webhook subscriptions one API client may have", parse=int),
    # The courseware federation (lms/federation): this instance's feed, and the feeds it follows.
    Setting("LMS_FEDERATION_RATE_LIMIT", "60 per minute", "requests for `/federation/courses` and its package "
            "archives per client address"),
    Setting("LMS_FEDERATION_ALLOW_HTTP", "0", "`1` lets subscribed feeds use plain http (development, tests)",
            parse=_on),
    Setting("LMS_FEDERATION_ALLOW_PRIVATE", "0", "`1` lets subscribed feeds be on localhost or private addresses "
            "(development, tests, a closed network of bureaus)", parse=_on),
    Setting("LMS_FEDERATION_TIMEOUT_SECONDS", "30", "how long one request to a subscribed feed may take (connect, "
            "and between bytes)", parse=float),
    Setting("LMS_FEDERATION_MAX_FEED_KB", "1024", "largest feed page or key set read from a subscribed feed "
            "(package archives: `LMS_PACKAGE_MAX_MB`)", parse=int),
    Setting("LMS_FEDERATION_PULL_MINUTES", "60", "how often the job worker pulls each subscribed feed", parse=int),
    Setting("LMS_FEDERATION_TRUST", "", "publishers' keys trusted without confirming a fingerprint: "
            "`https://hub.example.gov.cn=<kid> <kid>; https://other.example.cn=<kid>` (a key id is the key's "
            "RFC 7638 thumbprint, as `flask credentials keys` prints it)", parse=lambda value: _trust_list(value)),
    Setting("LMS_TRANSFER_RATE_LIMIT", "10 per minute;60 per hour", "credential transfers a learner may present "
            "(per client address), and reads of consent links"),
    Setting("LMS_CONSENT_LINK_MINUTES", "30", "how long a learner's consent link to one credential stays usable",
            parse=int),
    Setting("LMS_TRANSFER_RECHECK_HOURS", "24", "how often each transferred credential's revocation status is "
            "checked again at its issuer", parse=int),
    # The player.
    Setting("LMS_HEARTBEAT_SECONDS", "12", "seconds between the player's heartbeats", parse=int),
    Setting("LMS_READING_MIN_SECONDS", "60", "the minimum reading time of a text lesson", parse=int),
    Setting("LMS_SESSION_STARTS_PER_MINUTE", "12", "play sessions one learner may start in a minute (each "
            "supersedes the last); more get a clear 429", parse=int),
    # Uploads and media (lms/media/uploads.py).
    Setting("LMS_MAX_UPLOAD_MB", "2048", "largest video a publisher may upload (checked when the upload is "
            "created)", parse=int),
    Setting("LMS_PACKAGE_MAX_MB", "2048", "largest course package a publisher may upload", parse=int),
    Setting("LMS_UPLOAD_CHUNK_MB", "8", "size of each part of an upload (object storage needs at least 5)",
            parse=int),
    Setting("LMS_UPLOAD_TTL_HOURS", "24", "an upload with no new part for this long is deleted with its parts "
            "(the `media` worker sweeps hourly)", parse=int),
    Setting("LMS_UPLOAD_MAX_OPEN", "10", "unfinished uploads one person may have at once", parse=int),
    Setting("LMS_TRANSCODE_STALL_SECONDS", "120", "a transcode without progress this long shows as interrupted: "
            "the `media` workers' sweep (every minute) retries it, and a publisher may", parse=int),
    Setting("LMS_TRANSCODE_MAX_RETRIES", "2", "automatic retries of a stalled transcode before the video is "
            "marked failed with a message for its publisher", parse=int),
    # Record exports.
    Setting("LMS_EXPORT_INLINE_MAX_ROWS", "5000", "exports up to this many rows download at once; larger ones "
            "run as a job with a progress bar", parse=int),
    Setting("LMS_EXPORT_TTL_HOURS", "24", "a job export's download link (requester only) expires after this; "
            "the worker deletes expired files hourly", parse=int),
    Setting("LMS_EXPORT_CHUNK_ROWS", "5000", "rows an export job writes between progress updates", parse=int),
    Setting("LMS_EXPORT_STALL_MINUTES", "15", "an export job without progress this long (its worker died) is "
            "marked failed with a message asking to start it again (swept every minute)", parse=int),
    # Continuing-education bases (lms/programme/bases.py): the seed's yearly minimums (四(四)).
    Setting("LMS_BASE_MIN_NATIONAL", "2000", "people a national continuing-education base must train a year; "
            "bases below it are flagged", parse=int),
    Setting("LMS_BASE_MIN_PROVINCIAL", "500", "people a provincial continuing-education base must train a year",
            parse=int),
    Setting("LMS_BASE_ATTACHMENT_MAX_MB", "10", "largest attachment (PDF, JPEG or PNG) of a base's evaluation",
            parse=int),
    # The outbox (webhooks, xAPI statements): retries with exponential backoff, then "failed".
    Setting("LMS_OUTBOX_BACKOFF_SECONDS", "30", "the first retry delay of an outgoing message, doubling (capped "
            "at 6 hours)", parse=float),
    Setting("LMS_OUTBOX_MAX_ATTEMPTS", "24", "attempts before a message is given up as failed (kept; `flask "
            "outbox retry`)", parse=int),
    Setting("LMS_OUTBOX_TIMEOUT_SECONDS", "10", "how long one send may take", parse=float),
    # A Learning Record Store (xAPI 1.0.3); statements are sent only when the endpoint is set.
    Setting("LMS_XAPI_ENDPOINT", None, "the LRS (e.g. `https://lrs.example.org/xAPI`); statements are written "
            "only when it is set"),
    Setting("LMS_XAPI_USERNAME", "", "HTTP basic auth user for the LRS"),
    Setting("LMS_XAPI_PASSWORD", "", "HTTP basic auth password for the LRS"),
    # Operations: logs and metrics (lms/core/logs.py, lms/core/metrics.py; deploy/gunicorn.conf.py).
    Setting("LMS_LOG_FORMAT", "text", "`text` (readable in a terminal) or `json` (one object per line: time, level, "
            "logger, message, request_id); every line names its request's `X-Request-ID`, jobs the request that "
            "enqueued them", parse=_log_format),
    Setting("LMS_ACCESS_LOG", "0", "`1` logs one line per request (logger `lms.access`: method, path without the "
            "query, endpoint, status, milliseconds, request_id); `deploy/gunicorn.conf.py` turns it on", parse=_on),
    Setting("LMS_METRICS_TOKEN", None, "a scrape of `/metrics` with `Authorization: Bearer <token>` is let in"),
    Setting("LMS_METRICS_ALLOW", "", "networks whose scrapes of `/metrics` are let in without the token, e.g. "
            "`10.0.0.0/8, 127.0.0.1` (the client address as the app sees it: behind a proxy set "
            "`LMS_PROXY_FIX=1`); with neither this nor the token, `/metrics` refuses everyone", parse=_networks),
    Setting("PROMETHEUS_MULTIPROC_DIR", None, "a folder where each gunicorn worker keeps its counts, so that "
            "`/metrics` adds up all workers (prometheus-client reads it when first imported; "
            "`deploy/gunicorn.conf.py` sets it and empties it at start)", key=""),
    # The page footer: the operator's details, shown as given (values, not translated).
    Setting("LMS_SITE_SPONSOR", "", "the organization running the platform (sponsor), named in the footer"),
    Setting("LMS_SITE_ICP", "", "the ICP filing number, shown in the footer and linked to https://beian.miit.gov.cn/"),
    Setting("LMS_SITE_CONTACT", "", "contact shown in the footer (telephone or e-mail)"),
    Setting("LMS_HELPDESK_HOURS", "", "help desk hours shown in the footer, e.g. `Mon-Fri 9:00-17:00`"),
)

# app.config key → (value, meaning): not read from the environment.
FIXED: dict[str, tuple[object, str]] = {
    "SQLALCHEMY_ENGINE_OPTIONS": ({"json_serializer": lambda obj: json.dumps(obj, ensure_ascii=False)},
                                  "JSON stored as readable UTF-8, so Chinese tags can be searched on every database; "
                                  "pooled connections pinged only after 10 s unused (lms/core/database.py "
                                  "configure_pool), not at every checkout; no prepared statements behind pgbouncer "
                                  "(`LMS_PGBOUNCER`)"),
    "RATELIMIT_HEADERS_ENABLED": (True, "rate-limited answers say when to try again"),
    "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": (True, "while Redis does not answer, each process counts the limits in "
                                             "its own memory (a request is never refused, nor failed, for it); back "
                                             "to Redis when it answers again"),
    "RATELIMIT_SWALLOW_ERRORS": (True, "any other fault of the limit store lets the request through, logged"),
    "BABEL_DEFAULT_LOCALE": ("zh_Hans_CN", "the language of the pages"),
    "WTF_CSRF_TIME_LIMIT": (None, "a form's CSRF token lasts as long as the session"),
    "SESSION_COOKIE_HTTPONLY": (True, "scripts cannot read the session cookie"),
    "SESSION_COOKIE_SAMESITE": ("Lax", "the session cookie is not sent with other sites' form posts"),
    "REMEMBER_COOKIE_HTTPONLY": (True, "scripts cannot read the remember-me cookie"),
    "REMEMBER_COOKIE_SAMESITE": ("Lax", "the remember-me cookie is not sent with other sites' form posts"),
    "PREFERRED_URL_SCHEME": ("http", "scheme of links built outside a request; production takes it from "
                                     "`LMS_PUBLIC_URL`"),
    "MAX_CONTENT_LENGTH": (16 * 1024 * 1024, "largest request body; views that take uploads raise it for "
                                             "themselves (`body_limit`)"),
    "CATALOG_PAGE_SIZE": (12, "courses per catalog page"),
    "LMS_SEARCH_PAGE_SIZE": (10, "results per search page"),
    "LMS_PASSWORD_METHOD": ("scrypt", "password hashing (tests and benchmarks use a fast one)"),
    "LMS_RECOVERY_ANSWER_SECONDS": (0.25, "a password-reset request is answered no sooner than this after it "
                                          "arrives, so that whether an account exists does not show in the time"),
}

# app.config key → meaning: computed by load_config() or settle_config() from the settings above.
DERIVED: dict[str, str] = {
    "RATELIMIT_STORAGE_URI": "`REDIS_URL`, or memory (one process)",
    "RATELIMIT_STORAGE_OPTIONS": "with `REDIS_URL`: connect and read time-outs of one second",
    "SQLALCHEMY_BINDS": "`DATABASE_REPLICA_URL` as the `replica` bind (connect timeout 3 s), else none",
    "SESSION_COOKIE_SECURE": "`LMS_SECURE_COOKIES`, or on in production",
    "REMEMBER_COOKIE_SECURE": "`LMS_SECURE_COOKIES`, or on in production",
    "REMEMBER_COOKIE_DURATION": "`LMS_REMEMBER_DAYS` as a duration",
}


def declared_keys() -> set[str]:
    """Every app.config key this module declares."""
    return {s.config_key for s in ENVIRONMENT if s.config_key} | set(FIXED) | set(DERIVED)


def instance_path(default: str) -> str:
    """The instance folder: ``LMS_INSTANCE_PATH``, else ``default``."""
    return os.environ.get("LMS_INSTANCE_PATH") or default


def engine_options(fixed: dict, pgbouncer: bool) -> dict:
    """The engine options: the fixed ones, and behind pgbouncer's transaction pooling no prepared
    statements (a statement prepared on one server connection does not exist on the next)."""
    return {**fixed, "connect_args": {"prepare_threshold": None}} if pgbouncer else dict(fixed)


def load_config(instance_path: str) -> dict:
    env = os.environ
    production = (env.get("LMS_ENV") or "").strip().lower() == "production"
    if not production and env.get("DATABASE_URL") and not all(env.get(name) for name in SHARED_KEYS):
        # A shared database with keys kept per host would make ID lookups fail on other hosts.
        logging.getLogger(__name__).warning(
            "DATABASE_URL is set but SECRET_KEY / LMS_DATA_KEY are not: using the keys in %s. "
            "Every host that shares this database must use the same keys.", instance_path)
    config = {key: value for key, (value, _meaning) in FIXED.items()}
    values = {s.name: None if production and s.name in SHARED_KEYS and not (env.get(s.name) or "").strip()
              else s.read(env, instance_path) for s in ENVIRONMENT}
    config.update({s.config_key: values[s.name] for s in ENVIRONMENT if s.config_key})
    secure = values["LMS_SECURE_COOKIES"]  # None: on in production, off in development (settle_config)
    config.update({
        "RATELIMIT_STORAGE_URI": values["REDIS_URL"] or "memory://",
        # A Redis that does not answer costs a request at most a second before the fallback takes over.
        "RATELIMIT_STORAGE_OPTIONS": ({"socket_connect_timeout": 1, "socket_timeout": 1} if values["REDIS_URL"]
                                      else {}),
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(
            config["SQLALCHEMY_ENGINE_OPTIONS"],
            values["LMS_PGBOUNCER"] and values["DATABASE_URL"].startswith("postgresql")),
        "SQLALCHEMY_BINDS": ({"replica": {"url": values["DATABASE_REPLICA_URL"], "connect_args": {"connect_timeout": 3}}}
                             if values["DATABASE_REPLICA_URL"] else {}),
        "SESSION_COOKIE_SECURE": secure,
        "REMEMBER_COOKIE_SECURE": secure,
        "REMEMBER_COOKIE_DURATION": timedelta(days=values["LMS_REMEMBER_DAYS"]),
    })
    return config


def settings_tables() -> str:
    """The README's settings tables (Markdown), generated from the declarations above."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for s in ENVIRONMENT:
        if s.shown is not None:
            default = s.shown
        elif s.default is None:
            default = "unset"
        elif s.default == "":
            default = "empty"
        else:
            default = f"`{s.default}`"
        lines.append(f"| `{s.name}` | {default} | {s.meaning} |")
    lines += ["", "Fixed in `lms/config.py` (tests and benchmarks may pass others to `create_app(config)`):", "",
              "| setting | value | meaning |", "|---|---|---|"]
    for key, (value, meaning) in FIXED.items():
        shown = "JSON as UTF-8" if key == "SQLALCHEMY_ENGINE_OPTIONS" else f"`{value!r}`"
        lines.append(f"| `{key}` | {shown} | {meaning} |")
    lines += ["", "Derived from the settings above:", "", "| setting | from |", "|---|---|"]
    lines += [f"| `{key}` | {meaning} |" for key, meaning in DERIVED.items()]
    return "\n".join(lines) + "\n"


def _refuse_missing_shared_keys(config) -> None:
    for name, file in SHARED_KEYS.items():
        if name in config and not config[name]:
            raise ValueError(
                f"LMS_ENV=production needs {name} in the environment, the same on every app node and job worker "
                f"(a node never makes its own: what one node signs or encrypts, the others must read). Make one "
                f"with: python -c 'import secrets; print(secrets.token_urlsafe(32))'; a platform that ran on one "
                f"machine keeps its key in instance/{file}.")


def settle_config(config) -> list[str]:
    """Check ``LMS_ENV`` and fill in what it decides, after any overrides were applied.

    Returns warnings to log at start-up; raises ValueError for a configuration that must not run.
    Production: secure cookies unless ``LMS_SECURE_COOKIES=0`` says otherwise, https URLs, no
    benchmark endpoints."""
    raw = config.get("LMS_ENV")
    name = str(raw or "").strip().lower()
    if name not in ENVIRONMENTS:
        raise ValueError(f"LMS_ENV must be one of {', '.join(ENVIRONMENTS)}, not {raw!r}.")
    config["LMS_ENV"] = name
    production = name == "production"
    for key in ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"):
        if config.get(key) is None:
            config[key] = production
    if not production:
        return []
    _refuse_missing_shared_keys(config)
    if config.get("LMS_SMS_SENDER") == "console":
        # The console sender prints one-time codes; a production server's output ends in its logs.
        raise ValueError("LMS_SMS_SENDER=console prints reset codes to the server's output and is refused with "
                         "LMS_ENV=production; set LMS_SMS_SENDER=http and LMS_SMS_GATEWAY_URL.")
    if config.get("LMS_SMS_SENDER") == "http" and not config.get("LMS_SMS_GATEWAY_URL"):
        raise ValueError("LMS_SMS_SENDER=http needs LMS_SMS_GATEWAY_URL.")
    public_url = str(config.get("LMS_PUBLIC_URL") or "")
    config["PREFERRED_URL_SCHEME"] = "http" if public_url.startswith("http://") else "https"
    warnings = []
    if not config["SESSION_COOKIE_SECURE"]:
        warnings.append("LMS_ENV=production with LMS_SECURE_COOKIES=0: login cookies are sent over plain http too.")
    if public_url.rstrip("/") == DEVELOPMENT_PUBLIC_URL:
        warnings.append(f"LMS_ENV=production without LMS_PUBLIC_URL: certificates, exports and API answers would "
                        f"link to {DEVELOPMENT_PUBLIC_URL}; set it to the platform's public address.")
    elif public_url.startswith("http://"):
        warnings.append(f"LMS_ENV=production with LMS_PUBLIC_URL={public_url}: links on certificates use plain http.")
    if config.get("LMS_JOBS_IMMEDIATE"):
        warnings.append("LMS_ENV=production with LMS_JOBS_IMMEDIATE=1: jobs run inside web requests.")
    return warnings
