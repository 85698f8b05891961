"""sacctmgr's show tables: rows from the account-tree JSON, columns as sacctmgr names, sizes and fills them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from corral.model.sacctmgr_values import format_tres
from corral.model.timefmt import format_hms, format_limit_hms

Row = Mapping[str, Any]

# Default columns per entity, in sacctmgr 22.05's words.
DEFAULT_FORMATS = {
    "account": "Account,Descr,Org",
    "user": "User,DefaultAccount,Admin",
    "association": ("Cluster,Account,User,Partition,Share,Priority,GrpJobs,GrpTRES,GrpSubmit,"
                    "GrpWall,GrpTRESMins,MaxJobs,MaxTRES,MaxTRESPerNode,MaxSubmit,MaxWall,"
                    "MaxTRESMins,QOS,DefaultQOS,GrpTRESRunMins"),
    "qos": ("Name,Priority,GraceTime,Preempt,PreemptExemptTime,PreemptMode,Flags%40,"
            "UsageThres,UsageFactor,GrpTRES,GrpTRESMins,GrpTRESRunMins,GrpJobs,GrpSubmit,"
            "GrpWall,MaxTRES,MaxTRESPerNode,MaxTRESMins,MaxWall,MaxTRESPerUser,MaxJobsPerUser,"
            "MaxSubmitJobsPerUser,MaxTRESPerAcct,MaxJobsPerAcct,MaxSubmitJobsPerAcct,MinTRES"),
}


class Field:
    """One column: its header, width (negative: left-aligned) and the row key it shows."""

    __slots__ = ("label", "width", "key", "render")

    def __init__(self, label: str, width: int, key: str,
                 render: Callable[[Any], str] | None = None) -> None:
        self.label = label
        self.width = width
        self.key = key
        self.render = render or _text


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _tres(value: Any) -> str:
    return format_tres(value) if value else ""


def _minutes(value: Any) -> str:
    return "" if value is None else format_limit_hms(int(value))


def _seconds(value: Any) -> str:
    return "" if value is None else format_hms(int(value))


def _factor(value: Any) -> str:
    return "" if value is None else f"{float(value):f}"


# (full name, shortest accepted prefix, label, width, row key, renderer), in the alphabetical
# order sacctmgr matches them in, so that a short prefix picks the same column it would.
_FIELDS: tuple[tuple[str, int, str, int, str, Callable[[Any], str] | None], ...] = (
    ("account", 3, "Account", 10, "account", None),
    ("acct", 4, "Account", 10, "account", None),
    ("adminlevel", 2, "Admin", 9, "admin", None),
    ("clusters", 2, "Cluster", 10, "cluster", None),
    ("defaultaccount", 8, "Def Acct", 10, "default_account", None),
    ("defaultqos", 8, "Def QOS", 9, "default_qos", None),
    ("description", 3, "Descr", 20, "description", None),
    ("flags", 2, "Flags", 20, "flags", None),
    ("gracetime", 3, "GraceTime", 10, "grace_time", _seconds),
    ("grptres", 7, "GrpTRES", 13, "grp_tres", _tres),
    ("grptresmins", 7, "GrpTRESMins", 13, "grp_tres_mins", _tres),
    ("grptresrunmins", 7, "GrpTRESRunMins", 13, "grp_tres_run_mins", _tres),
    ("grpjobs", 4, "GrpJobs", 7, "grp_jobs", None),
    ("grpsubmitjobs", 4, "GrpSubmit", 9, "grp_submit_jobs", None),
    ("grpwall", 4, "GrpWall", 11, "grp_wall", _minutes),
    ("maxtres", 7, "MaxTRES", 13, "max_tres_per_job", _tres),
    ("maxtresperjob", 11, "MaxTRES", 13, "max_tres_per_job", _tres),
    ("maxtrespernode", 11, "MaxTRESPerNode", 14, "max_tres_per_node", _tres),
    ("maxtresminsperjob", 8, "MaxTRESMins", 13, "max_tres_mins", _tres),
    ("maxtresperaccount", 11, "MaxTRESPA", 13, "max_tres_per_account", _tres),
    ("maxtresperacct", 11, "MaxTRESPA", 13, "max_tres_per_account", _tres),
    ("maxtrespa", 9, "MaxTRESPA", 13, "max_tres_per_account", _tres),
    ("maxtresperuser", 11, "MaxTRESPU", 13, "max_tres_per_user", _tres),
    ("maxtrespu", 9, "MaxTRESPU", 13, "max_tres_per_user", _tres),
    ("maxjobs", 4, "MaxJobs", 7, "max_jobs", None),
    ("maxjobsperaccount", 11, "MaxJobsPA", 9, "max_jobs_per_account", None),
    ("maxjobsperacct", 11, "MaxJobsPA", 9, "max_jobs_per_account", None),
    ("maxjobspa", 9, "MaxJobsPA", 9, "max_jobs_per_account", None),
    ("maxjobsperuser", 11, "MaxJobsPU", 9, "max_jobs_per_user", None),
    ("maxjobspu", 9, "MaxJobsPU", 9, "max_jobs_per_user", None),
    ("maxsubmitjobs", 4, "MaxSubmit", 9, "max_submit_jobs", None),
    ("maxsubmitjobsperaccount", 17, "MaxSubmitPA", 11, "max_submit_per_account", None),
    ("maxsubmitjobsperacct", 17, "MaxSubmitPA", 11, "max_submit_per_account", None),
    ("maxsubmitjobspa", 15, "MaxSubmitPA", 11, "max_submit_per_account", None),
    ("maxsubmitpa", 11, "MaxSubmitPA", 11, "max_submit_per_account", None),
    ("maxsubmitjobsperuser", 10, "MaxSubmitPU", 11, "max_submit_jobs_per_user", None),
    ("maxsubmitjobspu", 10, "MaxSubmitPU", 11, "max_submit_jobs_per_user", None),
    ("maxsubmitpu", 6, "MaxSubmitPU", 11, "max_submit_jobs_per_user", None),
    ("maxwalldurationperjob", 4, "MaxWall", 11, "max_wall", _minutes),
    ("mintresperjob", 7, "MinTRES", 13, "min_tres", _tres),
    ("name", 2, "Name", 10, "name", None),
    ("organization", 1, "Org", 20, "organization", None),
    ("parentname", 7, "ParentName", 10, "parent", None),
    ("partition", 4, "Partition", 10, "partition", None),
    ("preemptmode", 8, "PreemptMode", 11, "preempt_mode", None),
    ("preempt", 7, "Preempt", 10, "preempt", None),
    ("preemptexempttime", 8, "PreemptExemptTime", 19, "preempt_exempt_time", None),
    ("priority", 3, "Priority", 10, "priority", None),
    ("qoslevel", 3, "QOS", 20, "qos", None),
    ("share", 1, "Share", 9, "shares", None),
    ("fairshare", 2, "Share", 9, "shares", None),
    ("usagefactor", 6, "UsageFactor", 11, "usage_factor", _factor),
    ("usagethreshold", 6, "UsageThres", 10, "usage_threshold", _factor),
    ("user", 1, "User", 10, "user", None),
)


class FormatError(ValueError):
    """An unknown column name; the message is sacctmgr's."""


