"""Backup and restore of one installation (deploy/README.md "Backup and restore").

A backup is a folder:

- ``database.pgdump`` (``pg_dump --format=custom``) or ``database.sqlite3`` (SQLite's online backup);
- ``storage/``: every stored object (uploads, renditions, certificate PDFs, exports, package archives),
  read through the storage interface, so a file folder and an S3 bucket are backed up alike;
- ``signing-keys/``: the Ed25519 keys credentials were signed with, and which one is active;
- ``secrets.env``: ``SECRET_KEY`` and ``LMS_DATA_KEY`` (ID numbers are sealed under the data key:
  without it the restored database cannot name anyone). Left out with ``--without-secrets`` where the
  keys are kept elsewhere;
- ``manifest.json``: what was backed up, the schema revision, and the SHA-256 of every file.

A restore checks every file against the manifest and the installation's keys against the backup's
before it changes anything, then loads the database (into an installation with no learning record of
its own: a freshly set-up one), the objects and the keys, and brings the schema to this code's head.
``check_certificate`` proves the result: a certificate issued before the backup is found, valid, its
PDF matches the published hash and its signed credential verifies against the published keys.
"""

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import jwt
from alembic.migration import MigrationContext
from flask import current_app
from flask_migrate import upgrade
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import make_url

from .accounts.models import User
from .certificates import services as certificates
from .certificates import signing
from .core.storage import StorageUnavailable, media_storage
from .credits.models import CreditRecord
from .extensions import db

FORMAT = 1
SECRETS = ("SECRET_KEY", "LMS_DATA_KEY")
BLOCK = 1 << 20


class BackupError(Exception):
    """What stopped a backup or restore, in words an operator can act on. ``changed``: a restore that
    stopped part-way (the message says how to finish it); otherwise nothing was changed."""

    def __init__(self, message: str, *, changed: bool = False):
        super().__init__(message)
        self.changed = changed


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _database_url(override: str | None) -> str:
    return override or current_app.config["SQLALCHEMY_DATABASE_URI"]


def _libpq(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as libpq reads it (pg_dump, pg_restore)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"缺少 {name}：请安装 PostgreSQL 客户端程序（Debian：postgresql-client）。")
    return found


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} 出错：{done.stderr.strip()[-2000:]}")


def _sqlite_copy(source, target) -> None:
    """SQLite's online backup: a consistent copy even while the source is being written."""
    origin, copy = sqlite3.connect(source), sqlite3.connect(target)
    try:
        origin.backup(copy)
    finally:
        copy.close()
        origin.close()


def _revision() -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


# ---------------------------------------------------------------- backing up

