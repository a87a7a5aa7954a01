"""The tree's rules and walks, on plain data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from shopfleet.categories.domain.rules import CategoryRecord
from shopfleet.categories.domain.tree import CycleError, DepthError, Tree, UnknownNode


@dataclass(frozen=True)
class Node:
    """The least a tree holds: where a node hangs and how it sorts."""

    id: str
    parent_id: str | None
    name: str = ""
    position: int = 0


def tree(*edges: tuple[str, str | None], positions: dict[str, int] | None = None) -> Tree[Node]:
    positions = positions or {}
    return Tree(Node(i, parent, name=i, position=positions.get(i, 0)) for i, parent in edges)


# shoes > boots > hiking > alpine ; shoes > sandals ; hats
SHOP = tree(
    ("shoes", None),
    ("boots", "shoes"),
    ("hiking", "boots"),
    ("alpine", "hiking"),
    ("sandals", "shoes"),
    ("hats", None),
)


def test_siblings_are_ordered_by_position_then_name_then_id() -> None:
    t = Tree(
        [
            Node("3", None, "b", 1),
            Node("1", None, "a", 2),
            Node("2", None, "c", 0),
            Node("5", None, "b", 1),
            Node("4", None, "B", 1),
        ]
    )
    assert [n.id for n in t.roots()] == ["2", "4", "3", "5", "1"]


def test_paths_run_from_the_root_to_the_node() -> None:
    assert [n.id for n in SHOP.path("alpine")] == ["shoes", "boots", "hiking", "alpine"]
    assert [n.id for n in SHOP.path("hats")] == ["hats"]
    assert SHOP.depth("alpine") == 4 and SHOP.depth("shoes") == 1
    with pytest.raises(UnknownNode):
        SHOP.path("nope")


def test_descendants_are_parents_before_children() -> None:
    assert SHOP.descendants("shoes") == ["shoes", "boots", "hiking", "alpine", "sandals"]
    assert SHOP.descendants("shoes", include_self=False)[0] == "boots"
    assert SHOP.descendants("alpine") == ["alpine"]
    order = SHOP.deletion_order("shoes")
    assert set(order) == {"shoes", "boots", "hiking", "alpine", "sandals"}
    for node in order:  # every node comes before its parent
        parent = SHOP.node(node).parent_id
        if parent in order:
            assert order.index(node) < order.index(parent)


def test_heights() -> None:
    assert SHOP.height("shoes") == 4
    assert SHOP.height("hiking") == 2
    assert SHOP.height("hats") == 1


def test_children_of_a_node_and_of_the_root() -> None:
    assert [n.id for n in SHOP.children("shoes")] == ["boots", "sandals"]
    assert [n.id for n in SHOP.children(None)] == ["hats", "shoes"]
    assert SHOP.children("alpine") == []


@pytest.mark.parametrize("target", ["boots", "hiking", "alpine"])
def test_moving_under_a_descendant_is_a_cycle(target: str) -> None:
    with pytest.raises(CycleError, match="descendant"):
        SHOP.check_move("shoes", target, max_depth=99)


def test_moving_under_itself_is_a_cycle() -> None:
    with pytest.raises(CycleError, match="own parent"):
        SHOP.check_move("boots", "boots", max_depth=99)


def test_legal_moves() -> None:
    SHOP.check_move("hiking", "hats", max_depth=8)  # to another branch
    SHOP.check_move("hiking", None, max_depth=8)  # to the roots
    SHOP.check_move("alpine", "shoes", max_depth=8)  # up its own branch
    SHOP.check_move("hats", "alpine", max_depth=5)  # to the bottom: level 5


def test_moves_respect_the_depth_limit() -> None:
    with pytest.raises(DepthError, match="level 5"):
        SHOP.check_move("hats", "alpine", max_depth=4)
    with pytest.raises(DepthError):
        SHOP.check_move("boots", "hats", max_depth=3)  # boots > hiking > alpine under hats: 4
    SHOP.check_move("boots", None, max_depth=3)


def test_adding_respects_the_depth_limit() -> None:
    SHOP.check_add(None, max_depth=1)
    SHOP.check_add("hiking", max_depth=4)
    with pytest.raises(DepthError, match="level 5"):
        SHOP.check_add("alpine", max_depth=4)
    with pytest.raises(UnknownNode):
        SHOP.check_add("nope", max_depth=4)


def test_moves_of_unknown_nodes_are_refused() -> None:
    with pytest.raises(UnknownNode):
        SHOP.check_move("nope", None, max_depth=8)
    with pytest.raises(UnknownNode):
        SHOP.check_move("boots", "nope", max_depth=8)


def test_nested_builds_the_forest_bottom_up() -> None:
    def make(node: Node, children: list[object]) -> object:
        return (node.id, children)

    assert SHOP.nested(make) == [
        ("hats", []),
        ("shoes", [("boots", [("hiking", [("alpine", [])])]), ("sandals", [])]),
    ]
    assert SHOP.nested(make, "hiking") == [("alpine", [])]


def test_bad_data_never_loops() -> None:
    # a <-> b is a cycle the database would never hold; c's parent is missing.
    t = tree(("a", "b"), ("b", "a"), ("c", "gone"))
    assert [n.id for n in t.roots()] == ["c"]
    assert [n.id for n in t.path("a")] == ["b", "a"]
    assert sorted(t.descendants("a")) == ["a", "b"]
    assert t.height("a") >= 1
    with pytest.raises(CycleError):
        t.check_move("a", "b", max_depth=8)


def test_stored_categories_are_the_nodes() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    record = CategoryRecord("x", None, "x-slug", "X", None, 3, 1, now, now)
    t = Tree([record])
    assert t.node("x").slug == "x-slug" and t.node("x").position == 3
    assert len(t) == 1 and "x" in t and "y" not in t