def parse_format(spec: str) -> list[Field]:
    """"Account,User%20" → fields; matching is case-insensitive and takes sacctmgr's prefixes."""
    fields = []
    for item in (p.strip() for p in spec.split(",")):
        if not item:
            continue
        name, _, width = item.partition("%")
        lowered = name.lower()
        entry = next((e for e in _FIELDS if len(lowered) >= e[1] and e[0].startswith(lowered)),
                     None)
        if entry is None:
            raise FormatError(f"Unknown field '{name}'")
        _, _, label, default_width, key, render = entry
        try:
            size = int(width) if width else default_width
        except ValueError:
            raise FormatError(f"Unknown field '{item}'") from None
        fields.append(Field(label, size or default_width, key, render))
    return fields


# --------------------------------------------------------------------------- rows

def _qos_list(names: Sequence[str]) -> str:
    return ",".join(sorted(names))


class TreeView:
    """Lookups over the account-tree JSON (model.account_codec.tree_to_dict)."""

    def __init__(self, tree: Mapping[str, Any]) -> None:
        self.accounts = {a["name"]: a for a in tree.get("accounts", [])}
        self.users = {u["name"]: u for u in tree.get("users", [])}
        self.associations = list(tree.get("associations", []))
        self.qos = {q["name"]: q for q in tree.get("qos", [])}
        self.children: dict[str, list[str]] = {}
        for account in self.accounts.values():
            if account.get("parent") is not None:
                self.children.setdefault(account["parent"], []).append(account["name"])

    def account_qos(self, name: str | None) -> list[str]:
        """The QOS an account allows: its own list, else the nearest ancestor's, else all."""
        while name is not None and name in self.accounts:
            if self.accounts[name].get("qos"):
                return list(self.accounts[name]["qos"])
            name = self.accounts[name].get("parent")
        return list(self.qos)

    def walk(self, name: str = "root") -> Iterator[str]:
        """Accounts depth first, children by name: the order sacctmgr lists associations in."""
        if name not in self.accounts:
            return
        yield name
        for child in sorted(self.children.get(name, [])):
            yield from self.walk(child)


