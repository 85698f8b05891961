"""JSON-ready dicts ⇄ the account model (accounts, associations, users, QOS, limits, the tree).

Keys are the dataclass field names; frozensets become sorted lists, enums their value, mappings
plain dicts. Decoding rejects malformed data with a ValueError that names the problem.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any, TypeVar

from corral.model.accounts import (
    ROOT,
    Account,
    AccountTree,
    Association,
    Limits,
    PreemptMode,
    Qos,
    User,
)

__all__ = [
    "account_from_dict", "account_to_dict", "association_from_dict", "association_to_dict",
    "limits_from_dict", "limits_to_dict", "qos_from_dict", "qos_to_dict", "tree_from_dict",
    "tree_to_dict", "user_from_dict", "user_to_dict",
]


# --------------------------------------------------------------------------- field readers

def _mapping(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ValueError(f"{what}: expected an object, got {type(data).__name__}")
    return data


def _str(data: Mapping[str, Any], key: str, what: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise ValueError(f"{what}: {key} must be a string")
    return value


def _opt_str(data: Mapping[str, Any], key: str, what: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{what}: {key} must be a string or null")
    return value


def _int(data: Mapping[str, Any], key: str, what: str, default: int) -> int:
    value = data.get(key, default)
    # bool is an int subclass, but true/false is never a count.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what}: {key} must be an integer")
    return value


def _opt_int(data: Mapping[str, Any], key: str, what: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what}: {key} must be an integer or null")
    return value


def _float(data: Mapping[str, Any], key: str, what: str, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what}: {key} must be a number")
    return float(value)


def _names(data: Mapping[str, Any], key: str, what: str) -> frozenset[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what}: {key} must be a list of strings")
    return frozenset(value)


def _tres(data: Mapping[str, Any], key: str, what: str) -> dict[str, int]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ValueError(f"{what}: {key} must be an object of TRES counts")
    out: dict[str, int] = {}
    for name, count in value.items():
        if not isinstance(name, str) or isinstance(count, bool) or not isinstance(count, int):
            raise ValueError(f"{what}: {key} must map TRES names to integers")
        out[name] = count
    return out


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ValueError(f"account tree: {key} must be a list")
    return value


# --------------------------------------------------------------------------- limits

def limits_to_dict(limits: Limits) -> dict[str, Any]:
    return {
        "max_jobs": limits.max_jobs,
        "max_submit_jobs": limits.max_submit_jobs,
        "max_wall": limits.max_wall,
        "max_tres_per_job": dict(limits.max_tres_per_job),
        "grp_jobs": limits.grp_jobs,
        "grp_submit_jobs": limits.grp_submit_jobs,
        "grp_tres": dict(limits.grp_tres),
    }


def limits_from_dict(data: Any) -> Limits:
    what = "limits"
    d = _mapping(data, what)
    return Limits(
        max_jobs=_opt_int(d, "max_jobs", what),
        max_submit_jobs=_opt_int(d, "max_submit_jobs", what),
        max_wall=_opt_int(d, "max_wall", what),
        max_tres_per_job=_tres(d, "max_tres_per_job", what),
        grp_jobs=_opt_int(d, "grp_jobs", what),
        grp_submit_jobs=_opt_int(d, "grp_submit_jobs", what),
        grp_tres=_tres(d, "grp_tres", what),
    )


def _limits_field(d: Mapping[str, Any]) -> Limits:
    return limits_from_dict(d["limits"]) if d.get("limits") is not None else Limits()


# --------------------------------------------------------------------------- records

def account_to_dict(account: Account) -> dict[str, Any]:
    return {
        "name": account.name,
        "parent": account.parent,
        "shares": account.shares,
        "limits": limits_to_dict(account.limits),
        "default_qos": account.default_qos,
        "qos": sorted(account.qos),
        "description": account.description,
        "organization": account.organization,
    }


def account_from_dict(data: Any) -> Account:
    d = _mapping(data, "account")
    name = _str(d, "name", "account")
    what = f"account {name}"
    parent = _opt_str(d, "parent", what) if "parent" in d else (None if name == ROOT else ROOT)
    return Account(
        name=name,
        parent=parent,
        shares=_int(d, "shares", what, 1),
        limits=_limits_field(d),
        default_qos=_opt_str(d, "default_qos", what),
        qos=_names(d, "qos", what),
        description=_str(d, "description", what, ""),
        organization=_str(d, "organization", what, ""),
    )


def association_to_dict(assoc: Association) -> dict[str, Any]:
    return {
        "user": assoc.user,
        "account": assoc.account,
        "shares": assoc.shares,
        "limits": limits_to_dict(assoc.limits),
        "default_qos": assoc.default_qos,
        "qos": sorted(assoc.qos),
    }


def association_from_dict(data: Any) -> Association:
    d = _mapping(data, "association")
    user = _str(d, "user", "association")
    account = _str(d, "account", "association")
    what = f"association {user}@{account}"
    return Association(
        user=user,
        account=account,
        shares=_int(d, "shares", what, 1),
        limits=_limits_field(d),
        default_qos=_opt_str(d, "default_qos", what),
        qos=_names(d, "qos", what),
    )


def user_to_dict(user: User) -> dict[str, Any]:
    return {"name": user.name, "default_account": user.default_account}


def user_from_dict(data: Any) -> User:
    d = _mapping(data, "user")
    name = _str(d, "name", "user")
    return User(name=name, default_account=_str(d, "default_account", f"user {name}"))


def qos_to_dict(qos: Qos) -> dict[str, Any]:
    return {
        "name": qos.name,
        "priority": qos.priority,
        "max_jobs_per_user": qos.max_jobs_per_user,
        "max_submit_jobs_per_user": qos.max_submit_jobs_per_user,
        "max_tres_per_user": dict(qos.max_tres_per_user),
        "max_tres_per_job": dict(qos.max_tres_per_job),
        "max_wall": qos.max_wall,
        "grp_jobs": qos.grp_jobs,
        "grp_tres": dict(qos.grp_tres),
        "usage_factor": qos.usage_factor,
        "preempt": sorted(qos.preempt),
        "preempt_mode": qos.preempt_mode.value if qos.preempt_mode is not None else None,
        "grace_time": qos.grace_time,
    }


def qos_from_dict(data: Any) -> Qos:
    d = _mapping(data, "qos")
    name = _str(d, "name", "qos")
    what = f"qos {name}"
    mode = _opt_str(d, "preempt_mode", what)
    try:
        preempt_mode = PreemptMode(mode.upper()) if mode is not None else None
    except ValueError:
        raise ValueError(f"{what}: unknown preempt_mode {mode!r}") from None
    return Qos(
        name=name,
        priority=_int(d, "priority", what, 0),
        max_jobs_per_user=_opt_int(d, "max_jobs_per_user", what),
        max_submit_jobs_per_user=_opt_int(d, "max_submit_jobs_per_user", what),
        max_tres_per_user=_tres(d, "max_tres_per_user", what),
        max_tres_per_job=_tres(d, "max_tres_per_job", what),
        max_wall=_opt_int(d, "max_wall", what),
        grp_jobs=_opt_int(d, "grp_jobs", what),
        grp_tres=_tres(d, "grp_tres", what),
        usage_factor=_float(d, "usage_factor", what, 1.0),
        preempt=_names(d, "preempt", what),
        preempt_mode=preempt_mode,
        grace_time=_int(d, "grace_time", what, 0),
    )


# --------------------------------------------------------------------------- the tree

def tree_to_dict(tree: AccountTree) -> dict[str, Any]:
    return {
        "accounts": [account_to_dict(tree.accounts[k]) for k in sorted(tree.accounts)],
        "users": [user_to_dict(tree.users[k]) for k in sorted(tree.users)],
        "associations": [association_to_dict(tree.associations[k])
                         for k in sorted(tree.associations)],
        "qos": [qos_to_dict(tree.qos[k]) for k in sorted(tree.qos)],
        "default_qos": tree.default_qos,
    }


V = TypeVar("V")


def _keyed(d: Mapping[str, Any], key: str, decode: Callable[[Any], V],
           name_of: Callable[[V], Hashable], what: str) -> dict[Any, V]:
    """One list of the tree, decoded and keyed; an entry given twice is a ValueError."""
    out: dict[Any, V] = {}
    for item in _list(d, key):
        value = decode(item)
        name = name_of(value)
        if name in out:
            shown = "@".join(reversed(name)) if isinstance(name, tuple) else name
            raise ValueError(f"account tree: {what} {shown} appears twice")
        out[name] = value
    return out


def tree_from_dict(data: Any) -> AccountTree:
    """Decodes and validates a whole tree; duplicates and inconsistencies are ValueErrors."""
    d = _mapping(data, "account tree")
    accounts = _keyed(d, "accounts", account_from_dict, lambda a: a.name, "account")
    associations = _keyed(d, "associations", association_from_dict, lambda a: a.key,
                          "association")
    users = _keyed(d, "users", user_from_dict, lambda u: u.name, "user")
    qos = _keyed(d, "qos", qos_from_dict, lambda q: q.name, "qos")
    default_qos = _str(d, "default_qos", "account tree", "normal")
    # AccountTree.__post_init__ raises ValueError naming whatever is inconsistent.
    return AccountTree(accounts, associations, users, qos, default_qos)
