from contextlib import contextmanager

import click
from flask.cli import AppGroup
from sqlalchemy import select

from ..core.errors import DomainError
from ..extensions import db
from . import services
from .identifiers import IdentifierError, fold, mask_id_number, normalize_id_number
from .models import OPTIONAL_REGION_ROLES, ORG_ROLES, REGION_ROLES, ROLE_ORG_KINDS, Organization, Role, User

users_cli = AppGroup("users", help="管理用户与角色（Manage users and roles）.")

_ROLE_CHOICE = click.Choice([r.value for r in Role])


def _masked_login(login: str) -> str:
    try:
        return mask_id_number(normalize_id_number(login))
    except IdentifierError:
        return login


@contextmanager
def _committed():
    """The block's changes are committed; a refusal rolls them back and ends the command with its message."""
    try:
        yield
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    db.session.commit()


def _organization(role: Role, org_name: str | None, org_code: str | None):
    if role not in ORG_ROLES:
        return None
    if not org_name and not org_code:
        raise click.ClickException(f"角色 {role.value} 需要 --org-name（及可选的 --org-code）指定机构。")
    kind = ROLE_ORG_KINDS[role][0]
    if org_code and not org_name:
        org = db.session.scalar(select(Organization).where(Organization.credit_code == fold(org_code, "统一社会信用代码")))
        if org is None:
            raise click.ClickException(f"找不到统一社会信用代码为 {org_code} 的机构，请同时给出 --org-name。")
        return org
    return services.get_or_create_organization(org_name, kind, credit_code=org_code)


@users_cli.command("create")
@click.option("--name", "real_name", required=True, help="真实姓名")
@click.option("--id-number", prompt="身份证号", hide_input=True, help="18 位身份证号（省略时在提示符下输入，不留在命令历史中）")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, help="密码")
@click.option("--mobile", help="手机号")
@click.option("--email", help="电子邮箱")
@click.option("--region", "region_code", help="地区代码（GB/T 2260，如 110000）")
@click.option("--role", "roles", multiple=True, type=_ROLE_CHOICE, help="角色，可重复；默认 learner")
@click.option("--org-name", help="publisher / unit_admin / base_admin 角色所属机构名称")
@click.option("--org-code", help="该机构的统一社会信用代码")
def create_user(real_name, id_number, password, mobile, email, region_code, roles, org_name, org_code):
    """创建用户并授予角色。"""
    with _committed():
        user = services.create_person(None, services.PersonData(
            real_name=real_name, id_number=id_number, password=password, mobile=mobile, email=email,
            region_code=region_code), roles=())
        for role in [Role(r) for r in (roles or ("learner",))]:
            services.grant_role(None, user, role, organization=_organization(role, org_name, org_code),
                                region_code=region_code if role == Role.HR_AUDITOR else None)
    click.echo(f"已创建用户 #{user.id} {user.real_name}（{user.id_number_masked}），角色："
               f"{'、'.join(r.label for r in user.roles)}")


@users_cli.command("grant")
@click.argument("login")
@click.argument("role", type=_ROLE_CHOICE)
@click.option("--org-name", help="publisher / unit_admin / base_admin 角色所属机构名称")
@click.option("--org-code", help="该机构的统一社会信用代码")
@click.option("--region", "region_code", help="hr_auditor 角色的地区代码；programme_office 角色：所辖地区（不给出为全国）")
def grant(login, role, org_name, org_code, region_code):
    """按身份证号、手机号或邮箱给用户授予角色。"""
    user = services.find_by_login(login)
    if user is None:
        raise click.ClickException(f"找不到账号 {_masked_login(login)}。")
    role = Role(role)
    if (org_name or org_code) and role not in ORG_ROLES:
        raise click.ClickException(f"角色 {role.value} 不属于某个机构，不能给出 --org-name / --org-code"
                                   f"（检查人员的回避以其个人信息中的工作单位为准）。")
    if region_code and role not in REGION_ROLES | OPTIONAL_REGION_ROLES:
        raise click.ClickException(f"角色 {role.value} 不按地区授予，不能给出 --region。")
    with _committed():
        services.grant_role(None, user, role, organization=_organization(role, org_name, org_code),
                            region_code=region_code)
    click.echo(f"已为 {user.real_name} 授予角色：{role.label}")


def _account(login: str) -> User:
    user = services.find_by_login(login)
    if user is None:
        raise click.ClickException(f"找不到账号 {_masked_login(login)}。")
    return user


@users_cli.command("revoke")
@click.argument("login")
@click.argument("role", type=_ROLE_CHOICE)
@click.option("--reason", default="", help="原因（记入审计日志）")
def revoke(login, role, reason):
    """撤销用户的某一角色（该角色的全部授权）；平台须保留至少一位可用的管理员。"""
    user = _account(login)
    grants = user.grants_for(role)
    if not grants:
        raise click.ClickException(f"{user.real_name} 没有角色 {Role(role).label}。")
    with _committed():
        for grant in grants:
            services.revoke_role(None, grant, reason=reason)
    click.echo(f"已撤销 {user.real_name} 的角色：{Role(role).label}")


@users_cli.command("disable")
@click.argument("login")
@click.option("--reason", required=True, help="原因（记入审计日志）")
def disable(login, reason):
    """停用账号：不能再登录，所有设备上的登录立即失效。"""
    user = _account(login)
    with _committed():
        ended = services.disable_account(None, user, reason=reason)
    click.echo(f"已停用 {user.real_name}（{user.id_number_masked}）的账号，结束登录 {ended} 处。")


@users_cli.command("enable")
@click.argument("login")
@click.option("--reason", required=True, help="原因（记入审计日志）")
def enable(login, reason):
    """重新启用已停用的账号。"""
    user = _account(login)
    with _committed():
        services.enable_account(None, user, reason=reason)
    click.echo(f"已重新启用 {user.real_name}（{user.id_number_masked}）的账号。")


@users_cli.command("reset-password")
@click.argument("login")
@click.password_option("--password", prompt="新密码", help="新密码（不给出时在终端输入，不回显）")
def reset_password(login, password):
    """为忘记密码的用户设置新密码（按身份证号、手机号或邮箱）；该账号的所有登录随即失效。"""
    user = services.find_by_login(login)
    if user is None:
        raise click.ClickException(f"找不到账号 {_masked_login(login)}。")
    with _committed():
        services.reset_password(None, user, password)
    click.echo(f"已为 {user.real_name}（{user.id_number_masked}）设置新密码；该账号在所有设备上的登录已失效。")


@users_cli.command("list")
def list_users():
    """列出用户（身份证号脱敏）。"""
    for user in db.session.scalars(select(User).order_by(User.id)):
        click.echo(f"#{user.id}\t{user.real_name}\t{user.id_number_masked}\t{user.mobile or user.email or ''}\t"
                   f"{'、'.join(r.label for r in user.roles)}")
