"""sacctmgr's add/modify/delete verbs as pure edits of the account tree, worded as sacctmgr words them.

apply_admin(tree, request, cluster) returns a new tree and the text sacctmgr prints for the
change; bad input raises AdminError carrying sacctmgr's message. A message that sacctmgr prints
on its own line starts with a space (" Need name of account to add."); one without (such as
"Invalid value for MaxJobs (x)") is what sacctmgr reports through its `error:` prefix.

Request keys are sacctmgr's option names, lower-cased; an option typed with `+=`/`-=` (qos,
preempt) arrives as "qos+"/"qos-". Differences from Slurm, on purpose: associations carry no
partition; deleting an account that still has sub-accounts is refused (slurmdbd would drop the
whole subtree); deleting a QOS that is some account's only allowed QOS is refused, since an
empty list would mean "all QOS" here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

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
from corral.model.sacctmgr_values import (
    AdminError,
    format_tres,
    merge_tres,
    name_list,
    parse_count,
    parse_minutes,
    parse_seconds,
    parse_tres_changes,
)
from corral.model.timefmt import format_limit_hms

__all__ = ["AdminError", "AdminRequest", "AdminResult", "apply_admin", "format_tres",
           "request_from_dict", "request_to_dict"]

VERBS = ("add", "modify", "delete")
ENTITIES = ("account", "user", "qos")


@dataclass(frozen=True)
class AdminRequest:
    verb: str  # add | modify | delete
    entity: str  # account | user | qos
    names: tuple[str, ...] = ()
    where: Mapping[str, str] = field(default_factory=dict)
    changes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AdminResult:
    tree: AccountTree
    message: str
    changed: bool


def request_to_dict(request: AdminRequest, *, dry_run: bool = False) -> dict[str, Any]:
    """The wire form the CLI posts; "set" carries the changes."""
    return {"verb": request.verb, "entity": request.entity, "names": list(request.names),
            "where": dict(request.where), "set": dict(request.changes), "dry_run": dry_run}


def request_from_dict(data: Any) -> AdminRequest:
    if not isinstance(data, Mapping):
        raise ValueError("sacctmgr request: expected an object")
    verb, entity = data.get("verb"), data.get("entity")
    if verb not in VERBS:
        raise ValueError(f"sacctmgr request: unknown verb {verb!r}")
    if entity not in ENTITIES:
        raise ValueError(f"sacctmgr request: unknown entity {entity!r}")
    names = data.get("names", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError("sacctmgr request: names must be a list of strings")
    maps = []
    for key in ("where", "set"):
        value = data.get(key, {})
        if not isinstance(value, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise ValueError(f"sacctmgr request: {key} must map strings to strings")
        maps.append({k.lower(): v for k, v in value.items()})
    return AdminRequest(verb, entity, tuple(names), maps[0], maps[1])


def _qos_names(tree: AccountTree, text: str) -> frozenset[str]:
    names = name_list(text)
    for name in names:
        if name not in tree.qos:
            raise AdminError(f"You gave a bad qos '{name}'.  Use 'list qos' to get complete list.")
    return frozenset(names)


def _assoc_line(cluster: str, account: str) -> str:
    return f"  A = {account[:10]:<10} C = {cluster[:10]:<10}"


def _user_assoc_line(cluster: str, user: str, account: str) -> str:
    return f"  U = {user[:9]:<9} A = {account[:10]:<10} C = {cluster[:10]:<10}"


# --------------------------------------------------------------------------- association edits

# sacctmgr's option names (and the abbreviations people type) → one canonical key.
_ASSOC_KEYS = {
    "fairshare": "fairshare", "share": "fairshare", "shares": "fairshare",
    "maxjobs": "maxjobs", "maxsubmitjobs": "maxsubmitjobs", "maxsubmit": "maxsubmitjobs",
    "maxwall": "maxwall", "maxwalldurationperjob": "maxwall",
    "maxtres": "maxtres", "maxtresperjob": "maxtres",
    "grpjobs": "grpjobs", "grpsubmitjobs": "grpsubmitjobs", "grpsubmit": "grpsubmitjobs",
    "grptres": "grptres",
    "qos": "qos", "qos+": "qos+", "qos-": "qos-", "qoslevel": "qos", "qoslevel+": "qos+",
    "qoslevel-": "qos-",
    "defaultqos": "defaultqos", "defqos": "defaultqos",
}
_LIMIT_FIELDS = {"maxjobs": "max_jobs", "maxsubmitjobs": "max_submit_jobs",
                 "grpjobs": "grp_jobs", "grpsubmitjobs": "grp_submit_jobs"}
_LIMIT_LABELS = {"maxjobs": "MaxJobs", "maxsubmitjobs": "MaxSubmitJobs", "grpjobs": "GrpJobs",
                 "grpsubmitjobs": "GrpSubmitJobs"}


@dataclass
class _AssocEdit:
    """Parsed association settings; None fields leave the value as it is."""

    shares: int | None = None
    limits: dict[str, Any] = field(default_factory=dict)  # Limits field → value (None clears)
    tres: dict[str, dict[str, int | None]] = field(default_factory=dict)  # field → delta
    qos: tuple[str, frozenset[str]] | None = None  # ("=", "+", "-"), names
    default_qos: str | None = None
    clear_default_qos: bool = False
    parent: str | None = None
    lines: dict[str, str] = field(default_factory=dict)  # sacctmgr label → shown value

    @property
    def empty(self) -> bool:
        return not self.lines


def _parse_assoc(tree: AccountTree, changes: Mapping[str, str], *,
                 allow_parent: bool) -> tuple[_AssocEdit, dict[str, str]]:
    """Reads association options out of `changes`; returns the edit and the options left over."""
    edit = _AssocEdit()
    rest: dict[str, str] = {}
    for raw_key, value in changes.items():
        key = _ASSOC_KEYS.get(raw_key)
        if raw_key == "parent" and allow_parent:
            edit.parent = value.strip()
            edit.lines["Parent"] = edit.parent
        elif key is None:
            rest[raw_key] = value
        elif key == "fairshare":
            shares = parse_count(value, "FairShare")
            edit.shares = 1 if shares is None else shares
            edit.lines["Fairshare"] = str(edit.shares) if shares is not None else "NONE"
        elif key in _LIMIT_FIELDS:
            count = parse_count(value, _LIMIT_LABELS[key])
            edit.limits[_LIMIT_FIELDS[key]] = count
            edit.lines[_LIMIT_LABELS[key]] = "NONE" if count is None else str(count)
        elif key == "maxwall":
            minutes = parse_minutes(value, "MaxWall")
            edit.limits["max_wall"] = minutes
            edit.lines["MaxWall"] = "NONE" if minutes is None else format_limit_hms(minutes)
        elif key in ("maxtres", "grptres"):
            label = "MaxTRES" if key == "maxtres" else "GrpTRES"
            delta = parse_tres_changes(value, label)
            edit.tres["max_tres_per_job" if key == "maxtres" else "grp_tres"] = delta
            edit.lines[label] = format_tres(delta)
        elif key.startswith("qos"):
            op = key[3:] or "="
            names = _qos_names(tree, value)
            edit.qos = (op, names)
            prefix = "" if op == "=" else op
            edit.lines["QOS"] = ",".join(prefix + n for n in sorted(names)) or "''"
        elif key == "defaultqos":
            name = value.strip().strip("'\"")
            if name in ("", "-1"):
                edit.clear_default_qos = True
                edit.lines["DefQOS"] = "NONE"
            else:
                _qos_names(tree, name)
                edit.default_qos = name
                edit.lines["DefQOS"] = name
    return edit, rest


# sacctmgr_print_assoc_limits's order and column.
_ASSOC_LINE_ORDER = ("Fairshare", "GrpJobs", "GrpSubmitJobs", "GrpTRES", "MaxJobs",
                     "MaxSubmitJobs", "MaxTRES", "MaxWall", "Parent", "QOS", "DefQOS")


def _assoc_settings(lines: Mapping[str, str]) -> str:
    return "".join(f"  {label:<14}= {lines[label]}\n" for label in _ASSOC_LINE_ORDER
                   if label in lines)


def _edit_limits(limits: Limits, edit: _AssocEdit) -> Limits:
    updated = dict(edit.limits)
    for name, delta in edit.tres.items():
        updated[name] = merge_tres(getattr(limits, name), delta)
    return replace(limits, **updated) if updated else limits


def _edit_qos(current: frozenset[str], edit: _AssocEdit, inherited: frozenset[str]) -> frozenset[str]:
    if edit.qos is None:
        return current
    op, names = edit.qos
    if op == "=":
        return names
    # += / -= start from what the record effectively allows, as Slurm's lists are never empty.
    base = current or inherited
    return base | names if op == "+" else base - names


def _edit_account(tree: AccountTree, account: Account, edit: _AssocEdit) -> Account:
    inherited = tree.allowed_qos(Association("", account.name)) if not account.qos else account.qos
    default_qos = None if edit.clear_default_qos else (edit.default_qos or account.default_qos)
    return replace(
        account,
        shares=account.shares if edit.shares is None else edit.shares,
        limits=_edit_limits(account.limits, edit),
        qos=_edit_qos(account.qos, edit, inherited),
        default_qos=default_qos,
        parent=edit.parent if edit.parent is not None and account.name != ROOT else account.parent,
    )


def _edit_association(tree: AccountTree, assoc: Association, edit: _AssocEdit) -> Association:
    default_qos = None if edit.clear_default_qos else (edit.default_qos or assoc.default_qos)
    return replace(
        assoc,
        shares=assoc.shares if edit.shares is None else edit.shares,
        limits=_edit_limits(assoc.limits, edit),
        qos=_edit_qos(assoc.qos, edit, tree.allowed_qos(assoc)),
        default_qos=default_qos,
    )


def _unknown_options(rest: Mapping[str, str], *, condition: bool = False) -> None:
    if not rest:
        return
    key, value = next(iter(rest.items()))
    if condition:
        raise AdminError(f" Unknown condition: {key}={value}\n Use keyword 'set' to modify value")
    raise AdminError(f" Unknown option: {key}={value}\n Use keyword 'where' to modify condition")


def _check_cluster(where: Mapping[str, str], cluster: str) -> dict[str, str]:
    rest = dict(where)
    for key in ("cluster", "clusters"):
        if key in rest:
            for name in name_list(rest.pop(key)):
                if name != cluster:
                    raise AdminError(f" This cluster '{name}' doesn't exist.\n"
                                     "        Contact your admin to add it to accounting.")
    return rest


def _take_names(names: Iterable[str], where: dict[str, str], keys: Iterable[str]) -> list[str]:
    out = [n for name in names for n in name_list(name)]
    for key in keys:
        if key in where:
            out.extend(name_list(where.pop(key)))
    return list(dict.fromkeys(out))


def _tree(tree: AccountTree, **changes: Any) -> AccountTree:
    fields: dict[str, Any] = {"accounts": tree.accounts, "associations": tree.associations,
                              "users": tree.users, "qos": tree.qos,
                              "default_qos": tree.default_qos}
    fields.update(changes)
    try:
        return AccountTree(**fields)
    except ValueError as exc:  # an edit the checks above missed: report, never corrupt
        raise AdminError(f" Error with request: {exc}") from None


# --------------------------------------------------------------------------- accounts

def _add_account(tree: AccountTree, req: AdminRequest, cluster: str) -> AdminResult:
    changes = dict(req.changes)
    names = _take_names(req.names, changes, ("name", "names", "account", "accounts", "acct"))
    changes = _check_cluster(changes, cluster)
    description = changes.pop("description", None)
    organization = changes.pop("organization", None)
    edit, rest = _parse_assoc(tree, changes, allow_parent=True)
    _unknown_options(rest)
    if not names:
        raise AdminError(" Need name of account to add.")
    parent = edit.parent or ROOT
    edit.parent = parent
    edit.lines["Parent"] = parent
    if parent not in tree.accounts:
        raise AdminError(f" Parent account '{parent}' doesn't exist on cluster {cluster}\n"
                         "        Contact your admin to add this account.")
    new = [n for n in names if n not in tree.accounts]
    if not new:
        return AdminResult(tree, " Nothing new added.\n", False)
    accounts = dict(tree.accounts)
    for name in new:
        base = Account(name, parent, description=description or name,
                       organization=organization or (parent if parent != ROOT else name))
        accounts[name] = _edit_account(tree, base, edit)
    text = (" Adding Account(s)\n" + "".join(f"  {n}\n" for n in new) + " Settings\n"
            f"  Description     = {description or 'Account Name'}\n"
            f"  Organization    = {organization or 'Parent/Account Name'}\n"
            " Associations\n" + "".join(_assoc_line(cluster, n) + "\n" for n in new)
            + " Settings\n" + _assoc_settings(edit.lines))
    return AdminResult(_tree(tree, accounts=accounts), text, True)


def _account_targets(tree: AccountTree, req: AdminRequest, cluster: str,
                     keys: tuple[str, ...]) -> tuple[list[str], bool]:
    """Accounts the names and where-conditions select; the flag says whether any condition was given."""
    where = _check_cluster(req.where, cluster)
    names = _take_names(req.names, where, keys)
    filters: list[Callable[[Account], bool]] = []
    if names:
        filters.append(lambda a: a.name in names)
    for key, attr in (("parent", "parent"), ("description", "description"),
                      ("descriptions", "description"), ("organization", "organization"),
                      ("organizations", "organization")):
        if key in where:
            wanted = name_list(where.pop(key))
            filters.append(_field_in(attr, wanted))
    _unknown_options(where, condition=True)
    found = [a.name for a in tree.accounts.values() if filters and all(f(a) for f in filters)]
    return sorted(found), bool(filters)


def _modify_account(tree: AccountTree, req: AdminRequest, cluster: str) -> AdminResult:
    changes = dict(req.changes)
    record: dict[str, Any] = {k: changes.pop(k) for k in ("description", "organization")
                              if k in changes}
    edit, rest = _parse_assoc(tree, changes, allow_parent=True)
    _unknown_options(rest)
    if not record and edit.empty:
        raise AdminError(" You didn't give me anything to set")
    targets, conditioned = _account_targets(
        tree, req, cluster, ("name", "names", "account", "accounts", "acct"))
    if not conditioned:
        raise AdminError(" You didn't set any conditions with 'WHERE'.")
    if edit.parent is not None:
        if edit.parent not in tree.accounts:
            raise AdminError(f" Parent Account {edit.parent} doesn't exist.")
        for name in targets:
            if name in tree.ancestors(edit.parent):
                raise AdminError(f" Can't make account {edit.parent} the parent of {name}: "
                                 f"{edit.parent} is {name} or one of its sub-accounts.")
    accounts = dict(tree.accounts)
    modified_records, modified_assocs = [], []
    for name in targets:
        account = accounts[name]
        updated = replace(account, **record) if record else account
        if updated != account:
            modified_records.append(name)
        if not edit.empty:
            edited = _edit_account(tree, updated, edit)
            if edited != updated:
                modified_assocs.append(name)
            updated = edited
        accounts[name] = updated
    if not modified_records and not modified_assocs:
        return AdminResult(tree, " Nothing modified\n", False)
    new_tree = _tree(tree, accounts=accounts)
    text = ""
    if modified_records:
        text += " Modified accounts...\n" + "".join(f"  {n}\n" for n in modified_records)
    if modified_assocs:
        text += " Modified account associations...\n" + "".join(
            f"  C = {cluster:<10} A = {n} of {new_tree.accounts[n].parent}\n"
            if n != ROOT else f"  C = {cluster:<10} A = {n}\n" for n in modified_assocs)
    return AdminResult(new_tree, text, True)


def _delete_account(tree: AccountTree, req: AdminRequest, cluster: str) -> AdminResult:
    if not req.names and not req.where:
        raise AdminError(" No conditions given to remove, not executing.")
    targets, _ = _account_targets(
        tree, req, cluster, ("name", "names", "account", "accounts", "acct"))
    if ROOT in targets:
        raise AdminError(" You are not allowed to remove the root account.\n"
                         " Use remove cluster instead.")
    if not targets:
        return AdminResult(tree, " Nothing deleted\n", False)
    doomed = set(targets)
    for name in targets:
        kept = [c for c in tree.children(name) if c not in doomed]
        if kept:
            raise AdminError(f" Can't remove account {name}: it still has sub-accounts "
                             f"({','.join(kept)}).\n Remove or move them first.")
    defaults = [u for u in tree.users.values() if u.default_account in doomed]
    if defaults:
        listing = "".join(f"C = {cluster:<10} A = {u.default_account:<20} U = {u.name:<9}\n"
                          for u in sorted(defaults, key=lambda u: u.name))
        raise AdminError(" Users listed below have these as their Default Accounts.\n" + listing
                         + " Please either remove the accounts listed above from list and "
                         "resubmit,\n or change these users default account to remove the "
                         "account(s).\n Changes Discarded")
    accounts = {k: v for k, v in tree.accounts.items() if k not in doomed}
    associations = {k: v for k, v in tree.associations.items() if k[0] not in doomed}
    text = " Deleting accounts...\n" + "".join(f"  {n}\n" for n in targets)
    return AdminResult(_tree(tree, accounts=accounts, associations=associations), text, True)


# --------------------------------------------------------------------------- users

def _check_accounts(tree: AccountTree, names: Iterable[str]) -> None:
    for name in names:
        if name not in tree.accounts:
            raise AdminError(f" This account '{name}' doesn't exist.\n"
                             "        Contact your admin to add this account.")


def _add_user(tree: AccountTree, req: AdminRequest, cluster: str) -> AdminResult:
    changes = _check_cluster(req.changes, cluster)
    names = _take_names(req.names, changes, ("name", "names", "user", "users"))
    accounts = _take_names((), changes, ("account", "accounts", "acct"))
    default = changes.pop("defaultaccount", "").strip() or None
    if changes.get("adminlevel", "none").strip().lower() == "none":
        changes.pop("adminlevel", None)
    partition = changes.pop("partition", "").strip()
    if partition:
        raise AdminError(f" Unknown option: partition={partition}\n"
                         " corral has no per-partition associations")
    edit, rest = _parse_assoc(tree, changes, allow_parent=False)
    _unknown_options(rest)
    if not names:
        raise AdminError(" Need name of user to add.")
    if default is None and not accounts:
        raise AdminError(" Need a default account for these users to add.")
    if default is not None and default not in accounts:
        accounts.insert(0, default)
    _check_accounts(tree, accounts)
    default = default or accounts[0]
    users = dict(tree.users)
    associations = dict(tree.associations)
    new_users = [n for n in names if n not in users]
    assoc_lines = []
    for name in names:
        if name not in users:
            users[name] = User(name, default)
        for account in accounts:
            if (account, name) not in associations:
                associations[(account, name)] = _edit_association(
                    tree, Association(name, account), edit)
                assoc_lines.append(_user_assoc_line(cluster, name, account) + "\n")
    if not new_users and not assoc_lines:
        return AdminResult(tree, " Nothing new added.\n", False)
    text = ""
    if new_users:
        text += (" Adding User(s)\n" + "".join(f"  {n}\n" for n in new_users)
                 + f" Settings =\n  Default Account = {default}\n")
    text += " Associations =\n" + "".join(assoc_lines)
    if not edit.empty:
        text += " Non Default Settings\n" + _assoc_settings(edit.lines)
    return AdminResult(_tree(tree, users=users, associations=associations), text, True)


def _user_targets(tree: AccountTree, req: AdminRequest,
                  cluster: str) -> tuple[list[str], list[str] | None, bool]:
    """(users, account filter or None, whether any condition was given)."""
    where = _check_cluster(req.where, cluster)
    names = _take_names(req.names, where, ("name", "names", "user", "users"))
    accounts = _take_names((), where, ("account", "accounts", "acct")) or None
    defaults = _take_names((), where, ("defaultaccount",)) or None
    partition = where.pop("partition", "").strip()
    _unknown_options(where, condition=True)
    conditioned = bool(names or accounts or defaults or partition)
    users = [u.name for u in tree.users.values()
             if (not names or u.name in names)
             and (defaults is None or u.default_account in defaults)]
    if partition:  # no association here has a partition, so none matches
        users = []
    return sorted(users), accounts, conditioned


def _modify_user(tree: AccountTree, req: AdminRequest, cluster: str) -> AdminResult:
    changes = dict(req.changes)
    new_default = changes.pop("defaultaccount", "").strip() or None
    if changes.get("adminlevel", "none").strip().lower() == "none":
        changes.pop("adminlevel", None)
    edit, rest = _parse_assoc(tree, changes, allow_parent=False)
    _unknown_options(rest)
    if new_default is None and edit.empty:
        raise AdminError(" You didn't give me anything to set")
    targets, accounts, conditioned = _user_targets(tree, req, cluster)
    if not conditioned:
        raise AdminError(" You didn't set any conditions with 'WHERE'.")
    users = dict(tree.users)
    associations = dict(tree.associations)
    modified_users, modified_assocs = [], []
    if new_default is not None:
        _check_accounts(tree, [new_default])
        missing = [u for u in targets if (new_default, u) not in tree.associations]
        if missing:
            raise AdminError(" Can't modify because these users aren't associated with new "
                             f"default account '{new_default}'...\n"
                             + "".join(f"  U = {u}\n" for u in missing))
        for name in targets:
            if users[name].default_account != new_default:
                users[name] = User(name, new_default)
                modified_users.append(name)
    if not edit.empty:
        for (account, user), assoc in sorted(tree.associations.items()):
            if user in targets and (accounts is None or account in accounts):
                edited = _edit_association(tree, assoc, edit)
                if edited != assoc:
                    associations[(account, user)] = edited
                    modified_assocs.append(f"  C = {cluster:<10} A = {account:<20} U = {user:<9}\n")
    if not modified_users and not modified_assocs:
        return AdminResult(tree, " Nothing modified\n", False)
    text = ""
    if modified_users:
        text += " Modified users...\n" + "".join(f"  {n}\n" for n in modified_users)
    if modified_assocs:
        text += " Modified user associations...\n" + "".join(modified_assocs)
    return AdminResult(_tree(tree, users=users, associations=associations), text, True)


def _delete_user(tree: AccountTree, req: AdminRequest, cluster: str) -> AdminResult:
    targets, accounts, conditioned = _user_targets(tree, req, cluster)
    if not conditioned:
        raise AdminError(" No conditions given to remove, not executing.")
    if not targets:
        return AdminResult(tree, " Nothing deleted\n", False)
    users = dict(tree.users)
    associations = dict(tree.associations)
    if accounts is None:
        for name in targets:
            del users[name]
        associations = {k: v for k, v in associations.items() if k[1] not in targets}
        text = " Deleting users...\n" + "".join(f"  {n}\n" for n in targets)
        return AdminResult(_tree(tree, users=users, associations=associations), text, True)
    doomed = sorted(k for k in associations if k[1] in targets and k[0] in accounts)
    if not doomed:
        return AdminResult(tree, " Nothing deleted\n", False)
    for account, user in doomed:
        remaining = [k for k in associations if k[1] == user and k not in doomed]
        if users[user].default_account == account and remaining:
            raise AdminError(" Error with request: You can not remove the default account of "
                             f"a user\n  C = {cluster:<10} A = {account:<10} U = {user:<9}")
    for key in doomed:
        del associations[key]
    for name in targets:  # a user left without associations is no longer a user
        if not any(k[1] == name for k in associations):
            del users[name]
    text = " Deleting user associations...\n" + "".join(
        f"  C = {cluster:<10} A = {account:<10} U = {user:<9}\n" for account, user in doomed)
    return AdminResult(_tree(tree, users=users, associations=associations), text, True)


# --------------------------------------------------------------------------- QOS

_QOS_KEYS = {
    "priority": "priority",
    "maxjobsperuser": "maxjobspu", "maxjobspu": "maxjobspu",
    "maxsubmitjobsperuser": "maxsubmitpu", "maxsubmitjobspu": "maxsubmitpu",
    "maxsubmitpu": "maxsubmitpu",
    "maxtresperuser": "maxtrespu", "maxtrespu": "maxtrespu",
    "maxtres": "maxtres", "maxtresperjob": "maxtres",
    "maxwall": "maxwall", "maxwalldurationperjob": "maxwall",
    "grpjobs": "grpjobs", "grptres": "grptres", "usagefactor": "usagefactor",
    "preempt": "preempt", "preempt+": "preempt+", "preempt-": "preempt-",
    "preemptmode": "preemptmode", "gracetime": "gracetime", "description": "description",
}
# sacctmgr_print_qos_limits's order and wording.
_QOS_LINE_ORDER = ("GraceTime", "GrpJobs", "GrpTRES", "MaxJobsPerUser", "MaxSubmitJobsPerUser",
                   "MaxTRESPerJob", "MaxTRESPerUser", "MaxWall", "Preempt", "PreemptMode",
                   "Priority", "UsageFactor")


def _qos_settings(lines: Mapping[str, str]) -> str:
    out = []
    for label in _QOS_LINE_ORDER:
        if label in lines:
            # Slurm pads every label to one column except this one.
            pad = " " if label == "MaxJobsPerUser" else " " * (25 - len(label))
            out.append(f"  {label}{pad}= {lines[label]}\n")
    return "".join(out)


def _setting(**changes: Any) -> Callable[[Qos], Qos]:
    """An edit that sets these fields of a QOS."""
    return lambda q: replace(q, **changes)


def _merging_tres(attr: str, delta: Mapping[str, int | None]) -> Callable[[Qos], Qos]:
    """An edit that merges TRES counts into one of a QOS's TRES limits."""
    def merge(q: Qos) -> Qos:
        merged: dict[str, Any] = {attr: merge_tres(getattr(q, attr), delta)}
        return replace(q, **merged)
    return merge


