"""sacctmgr's add/modify/delete as pure edits of the account tree, with sacctmgr's wording."""

from __future__ import annotations

import pytest

from corral.model.account_admin import (
    AdminError,
    AdminRequest,
    AdminResult,
    apply_admin,
    request_from_dict,
    request_to_dict,
)
from corral.model.accounts import AccountTree, PreemptMode

CLUSTER = "corral"


def admin(tree: AccountTree, verb: str, entity: str, *names: str,
          where: dict[str, str] | None = None, **changes: str) -> AdminResult:
    return apply_admin(tree, AdminRequest(verb, entity, names, where or {}, changes), CLUSTER)


@pytest.fixture
def tree() -> AccountTree:
    t = AccountTree()
    t = admin(t, "add", "account", "physics").tree
    t = admin(t, "add", "account", "chem", parent="physics").tree
    return admin(t, "add", "user", "alice", account="physics").tree


def test_add_account_prints_sacctmgr_layout_and_leaves_input_unchanged() -> None:
    before = AccountTree()
    result = admin(before, "add", "account", "physics")
    assert result.changed
    assert result.message == (
        " Adding Account(s)\n  physics\n Settings\n"
        "  Description     = Account Name\n  Organization    = Parent/Account Name\n"
        " Associations\n  A = physics    C = corral    \n Settings\n  Parent        = root\n")
    assert "physics" in result.tree.accounts and "physics" not in before.accounts
    account = result.tree.accounts["physics"]
    assert (account.description, account.organization) == ("physics", "physics")


def test_add_account_with_limits_lists_them_in_slurm_order(tree: AccountTree) -> None:
    result = admin(tree, "add", "account", "bio", parent="physics", fairshare="3",
                   maxjobs="4", grptres="gres/gpu=8,cpu=10,mem=4G", maxwall="1-00:00:00")
    assert result.message.endswith(
        " Settings\n  Fairshare     = 3\n  GrpTRES       = cpu=10,mem=4G,gres/gpu=8\n"
        "  MaxJobs       = 4\n  MaxWall       = 1-00:00:00\n  Parent        = physics\n")
    bio = result.tree.accounts["bio"]
    assert bio.shares == 3 and bio.organization == "physics"
    assert bio.limits.grp_tres == {"cpu": 10, "mem": 4096, "gres/gpu": 8}
    assert bio.limits.max_wall == 24 * 60


def test_adding_an_existing_account_changes_nothing(tree: AccountTree) -> None:
    result = admin(tree, "add", "account", "physics")
    assert (result.changed, result.message, result.tree) == (False, " Nothing new added.\n", tree)


def test_add_account_under_unknown_parent_is_refused(tree: AccountTree) -> None:
    with pytest.raises(AdminError, match="Parent account 'nope' doesn't exist on cluster corral"):
        admin(tree, "add", "account", "bio", parent="nope")


def test_add_user_first_account_becomes_default_and_settings_go_on_association() -> None:
    t = admin(AccountTree(), "add", "account", "physics").tree
    result = admin(t, "add", "user", "alice", account="physics", fairshare="2")
    assert result.message == (
        " Adding User(s)\n  alice\n Settings =\n  Default Account = physics\n"
        " Associations =\n  U = alice     A = physics    C = corral    \n"
        " Non Default Settings\n  Fairshare     = 2\n")
    assert result.tree.users["alice"].default_account == "physics"
    assert result.tree.associations[("physics", "alice")].shares == 2


def test_add_existing_user_to_another_account_only_adds_the_association(tree: AccountTree) -> None:
    result = admin(tree, "add", "user", "alice", account="chem")
    assert result.message == " Associations =\n  U = alice     A = chem       C = corral    \n"
    assert result.tree.users["alice"].default_account == "physics"


@pytest.mark.parametrize(("changes", "message"), [
    ({"account": "nope"}, "This account 'nope' doesn't exist."),
    ({}, "Need a default account for these users to add."),
    ({"account": "physics", "maxjobs": "many"}, r"Invalid value for MaxJobs \(many\)"),
    ({"account": "physics", "colour": "red"}, "Unknown option: colour=red"),
    ({"account": "physics", "cluster": "other"}, "This cluster 'other' doesn't exist."),
    ({"account": "physics", "qos": "gold"}, "You gave a bad qos 'gold'"),
])
def test_add_user_bad_input_gets_sacctmgr_message(tree: AccountTree, changes, message) -> None:
    with pytest.raises(AdminError, match=message):
        admin(tree, "add", "user", "bob", **changes)