def _limit_cells(limits: Mapping[str, Any] | None) -> dict[str, Any]:
    limits = limits or {}
    return {key: limits.get(key) for key in ("max_jobs", "max_submit_jobs", "max_wall",
                                             "max_tres_per_job", "grp_jobs", "grp_submit_jobs",
                                             "grp_tres")}


def account_rows(view: TreeView, cluster: str) -> list[dict[str, Any]]:
    rows = []
    for name in sorted(view.accounts):
        account = view.accounts[name]
        rows.append({"account": name, "description": account.get("description", ""),
                     "organization": account.get("organization", ""), "cluster": cluster,
                     "parent": account.get("parent"), "shares": account.get("shares", 1),
                     "qos": _qos_list(view.account_qos(name)),
                     "default_qos": account.get("default_qos"),
                     **_limit_cells(account.get("limits"))})
    return rows


def user_rows(view: TreeView, cluster: str) -> list[dict[str, Any]]:
    return [{"user": name, "default_account": user.get("default_account"), "admin": "None",
             "cluster": cluster} for name, user in sorted(view.users.items())]


def association_rows(view: TreeView, cluster: str) -> list[dict[str, Any]]:
    by_account: dict[str, list[Mapping[str, Any]]] = {}
    for assoc in view.associations:
        by_account.setdefault(assoc["account"], []).append(assoc)
    rows = []
    for name in view.walk():
        account = view.accounts[name]
        allowed = view.account_qos(name)
        rows.append({"cluster": cluster, "account": name, "user": "", "partition": "",
                     "parent": account.get("parent"), "shares": account.get("shares", 1),
                     "qos": _qos_list(allowed), "default_qos": account.get("default_qos"),
                     **_limit_cells(account.get("limits"))})
        for assoc in sorted(by_account.get(name, []), key=lambda a: a["user"]):
            rows.append({"cluster": cluster, "account": name, "user": assoc["user"],
                         "partition": "", "parent": name, "shares": assoc.get("shares", 1),
                         "qos": _qos_list(assoc.get("qos") or allowed),
                         "default_qos": assoc.get("default_qos"),
                         **_limit_cells(assoc.get("limits"))})
    return rows


def qos_rows(view: TreeView) -> list[dict[str, Any]]:
    rows = []
    for name, qos in sorted(view.qos.items()):
        mode = qos.get("preempt_mode")
        rows.append({"name": name, "priority": qos.get("priority", 0),
                     "grace_time": qos.get("grace_time", 0),
                     "preempt": ",".join(sorted(qos.get("preempt", []))),
                     "preempt_mode": mode if mode else "cluster",
                     "usage_factor": qos.get("usage_factor", 1.0),
                     "grp_tres": qos.get("grp_tres"), "grp_jobs": qos.get("grp_jobs"),
                     "max_tres_per_job": qos.get("max_tres_per_job"),
                     "max_wall": qos.get("max_wall"),
                     "max_tres_per_user": qos.get("max_tres_per_user"),
                     "max_jobs_per_user": qos.get("max_jobs_per_user"),
                     "max_submit_jobs_per_user": qos.get("max_submit_jobs_per_user")})
    return rows


# --------------------------------------------------------------------------- rendering

def _cell(text: str, width: int) -> str:
    size = abs(width)
    if len(text) > size:
        text = text[:size - 1] + "+"
    return f"{text:>{size}}" if width > 0 else f"{text:<{size}}"


def render(fields: Sequence[Field], rows: Sequence[Row], *, header: bool = True,
           parsable: str | None = None) -> list[str]:
    """Lines as print_fields prints them; `parsable` is "|" after every cell (-p) or between (-P)."""
    lines = []
    if parsable is not None:
        end = "|" if parsable == "p" else ""
        if header:
            lines.append("|".join(f.label for f in fields) + end)
        for row in rows:
            lines.append("|".join(f.render(row.get(f.key)) for f in fields) + end)
        return lines
    if header:
        lines.append("".join(f"{f.label[:abs(f.width)]:>{f.width}} " if f.width > 0
                             else f"{f.label[:abs(f.width)]:<{abs(f.width)}} " for f in fields))
        lines.append("".join("-" * abs(f.width) + " " for f in fields))
    for row in rows:
        lines.append("".join(_cell(f.render(row.get(f.key)), f.width) + " " for f in fields))
    return lines