def _preempting(op: str, names: frozenset[str]) -> Callable[[Qos], Qos]:
    """An edit that sets (=), adds to (+) or takes from (-) the QOS a QOS may preempt."""
    return lambda q: replace(q, preempt=(
        names if op == "=" else q.preempt | names if op == "+" else q.preempt - names))


def _field_in(attr: str, wanted: Iterable[str]) -> Callable[[Account], bool]:
    """A filter: the account's field is one of these values."""
    values = list(wanted)
    return lambda a: getattr(a, attr) in values


def _parse_qos(tree: AccountTree, changes: Mapping[str, str]
               ) -> tuple[list[Callable[[Qos], Qos]], dict[str, str], str | None]:
    """(edits to apply to each QOS, the lines sacctmgr shows, the description given)."""
    edits: list[Callable[[Qos], Qos]] = []
    lines: dict[str, str] = {}
    description = None
    for raw_key, value in changes.items():
        key = _QOS_KEYS.get(raw_key)
        if key is None:
            _unknown_options({raw_key: value})
        elif key == "description":
            description = value.strip("'\"")
        elif key == "priority":
            prio = parse_count(value, "Priority")
            edits.append(_setting(priority=prio or 0))
            lines["Priority"] = str(prio or 0) if prio is not None else "NONE"
        elif key in ("maxjobspu", "maxsubmitpu", "grpjobs"):
            attr, label = {"maxjobspu": ("max_jobs_per_user", "MaxJobsPerUser"),
                           "maxsubmitpu": ("max_submit_jobs_per_user", "MaxSubmitJobsPerUser"),
                           "grpjobs": ("grp_jobs", "GrpJobs")}[key]
            count = parse_count(value, label)
            edits.append(_setting(**{attr: count}))
            lines[label] = "NONE" if count is None else str(count)
        elif key in ("maxtrespu", "maxtres", "grptres"):
            attr, label = {"maxtrespu": ("max_tres_per_user", "MaxTRESPerUser"),
                           "maxtres": ("max_tres_per_job", "MaxTRESPerJob"),
                           "grptres": ("grp_tres", "GrpTRES")}[key]
            delta = parse_tres_changes(value, label)
            edits.append(_merging_tres(attr, delta))
            lines[label] = format_tres(delta)
        elif key == "maxwall":
            minutes = parse_minutes(value, "MaxWall")
            edits.append(_setting(max_wall=minutes))
            lines["MaxWall"] = "NONE" if minutes is None else format_limit_hms(minutes)
        elif key == "usagefactor":
            try:
                factor = float(value)
            except ValueError:
                raise AdminError(f"Invalid value for UsageFactor ({value})") from None
            factor = 1.0 if factor < 0 else factor
            edits.append(_setting(usage_factor=factor))
            lines["UsageFactor"] = f"{factor:.4f}"
        elif key.startswith("preempt") and key != "preemptmode":
            op = key[7:] or "="
            names = _qos_names(tree, value) if value.strip("'\"") else frozenset()
            edits.append(_preempting(op, names))
            prefix = "" if op == "=" else op
            lines["Preempt"] = ",".join(prefix + n for n in sorted(names)) or "''"
        elif key == "preemptmode":
            word = value.strip().upper()
            if word == "CLUSTER":  # back to the cluster's PreemptMode
                edits.append(_setting(preempt_mode=None))
                lines["PreemptMode"] = "cluster"
                continue
            if word not in PreemptMode.__members__:
                raise AdminError(f"Invalid PreemptMode: {value}")
            mode = PreemptMode[word]
            edits.append(_setting(preempt_mode=mode))
            lines["PreemptMode"] = mode.value
        elif key == "gracetime":
            seconds = parse_seconds(value, "GraceTime")
            edits.append(_setting(grace_time=seconds))
            lines["GraceTime"] = str(seconds)
    return edits, lines, description