def test_modify_user_association_limits_where_account(tree: AccountTree) -> None:
    t = admin(tree, "add", "user", "alice", account="chem").tree
    result = admin(t, "modify", "user", "alice", where={"account": "physics"}, maxjobs="4")
    assert result.message == (" Modified user associations...\n"
                              "  C = corral     A = physics              U = alice    \n")
    assert result.tree.associations[("physics", "alice")].limits.max_jobs == 4
    assert result.tree.associations[("chem", "alice")].limits.max_jobs is None


def test_minus_one_clears_a_limit_and_a_tres(tree: AccountTree) -> None:
    t = admin(tree, "modify", "account", "physics", maxjobs="3", grptres="cpu=8,gres/gpu=2").tree
    result = admin(t, "modify", "account", "physics", maxjobs="-1", grptres="gres/gpu=-1")
    limits = result.tree.accounts["physics"].limits
    assert limits.max_jobs is None and limits.grp_tres == {"cpu": 8}


def test_modify_default_account_needs_an_association(tree: AccountTree) -> None:
    with pytest.raises(AdminError, match="aren't associated with new default account 'chem'"):
        admin(tree, "modify", "user", "alice", defaultaccount="chem")
    t = admin(tree, "add", "user", "alice", account="chem").tree
    result = admin(t, "modify", "user", "alice", defaultaccount="chem")
    assert result.message == " Modified users...\n  alice\n"
    assert result.tree.users["alice"].default_account == "chem"


def test_modify_account_fairshare_and_description(tree: AccountTree) -> None:
    result = admin(tree, "modify", "account", "physics", fairshare="5", description="Physics")
    assert result.message == (" Modified accounts...\n  physics\n"
                              " Modified account associations...\n"
                              "  C = corral     A = physics of root\n")
    assert result.tree.accounts["physics"].shares == 5


def test_modify_to_the_same_value_is_nothing_modified(tree: AccountTree) -> None:
    result = admin(tree, "modify", "account", "physics", fairshare="1")
    assert (result.changed, result.message) == (False, " Nothing modified\n")


def test_modify_parent_moves_the_account_but_never_under_itself(tree: AccountTree) -> None:
    t = admin(tree, "add", "account", "bio").tree
    moved = admin(t, "modify", "account", "bio", parent="physics").tree
    assert moved.accounts["bio"].parent == "physics"
    with pytest.raises(AdminError, match="sub-accounts"):
        admin(tree, "modify", "account", "physics", parent="chem")
    with pytest.raises(AdminError, match="Parent Account nope doesn't exist"):
        admin(tree, "modify", "account", "physics", parent="nope")


def test_modify_without_settings_or_conditions_is_refused(tree: AccountTree) -> None:
    with pytest.raises(AdminError, match="You didn't give me anything to set"):
        admin(tree, "modify", "account", "physics")
    with pytest.raises(AdminError, match="You didn't set any conditions"):
        admin(tree, "modify", "account", fairshare="2")
    with pytest.raises(AdminError, match="Unknown condition: colour=red"):
        admin(tree, "modify", "account", where={"colour": "red"}, fairshare="2")


def test_delete_account_refuses_sub_accounts_and_default_accounts(tree: AccountTree) -> None:
    with pytest.raises(AdminError, match="still has sub-accounts"):
        admin(tree, "delete", "account", "physics")
    with pytest.raises(AdminError, match="Users listed below have these as their Default"):
        admin(tree, "delete", "account", "physics", "chem")
    with pytest.raises(AdminError, match="not allowed to remove the root account"):
        admin(tree, "delete", "account", "root")


def test_delete_account_drops_non_default_user_associations(tree: AccountTree) -> None:
    t = admin(tree, "add", "user", "alice", account="chem").tree
    result = admin(t, "delete", "account", "chem")
    assert result.message == " Deleting accounts...\n  chem\n"
    assert ("chem", "alice") not in result.tree.associations
    assert admin(result.tree, "delete", "account", "chem").message == " Nothing deleted\n"


def test_delete_user_association_or_whole_user(tree: AccountTree) -> None:
    t = admin(tree, "add", "user", "alice", account="chem").tree
    with pytest.raises(AdminError, match="can not remove the default account of a user"):
        admin(t, "delete", "user", "alice", where={"account": "physics"})
    one = admin(t, "delete", "user", "alice", where={"account": "chem"})
    assert one.message == (" Deleting user associations...\n"
                           "  C = corral     A = chem       U = alice    \n")
    assert set(one.tree.associations) == {("physics", "alice")}
    gone = admin(t, "delete", "user", "alice")
    assert gone.message == " Deleting users...\n  alice\n"
    assert not gone.tree.users and not gone.tree.associations


