"""sshare's layouts, reproduced from /shares replies (no controller)."""

from __future__ import annotations

from typing import Any

import pytest

from corral.cli.common.getopt import OptionError
from corral.cli.common.runner import CommandError
from corral.cli.slurm import sshare
from corral.cli.slurm import sshare_format as sf


def row(account: str, user: str, depth: int, shares: int, norm: float, usage: float,
        effectv: float, level: Any, fairshare: float | None) -> dict[str, Any]:
    return {"account": account, "user": user, "depth": depth, "raw_shares": shares,
            "norm_shares": norm, "raw_usage": usage, "norm_usage": effectv,
            "effectv_usage": effectv, "level_fs": level, "fairshare": fairshare}


ROWS = [
    row("root", "", 0, 1, 1.0, 7260.9, 1.0, None, None),
    row("root", "root", 1, 1, 0.5, 0.0, 0.0, "inf", 1.0),
    row("physics", "", 1, 1, 0.5, 7260.9, 1.0, 0.5, None),
    row("physics", "alice", 2, 1, 0.5, 7200.2, 0.991, 0.504, 0.666667),
    row("physics", "bob", 2, 1, 0.5, 60.7, 0.009, 55.5, 1.0),
    row("theory", "", 2, 2, 0.2, 0.0, 0.0, "inf", None),
    row("theory", "carol", 3, 1, 1.0, 0.0, 0.0, "inf", 0.333333),
]
HEADER = [
    "Account                    User  RawShares  NormShares    RawUsage  EffectvUsage  FairShare ",
    "-------------------- ---------- ---------- ----------- ----------- ------------- ---------- ",
]


def run(*argv: str, algorithm: str = "fair_tree", me: str = "alice") -> list[str]:
    return sshare.listing(sshare.parse_request(list(argv)), {"algorithm": algorithm, "rows": ROWS},
                          me)


def test_all_users_default_layout_indents_the_tree() -> None:
    assert run("-a") == HEADER + [
        "root                                          1.000000        7260      1.000000            ",
        " root                      root          1    0.500000           0      0.000000   1.000000 ",
        " physics                                 1    0.500000        7260      1.000000            ",
        "  physics                 alice          1    0.500000        7200      0.991000   0.666667 ",
        "  physics                   bob          1    0.500000          60      0.009000   1.000000 ",
        "  theory                                 2    0.200000           0      0.000000            ",
        "   theory                 carol          1    1.000000           0      0.000000   0.333333 ",
    ]


def test_default_shows_every_account_but_only_the_callers_user_rows() -> None:
    out = run()
    assert [line.split()[0:2] for line in out[2:]] == [
        ["root", "1.000000"], ["physics", "1"], ["physics", "alice"], ["theory", "2"]]
    assert run("-u", "bob,carol")[2:] == [line for line in run("-a")[2:]
                                          if "alice" not in line and " root " not in line]


def test_account_filter_restarts_indentation_at_the_first_account_shown() -> None:
    assert run("-a", "-A", "physics") == HEADER + [
        "physics                                  1    0.500000        7260      1.000000            ",
        " physics                  alice          1    0.500000        7200      0.991000   0.666667 ",
        " physics                    bob          1    0.500000          60      0.009000   1.000000 ",
    ]
    assert run("-U", "-n") == [
        "physics                   alice          1    0.500000        7200      0.991000   0.666667 "]


def test_long_listing_adds_norm_usage_level_fs_and_tres_columns() -> None:
    out = run("-l", "-a", "-A", "physics")
    assert out[0] == (
        "Account                    User  RawShares  NormShares    RawUsage   NormUsage  EffectvUsage"
        "  FairShare    LevelFS                    GrpTRESMins                    TRESRunMins ")
    assert out[3] == (
        " physics                  alice          1    0.500000        7200    0.991000      0.991000"
        "   0.666667   0.504000 " + " " * 62)
    assert run("-l", "-a", "-u", "carol", algorithm="classic")[0].split() == [
        "Account", "User", "RawShares", "NormShares", "RawUsage", "NormUsage", "EffectvUsage",
        "FairShare", "GrpTRESMins", "TRESRunMins"]


def test_infinite_level_fs_prints_as_inf() -> None:
    assert run("-a", "-n", "-o", "User,LevelFS")[:2] == [" " * 22, "      root        inf "]


def test_classic_prints_the_accounts_fair_share_too() -> None:
    rows = [row("root", "", 0, 1, 1.0, 10.0, 1.0, None, 0.5)]
    out = sshare.listing(sshare.parse_request(["-n"]), {"algorithm": "classic", "rows": rows},
                         "alice")
    assert out == ["root                                          1.000000          10      1.000000"
                   "   0.500000 "]


def test_parsable_outputs() -> None:
    assert run("-a", "-P", "-A", "theory") == [
        "Account|User|RawShares|NormShares|RawUsage|EffectvUsage|FairShare",
        "theory||2|0.200000|0|0.000000|",
        " theory|carol|1|1.000000|0|0.000000|0.333333",
    ]
    assert run("-p", "-n", "-o", "A,U,F")[-2] == "  physics|alice|0.666667|"


def test_format_names_are_prefixes_and_a_width_right_justifies() -> None:
    assert sf.parse_format("A,P,R,N,Eff%20") == [
        sf.Field("Account", -20, sf.STR), sf.Field("Partition", 12, sf.STR),
        sf.Field("RawShares", 10, sf.UINT), sf.Field("NormShares", 11, sf.DOUBLE),
        sf.Field("EffectvUsage", 20, sf.DOUBLE)]
    assert run("-a", "-o", "Account%12,User", "-n")[0] == "        root            "
    with pytest.raises(CommandError, match='Invalid field requested: "Bogus"'):
        run("-o", "Bogus")


def test_values_too_wide_fall_back_to_exponent_and_strings_get_a_plus() -> None:
    double = sf.Field("NormShares", 11, sf.DOUBLE)
    assert sf.cell(123456789.5, double) == "1.23457e+08 "
    assert sf.cell(0.25, sf.Field("NormShares", -11, sf.DOUBLE)) == "0.250000    "
    assert sf.cell("averyveryverylongaccountname", sf.Field("Account", -20, sf.STR)) == \
        "averyveryverylongac+ "


def test_options() -> None:
    assert sshare.parse_request(["-a", "-u", "bob"]).all_users is False
    assert sshare.parse_request(["-u", "bob", "-a"]).all_users is True
    assert sshare.parse_request(["-u", "-1"]).all_users is True
    assert sshare.parse_request(["--users=bob,carol", "-u", "dave"]).users == [
        "bob", "carol", "dave"]
    assert sshare.parse_request(["-o", "A", "--format=U"]).format == "A,U,"
    assert sshare.parse_request(["--help"]).show == "usage"
    assert sshare.parse_request(["-e"]).show == "helpformat"
    assert sshare.help_format().splitlines()[0] == (
        "Account           Cluster           EffectvUsage      FairShare        ")
    assert sshare.parse_request(["-h"]).header is False
    with pytest.raises(OptionError, match="sshare: invalid option -- 'x'"):
        sshare.parse_request(["-x"])