def _apply_edits(qos: Qos, edits: Iterable[Callable[[Qos], Qos]]) -> Qos:
    for edit in edits:
        qos = edit(qos)
    return qos


def _add_qos(tree: AccountTree, req: AdminRequest, cluster: str) -> AdminResult:
    changes = dict(req.changes)
    names = _take_names(req.names, changes, ("name", "names"))
    edits, lines, description = _parse_qos(tree, changes)
    if not names:
        raise AdminError(" Need name of qos to add.")
    new = [n for n in names if n not in tree.qos]
    if not new:
        return AdminResult(tree, " Nothing new added.\n", False)
    qos = dict(tree.qos)
    for name in new:
        qos[name] = _apply_edits(Qos(name), edits)
    accounts = tree.accounts
    root = accounts.get(ROOT)
    if root is not None and not root.qos:
        # An empty list inherits "every QOS"; pin what root had, so that the new QOS is
        # created but given to no association (Slurm: `modify … set qos+=` gives it).
        accounts = {**accounts, ROOT: replace(root, qos=frozenset(tree.qos))}
    text = (" Adding QOS(s)\n" + "".join(f"  {n}\n" for n in new) + " Settings\n"
            f"  Description    = {description or 'QOS Name'}\n" + _qos_settings(lines))
    return AdminResult(_tree(tree, qos=qos, accounts=accounts), text, True)