def test_add_and_modify_qos(tree: AccountTree) -> None:
    result = admin(tree, "add", "qos", "high", priority="10", preempt="normal",
                   preemptmode="requeue", gracetime="00:02:00", maxjobsperuser="2",
                   maxtresperuser="cpu=16", maxwall="60", usagefactor="2")
    assert result.message == (
        " Adding QOS(s)\n  high\n Settings\n  Description    = QOS Name\n"
        "  GraceTime                = 120\n  MaxJobsPerUser = 2\n"
        "  MaxTRESPerUser           = cpu=16\n  MaxWall                  = 01:00:00\n"
        "  Preempt                  = normal\n  PreemptMode              = REQUEUE\n"
        "  Priority                 = 10\n  UsageFactor              = 2.0000\n")
    high = result.tree.qos["high"]
    assert (high.priority, high.grace_time, high.preempt_mode) == (10, 120, PreemptMode.REQUEUE)
    assert high.max_tres_per_user == {"cpu": 16} and high.usage_factor == 2.0
    t = admin(result.tree, "modify", "qos", "high", **{"preempt-": "normal"}).tree
    assert t.qos["high"].preempt == frozenset()
    normal = admin(t, "modify", "qos", "normal", maxjobsperuser="2")
    assert normal.message == " Modified qos...\n  normal\n"
    assert normal.tree.qos["normal"].max_jobs_per_user == 2


def test_a_new_qos_is_given_to_no_existing_association(tree: AccountTree) -> None:
    """As in Slurm, `add qos` only creates it: users get it with `modify … set qos+=`."""
    t = admin(tree, "add", "qos", "high").tree
    alice = next(a for a in t.associations.values() if a.user == "alice")
    assert t.allowed_qos(alice) == frozenset({"normal"})
    assert t.qos_for(alice, "high") is None and t.qos_for(alice, None) is not None
    t = admin(t, "modify", "user", "alice", **{"qos+": "high"}).tree
    alice = next(a for a in t.associations.values() if a.user == "alice")
    assert t.allowed_qos(alice) == frozenset({"normal", "high"})


def test_qos_list_edits_with_plus_and_minus(tree: AccountTree) -> None:
    t = admin(tree, "add", "qos", "high").tree
    t = admin(t, "modify", "account", "physics", qos="normal").tree
    t = admin(t, "modify", "account", "physics", **{"qos+": "high"}).tree
    assert t.accounts["physics"].qos == frozenset({"normal", "high"})
    t = admin(t, "modify", "account", "physics", **{"qos-": "normal"}).tree
    assert t.accounts["physics"].qos == frozenset({"high"})


def test_delete_qos_cleans_references_but_keeps_defaults_safe(tree: AccountTree) -> None:
    t = admin(tree, "add", "qos", "high", "low").tree
    t = admin(t, "modify", "account", "physics", qos="normal,high,low", defaultqos="high").tree
    t = admin(t, "modify", "qos", "high", preempt="low").tree
    with pytest.raises(AdminError, match="access to their default qos"):
        admin(t, "delete", "qos", "high")
    with pytest.raises(AdminError, match="access to their default qos"):
        admin(t, "delete", "qos", "normal", where={})
    result = admin(t, "delete", "qos", "low")
    assert result.message == " Deleting QOS(s)...\n  low\n"
    assert result.tree.accounts["physics"].qos == frozenset({"normal", "high"})
    assert result.tree.qos["high"].preempt == frozenset()


@pytest.mark.parametrize(("verb", "entity", "message"), [
    ("add", "account", "Need name of account to add."),
    ("add", "qos", "Need name of qos to add."),
    ("delete", "user", "No conditions given to remove, not executing."),
])
def test_missing_names_get_sacctmgr_message(tree: AccountTree, verb, entity, message) -> None:
    with pytest.raises(AdminError, match=message):
        admin(tree, verb, entity)


def test_bad_time_and_preempt_mode_are_refused(tree: AccountTree) -> None:
    with pytest.raises(AdminError, match="Bad MaxWall time format"):
        admin(tree, "modify", "account", "physics", maxwall="soon")
    with pytest.raises(AdminError, match="Invalid PreemptMode"):
        admin(tree, "add", "qos", "q", preemptmode="sometimes")
    with pytest.raises(AdminError, match="TRES"):
        admin(tree, "modify", "account", "physics", grptres="bananas=3")


def test_request_wire_form_round_trips_with_set_key() -> None:
    request = AdminRequest("modify", "user", ("alice",), {"account": "physics"}, {"maxjobs": "4"})
    wire = request_to_dict(request, dry_run=True)
    assert wire["set"] == {"maxjobs": "4"} and wire["dry_run"] is True
    assert request_from_dict(wire) == request
    with pytest.raises(ValueError, match="unknown verb"):
        request_from_dict({**wire, "verb": "rename"})
    with pytest.raises(ValueError, match="where must map strings"):
        request_from_dict({**wire, "where": {"account": 3}})
