"""sacctmgr's command line → requests, and its show tables from the account-tree JSON."""

from __future__ import annotations

import pytest

from corral.cli.common.getopt import OptionError
from corral.cli.common.runner import CommandError
from corral.cli.slurm.sacctmgr import listing, parse_command
from corral.model.account_admin import AdminRequest, apply_admin, request_from_dict
from corral.model.account_codec import tree_to_dict
from corral.model.accounts import AccountTree


@pytest.fixture
def tree() -> dict:
    t = AccountTree()
    for request in (AdminRequest("add", "account", ("physics",)),
                    AdminRequest("add", "account", ("chem",), {}, {"parent": "physics"}),
                    AdminRequest("add", "user", ("alice",), {}, {"account": "physics",
                                                                 "maxjobs": "4"}),
                    AdminRequest("add", "user", ("bob",), {}, {"account": "chem"}),
                    AdminRequest("add", "qos", ("high",), {}, {"priority": "10",
                                                               "preempt": "normal"})):
        t = apply_admin(t, request, "corral").tree
    return tree_to_dict(t)


def lines(tree: dict, *argv: str) -> list[str]:
    return listing(parse_command(list(argv)), tree, "corral")


def test_add_puts_every_setting_in_set() -> None:
    cmd = parse_command(["-i", "add", "user", "alice", "Account=physics", "FairShare=2"])
    assert cmd.immediate
    body = cmd.request(dry_run=False)
    assert body == {"verb": "add", "entity": "user", "names": ["alice"], "where": {},
                    "set": {"account": "physics", "fairshare": "2"}, "dry_run": False}
    assert request_from_dict(body) == AdminRequest("add", "user", ("alice",), {},
                                                   {"account": "physics", "fairshare": "2"})


def test_modify_splits_where_and_set_and_keeps_plus_equals() -> None:
    cmd = parse_command(["update", "user", "alice", "where", "account=physics", "set",
                         "maxjobs=4", "qos+=high"])
    assert (cmd.verb, cmd.entity, cmd.names) == ("modify", "user", ["alice"])
    assert cmd.where == {"account": "physics"}
    assert cmd.changes == {"maxjobs": "4", "qos+": "high"}


def test_delete_takes_conditions_and_aliases() -> None:
    cmd = parse_command(["remove", "users", "alice", "account=physics"])
    assert (cmd.verb, cmd.entity, cmd.names, cmd.where) == (
        "delete", "user", ["alice"], {"account": "physics"})


@pytest.mark.parametrize(("argv", "message"), [
    (["frobnicate", "account"], "invalid keyword: frobnicate"),
    (["add", "cluster", "x"], "No valid entity in add command"),
    (["add", "assoc", "x"], "No valid entity in add command"),
    (["modify", "account", "physics", "set", "fairshare"], "End your option with an '=' sign"),
])
def test_bad_command_lines_get_sacctmgr_errors(argv, message) -> None:
    with pytest.raises(CommandError, match=message):
        parse_command(argv)


def test_unknown_option_is_a_getopt_error() -> None:
    with pytest.raises(OptionError, match="unrecognized option '--bogus'"):
        parse_command(["--bogus", "show", "account"])


def test_show_account_default_columns(tree: dict) -> None:
    assert lines(tree, "show", "account") == [
        "   Account                Descr                  Org ",
        "---------- -------------------- -------------------- ",
        "      chem                 chem              physics ",
        "   physics              physics              physics ",
        "      root                                           ",
    ]


def test_show_user_default_columns(tree: dict) -> None:
    assert lines(tree, "list", "users") == [
        "      User   Def Acct     Admin ",
        "---------- ---------- --------- ",
        "     alice    physics      None ",
        "       bob       chem      None ",
    ]


def test_show_assoc_header_and_tree_order(tree: dict) -> None:
    out = lines(tree, "show", "assoc", "format=Cluster,Account,User,Share,MaxJobs,QOS")
    assert out == [
        "   Cluster    Account       User     Share MaxJobs                  QOS ",
        "---------- ---------- ---------- --------- ------- -------------------- ",
        # `add qos high` created it for no association (Slurm's behaviour).
        "    corral       root                    1                       normal ",
        "    corral    physics                    1                       normal ",
        "    corral    physics      alice         1       4               normal ",
        "    corral       chem                    1                       normal ",
        "    corral       chem        bob         1                       normal ",
    ]
    header = lines(tree, "show", "assoc")[0].split()
    assert header[:5] == ["Cluster", "Account", "User", "Partition", "Share"]
    assert header[-4:] == ["QOS", "Def", "QOS", "GrpTRESRunMin"]


def test_show_assoc_filters_by_where_and_by_bare_condition(tree: dict) -> None:
    assert lines(tree, "-P", "-n", "show", "assoc", "where", "user=alice",
                 "format=account,user") == ["physics|alice"]
    assert lines(tree, "-p", "-n", "show", "assoc", "account=chem", "format=acc,u") == [
        "chem||", "chem|bob|"]


def test_parsable_header_and_format_widths(tree: dict) -> None:
    assert lines(tree, "-p", "show", "qos", "format=name,prio") == [
        "Name|Priority|", "high|10|", "normal|0|"]
    assert lines(tree, "-n", "show", "qos", "format=Name%-8,Preempt%4") == [
        "high     nor+ ", "normal        "]  # too long: cut, last kept character is '+'


def test_show_qos_default_columns_match_slurm(tree: dict) -> None:
    header, dashes, high, _ = lines(tree, "show", "qos")
    assert header.split() == [
        "Name", "Priority", "GraceTime", "Preempt", "PreemptExemptTime", "PreemptMode", "Flags",
        "UsageThres", "UsageFactor", "GrpTRES", "GrpTRESMins", "GrpTRESRunMin", "GrpJobs",
        "GrpSubmit", "GrpWall", "MaxTRES", "MaxTRESPerNode", "MaxTRESMins", "MaxWall",
        "MaxTRESPU", "MaxJobsPU", "MaxSubmitPU", "MaxTRESPA", "MaxJobsPA", "MaxSubmitPA",
        "MinTRES"]
    assert len(dashes.split()[6]) == 40  # Flags%40
    assert high.split() == ["high", "10", "00:00:00", "normal", "cluster", "1.000000"]


def test_unknown_format_field_and_condition(tree: dict) -> None:
    with pytest.raises(CommandError, match="Unknown field 'colour'"):
        lines(tree, "show", "account", "format=colour")
    with pytest.raises(CommandError, match="Unknown condition: colour=red"):
        lines(tree, "show", "user", "where", "colour=red")


def test_options_may_follow_the_command() -> None:
    from corral.cli.slurm.sacctmgr import parse_command

    cmd = parse_command(["show", "assoc", "format=account,user", "-P", "-n"])
    assert (cmd.parsable, cmd.header, cmd.verb, cmd.entity) == ("P", False, "show", "association")