def _qos_targets(tree: AccountTree, req: AdminRequest, cluster: str) -> tuple[list[str], bool]:
    where = _check_cluster(req.where, cluster)
    names = _take_names(req.names, where, ("name", "names"))
    _unknown_options(where, condition=True)
    return sorted(n for n in names if n in tree.qos), bool(names)


def _modify_qos(tree: AccountTree, req: AdminRequest, cluster: str) -> AdminResult:
    edits, _, _ = _parse_qos(tree, req.changes)
    if not edits:
        raise AdminError(" You didn't give me anything to set")
    targets, conditioned = _qos_targets(tree, req, cluster)
    if not conditioned:
        raise AdminError(" You didn't set any conditions with 'WHERE'.")
    qos = dict(tree.qos)
    modified = []
    for name in targets:
        updated = _apply_edits(qos[name], edits)
        if updated != qos[name]:
            qos[name] = updated
            modified.append(name)
    if not modified:
        return AdminResult(tree, " Nothing modified\n", False)
    text = " Modified qos...\n" + "".join(f"  {n}\n" for n in modified)
    return AdminResult(_tree(tree, qos=qos), text, True)


def _delete_qos(tree: AccountTree, req: AdminRequest, cluster: str) -> AdminResult:
    targets, conditioned = _qos_targets(tree, req, cluster)
    if not conditioned:
        raise AdminError(" No conditions given to remove, not executing.")
    if not targets:
        return AdminResult(tree, " Nothing deleted\n", False)
    doomed = set(targets)
    records: list[Account | Association] = [*tree.accounts.values(), *tree.associations.values()]
    if tree.default_qos in doomed or any(r.default_qos in doomed for r in records):
        raise AdminError(" Error with request: This request would make it so some associations "
                         "would not have access to their default qos.")
    for record in records:
        if record.qos and record.qos <= doomed:
            who = record.name if isinstance(record, Account) else f"{record.user}@{record.account}"
            raise AdminError(f" Error with request: {','.join(sorted(record.qos))} is all that "
                             f"{who} may use; give it another QOS first.")
    accounts = {k: replace(a, qos=a.qos - doomed) for k, a in tree.accounts.items()}
    associations = {k: replace(a, qos=a.qos - doomed) for k, a in tree.associations.items()}
    qos = {k: replace(q, preempt=q.preempt - doomed) for k, q in tree.qos.items() if k not in doomed}
    text = " Deleting QOS(s)...\n" + "".join(f"  {n}\n" for n in targets)
    return AdminResult(_tree(tree, accounts=accounts, associations=associations, qos=qos),
                       text, True)


# --------------------------------------------------------------------------- entry point

_HANDLERS: dict[tuple[str, str], Callable[[AccountTree, AdminRequest, str], AdminResult]] = {
    ("add", "account"): _add_account, ("modify", "account"): _modify_account,
    ("delete", "account"): _delete_account, ("add", "user"): _add_user,
    ("modify", "user"): _modify_user, ("delete", "user"): _delete_user,
    ("add", "qos"): _add_qos, ("modify", "qos"): _modify_qos, ("delete", "qos"): _delete_qos,
}


def apply_admin(tree: AccountTree, request: AdminRequest, cluster: str) -> AdminResult:
    """One sacctmgr add/modify/delete on `tree` (left unchanged); raises AdminError for bad input."""
    handler = _HANDLERS.get((request.verb, request.entity))
    if handler is None:
        raise AdminError(f" Unknown request: {request.verb} {request.entity}")
    lowered = replace(request, where={k.lower(): v for k, v in request.where.items()},
                      changes={k.lower(): v for k, v in request.changes.items()})
    return handler(tree, lowered, cluster)