def create(target: Path, *, database_url: str | None = None, with_secrets: bool = True) -> Report:
    """Write a backup of this installation into ``target`` (a folder that must not exist yet)."""
    target = Path(target)
    if target.exists():
        raise BackupError(f"{target} 已存在：请为备份指定一个新的文件夹。")
    url = _database_url(database_url)
    kind = make_url(url).get_backend_name()
    if kind not in ("postgresql", "sqlite"):
        raise BackupError(f"不能备份 {kind} 数据库（只支持 PostgreSQL 和 SQLite）。")
    report = Report()
    target.mkdir(parents=True, mode=0o700)
    try:
        revision = _revision()
        if kind == "postgresql":
            _run([_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                  f"--file={target / 'database.pgdump'}", f"--dbname={_libpq(url)}"])
        else:
            _sqlite_copy(make_url(url).database, target / "database.sqlite3")
        report.add(f"数据库（{kind}，结构版本 {revision}）")

        storage, objects = media_storage(), 0
        for key in storage.stored_keys():
            path = target / "storage" / key
            path.parent.mkdir(parents=True, exist_ok=True)
            with storage.open(key) as source_fh, open(path, "wb") as out:
                shutil.copyfileobj(source_fh, out, BLOCK)
            objects += 1
        report.add(f"存储对象 {objects} 个")

        keys = target / "signing-keys"
        keys.mkdir(mode=0o700)
        for path in sorted(signing.key_dir().iterdir()):
            if path.is_file() and (path.suffix == ".pem" or path.name == "active"):
                shutil.copy2(path, keys / path.name)
        report.add(f"签名密钥 {len(list(keys.glob('*.pem')))} 把")

        if with_secrets:
            secrets = target / "secrets.env"
            fd = os.open(secrets, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.writelines(f"{name}={current_app.config[name]}\n" for name in SECRETS)
            report.add("secrets.env（SECRET_KEY、LMS_DATA_KEY）：这份备份须与密钥同等保密")

        files = {path.relative_to(target).as_posix(): _sha256(path)
                 for path in sorted(target.rglob("*")) if path.is_file()}
        manifest = {"format": FORMAT, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "database": kind, "revision": revision, "objects": objects, "secrets": with_secrets,
                    "files": files}
        (target / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)  # no half backup left to be mistaken for a whole one
        raise
    return report


# ---------------------------------------------------------------- restoring

def _manifest(source: Path) -> dict:
    try:
        manifest = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise BackupError(f"{source} 不是备份（没有可读的 manifest.json）。") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{source} 的备份格式为 {manifest.get('format')}，本版本只能读取格式 {FORMAT}。")
    for name, expected in manifest["files"].items():
        path = source / name
        if not path.is_file() or _sha256(path) != expected:
            raise BackupError(f"备份中的 {name} 缺失或在备份后被改动：请用完好的备份副本恢复。")
    extra = {p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()} - set(manifest["files"])
    if extra - {"manifest.json"}:
        raise BackupError(f"备份中有清单（manifest.json）之外的文件：{'、'.join(sorted(extra - {'manifest.json'}))[:500]}")
    return manifest


def _check_secrets(source: Path, manifest: dict) -> None:
    if not manifest["secrets"]:
        return
    saved = dict(line.split("=", 1) for line in (source / "secrets.env").read_text().splitlines() if "=" in line)
    differing = [name for name in SECRETS if saved.get(name) != current_app.config[name]]
    if differing:
        raise BackupError(f"本平台的 {'、'.join(differing)} 与备份的不同：备份中的数据是用备份自己的密钥加密和签名的。"
                          f"请在每个节点上按 {source / 'secrets.env'} 设置后再恢复。")


def _has_own_record() -> bool:
    """Whether the target database holds people or ledger entries (more than a fresh set-up)."""
    tables = set(inspect(db.engine).get_table_names())
    if not {"user", "credit_record"} <= tables:
        return False
    return bool(db.session.scalar(select(func.count()).select_from(User))
                or db.session.scalar(select(func.count()).select_from(CreditRecord)))


def _check_keys(source: Path) -> None:
    folder = signing.key_dir()
    for path in sorted((source / "signing-keys").glob("*.pem")):
        here = folder / path.name
        if here.exists() and here.read_bytes() != path.read_bytes():
            raise BackupError(f"{here} 已有一把同名但不同的密钥：请先移走它再恢复。")


def restore(source: Path, *, database_url: str | None = None, replace: bool = False) -> Report:
    """Restore the backup in ``source`` into this installation (see the module's docstring)."""
    source = Path(source)
    manifest = _manifest(source)
    url = _database_url(database_url)
    kind = make_url(url).get_backend_name()
    if kind != manifest["database"]:
        raise BackupError(f"备份的是 {manifest['database']} 数据库，本平台使用的是 {kind}。")
    _check_secrets(source, manifest)
    _check_keys(source)
    if _has_own_record() and not replace:
        raise BackupError("本平台已有账号或学时记录：请恢复到新安装的平台，或加 --replace 覆盖现有数据。")
    storage = media_storage()
    try:  # before anything changes: a store that cannot be reached now leaves the installation as it was
        storage.check()
    except StorageUnavailable as exc:
        raise BackupError(f"文件存储无法访问（{exc.reason}），没有恢复任何内容：请检查 LMS_STORAGE_URL 和存储服务后重试。") \
            from None
    report = Report()
    db.session.remove()
    db.engine.dispose()
    if kind == "postgresql":
        _run([_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges",
              "--single-transaction", f"--dbname={_libpq(url)}", str(source / "database.pgdump")])
    else:
        _sqlite_copy(source / "database.sqlite3", make_url(url).database)
    db.engine.dispose()
    upgrade(directory=str(Path(current_app.root_path).parent / "migrations"))
    report.add(f"数据库（结构版本 {manifest['revision']} → {_revision()}）")

    stored = [path for path in sorted((source / "storage").rglob("*")) if path.is_file()] \
        if (source / "storage").exists() else []
    for objects, path in enumerate(stored):
        try:
            with open(path, "rb") as fh:
                storage.save(path.relative_to(source / "storage").as_posix(), fh)
        except (StorageUnavailable, OSError) as exc:  # the database is restored already: say how to finish
            reason = exc.reason if isinstance(exc, StorageUnavailable) else f"{type(exc).__name__}: {exc}"
            raise BackupError(
                f"数据库已恢复，但文件存储在恢复第 {objects + 1}/{len(stored)} 个对象时出错（{reason}），"
                "签名密钥尚未恢复：排除存储故障后请加 --replace 重新运行本命令（可重复运行）。", changed=True) from None
    report.add(f"存储对象 {len(stored)} 个")

    folder = signing.key_dir()
    for path in sorted((source / "signing-keys").iterdir()):
        fd = os.open(folder / path.name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(path.read_bytes())
    report.add(f"签名密钥 {len(list((source / 'signing-keys').glob('*.pem')))} 把（此后用备份中的当前密钥签名）")
    return report


# ---------------------------------------------------------------- proving it

def check_certificate(number: str) -> list[str]:
    """Problems with certificate ``number`` as the public would check it (empty: it verifies)."""
    found = certificates.verify(number, via="backup-check")
    if found.outcome != "found" or found.certificate is None:
        return [f"{number}：{found.message or found.outcome}"]
    cert, problems = found.certificate, []
    if not cert.is_valid:
        problems.append(f"{cert.number} 已不再有效（{cert.status}）")
    try:
        certificates.compare_pdf(found, certificates.pdf_bytes(cert))
    except FileNotFoundError:
        problems.append(f"{cert.number}：存储中没有它的 PDF")
    if found.pdf_match is False:
        problems.append(f"{cert.number}：存储的 PDF 与公布的 SHA-256 不符")
    try:
        kid = jwt.get_unverified_header(cert.credential_jwt).get("kid")
        keys = signing.all_keys()
        if kid not in keys:
            raise jwt.InvalidTokenError(f"密钥 {kid} 不在公布的密钥中")
        jwt.decode(cert.credential_jwt, keys[kid].public_key(), algorithms=[signing.ALGORITHM],
                   options={"verify_aud": False})
    except jwt.InvalidTokenError as exc:
        problems.append(f"{cert.number}：签名凭证验证失败（{exc}）")
    return problems
