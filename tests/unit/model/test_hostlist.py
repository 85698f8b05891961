"""Unit tests for corral.model.hostlist."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corral.model.hostlist import MAX_HOSTS, compress, expand

# --------------------------------------------------------------------------- expand


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("vm", ["vm"]),
        ("node07", ["node07"]),
        ("node[01-03,07]", ["node01", "node02", "node03", "node07"]),
        ("node[1-3]", ["node1", "node2", "node3"]),
        ("node[3]", ["node3"]),
        ("node[1-1]", ["node1"]),
        ("node[8-11]", ["node8", "node9", "node10", "node11"]),
        ("node[08-11]", ["node08", "node09", "node10", "node11"]),
        ("node[098-101]", ["node098", "node099", "node100", "node101"]),
        ("node[7,010]", ["node7", "node010"]),
        ("a1,b[1-2]", ["a1", "b1", "b2"]),
        ("r[1-2]n[1-2]", ["r1n1", "r1n2", "r2n1", "r2n2"]),
        ("node[1-2].ib", ["node1.ib", "node2.ib"]),
        ("[1-2]x", ["1x", "2x"]),
        ("gpu-a100-[1-2]", ["gpu-a100-1", "gpu-a100-2"]),
        ("node[1-3], node[5 ,6]", ["node1", "node2", "node3", "node5", "node6"]),
    ],
)
def test_expand_lists_every_name_an_expression_stands_for(expr: str, names: list[str]) -> None:
    assert expand(expr) == names


def test_expand_keeps_first_appearance_order() -> None:
    assert expand("b2,a1,b1") == ["b2", "a1", "b1"]
    assert expand("node[5,1-2]") == ["node5", "node1", "node2"]


def test_expand_drops_duplicates() -> None:
    assert expand("node[1-3],node2,node[3,1]") == ["node1", "node2", "node3"]


def test_expand_treats_differently_padded_numbers_as_different_names() -> None:
    assert expand("node[1,01,001]") == ["node1", "node01", "node001"]


@pytest.mark.parametrize("expr", ["", "   "])
def test_expand_of_an_empty_expression_is_empty(expr: str) -> None:
    assert expand(expr) == []


@pytest.mark.parametrize(
    "expr",
    [
        "node[",
        "node]",
        "node[1-2",
        "node1-2]",
        "node[[1-2]]",
        "node[1-[2]]",
        "node[]",
        "node[3-1]",
        "node[a-b]",
        "node[1-b]",
        "node[1-]",
        "node[-1]",
        "node[1--2]",
        "node[1,]",
        "node[,1]",
        "node[1-2-3]",
        "node[1:2]",
        "a,,b",
        "a,",
        ",a",
        "node 1",
        "node[١-٣]",  # non-ASCII digits
    ],
)
def test_expand_rejects_malformed_expressions_and_names_them(expr: str) -> None:
    with pytest.raises(ValueError) as info:
        expand(expr)
    assert repr(expr) in str(info.value)


def test_expand_refuses_ranges_too_large_to_be_meant() -> None:
    with pytest.raises(ValueError):
        expand(f"node[0-{MAX_HOSTS}]")
    with pytest.raises(ValueError):
        expand("r[1-2000]n[1-2000]")
    with pytest.raises(ValueError):
        expand(f"a[1-{MAX_HOSTS - 1}],b[1-2]")


def test_expand_allows_up_to_the_host_limit() -> None:
    assert len(expand(f"n[1-{MAX_HOSTS}]")) == MAX_HOSTS


# --------------------------------------------------------------------------- compress


@pytest.mark.parametrize(
    ("names", "expr"),
    [
        ([], ""),
        (["vm"], "vm"),
        (["node5"], "node5"),
        (["node1", "node2", "node3", "node5"], "node[1-3,5]"),
        (["node5", "node3", "node1", "node2"], "node[1-3,5]"),
        (["node1", "node3"], "node[1,3]"),
        (["node9", "node10", "node11"], "node[9-11]"),
        (["node2", "node10", "node1"], "node[1-2,10]"),
        (["node01", "node02", "node03", "node07"], "node[01-03,07]"),
        (["node08", "node09", "node10", "node11"], "node[08-11]"),
        (["node098", "node099", "node100"], "node[098-100]"),
        (["node1", "node01", "node2", "node02"], "node[1-2,01-02]"),
        (["node2", "node2", "node1"], "node[1-2]"),
        (["b1", "a2", "a1", "vm", "b2"], "a[1-2],b[1-2],vm"),
        (["r1n1", "r1n2", "r2n1", "r2n2"], "r1n[1-2],r2n[1-2]"),
        (["node1.ib", "node2.ib"], "node1.ib,node2.ib"),
        (["x", "x1", "x2"], "x,x[1-2]"),
        (["7", "8", "9"], "[7-9]"),
    ],
)
def test_compress_writes_names_as_a_sorted_slurm_hostlist(names: list[str], expr: str) -> None:
    assert compress(names) == expr


def test_compress_accepts_any_iterable() -> None:
    assert compress(f"n{i}" for i in range(4)) == "n[0-3]"


@pytest.mark.parametrize("name", ["", "a,b", "a[1]", "a]", "a b", "a\tb"])
def test_compress_rejects_names_a_hostlist_cannot_hold(name: str) -> None:
    with pytest.raises(ValueError):
        compress(["ok1", name])


def test_compress_packs_a_large_contiguous_block_into_one_range() -> None:
    assert compress(f"n{i:04d}" for i in range(1, 5001)) == "n[0001-5000]"


# --------------------------------------------------------------------------- round trips

_prefixes = st.sampled_from(["", "n", "node", "gpu-", "rack1-n", "a.b"])
_numbered = st.builds(
    lambda prefix, number, pad: prefix + str(number).zfill(pad),
    _prefixes,
    st.integers(min_value=0, max_value=1200),
    st.integers(min_value=0, max_value=4),
)
_plain = st.sampled_from(["vm", "login", "node", "gpu-", "x.y"])
_names = st.lists(st.one_of(_numbered, _plain), max_size=60)


@given(_names)
def test_compressed_names_expand_back_to_the_same_set(names: list[str]) -> None:
    expr = compress(names)
    expanded = expand(expr)
    assert set(expanded) == set(names)
    assert len(expanded) == len(set(names))


@given(_names)
def test_compress_is_stable_under_reexpansion(names: list[str]) -> None:
    expr = compress(names)
    assert compress(expand(expr)) == expr


_range_items = st.builds(
    lambda lo, span, pad, single: (
        str(lo).zfill(pad) if single else f"{str(lo).zfill(pad)}-{lo + span}"
    ),
    st.integers(min_value=0, max_value=500),
    st.integers(min_value=0, max_value=30),
    st.integers(min_value=1, max_value=4),
    st.booleans(),
)
_groups = st.builds(
    lambda prefix, items, suffix: f"{prefix}[{','.join(items)}]{suffix}",
    st.sampled_from(["n", "node", "r1n", "gpu-"]),
    st.lists(_range_items, min_size=1, max_size=5),
    st.sampled_from(["", ".ib", "x"]),
)
_expressions = st.lists(st.one_of(_groups, _plain, _numbered), min_size=1, max_size=6).map(",".join)


@given(_expressions)
def test_compressing_an_expansion_expands_back_to_the_same_set(expr: str) -> None:
    names = expand(expr)
    assert set(expand(compress(names))) == set(names)
