"""A shop's category tree as plain data: order, paths, descendants, and the rules of moves.

No I/O: the service loads a shop's categories (a few hundred at most), builds a `Tree` of
them, asks it whether a change is allowed and what a delete touches, and writes the answer.
A tree holds any kind of node that has an id, a parent, a name and a position (`Placed`):
the service's are `CategoryRecord`s, so `tree.node(id)` is the stored category.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")


class Placed(Protocol):
    """What the tree needs of a node: where it hangs and how it sorts among its siblings."""

    @property
    def id(self) -> str: ...
    @property
    def parent_id(self) -> str | None: ...
    @property
    def name(self) -> str: ...
    @property
    def position(self) -> int: ...


N = TypeVar("N", bound=Placed)


def sibling_order(node: Placed) -> tuple[int, str, str]:
    """Siblings are ordered by position, then name, then id (so the order is total)."""
    return (node.position, node.name, node.id)


class TreeError(ValueError):
    """A change the tree's rules forbid; the message says why."""


class CycleError(TreeError):
    pass


class DepthError(TreeError):
    pass


class UnknownNode(TreeError):
    pass


class Tree(Generic[N]):
    """A forest of categories: roots have `parent_id` None.

    A node whose parent is missing (which the database's constraints prevent) is treated as
    a root, and walks up the tree stop at a repeated node, so bad data never loops forever.
    """

    def __init__(self, nodes: Iterable[N]) -> None:
        self.nodes: dict[str, N] = {node.id: node for node in nodes}
        children: dict[str | None, list[N]] = {}
        for node in self.nodes.values():
            parent = node.parent_id if node.parent_id in self.nodes else None
            children.setdefault(parent, []).append(node)
        for siblings in children.values():
            siblings.sort(key=sibling_order)
        self._children = children

    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.nodes

    def node(self, node_id: str) -> N:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise UnknownNode(f"no category '{node_id}'") from None

    def roots(self) -> list[N]:
        return list(self._children.get(None, ()))

    def children(self, node_id: str | None) -> list[N]:
        """Direct children in sibling order (`None`: the roots)."""
        return list(self._children.get(node_id, ()))

    def path(self, node_id: str) -> list[N]:
        """The nodes from the root down to `node_id`, both included."""
        path: list[N] = []
        seen: set[str] = set()
        current: str | None = node_id
        while current is not None and current in self.nodes and current not in seen:
            seen.add(current)
            node = self.nodes[current]
            path.append(node)
            current = node.parent_id
        if not path:
            raise UnknownNode(f"no category '{node_id}'")
        path.reverse()
        return path

    def depth(self, node_id: str) -> int:
        """The level of a node: a root is at depth 1."""
        return len(self.path(node_id))

    def descendants(self, node_id: str, *, include_self: bool = True) -> list[str]:
        """Every id below `node_id`, parents before their children (pre-order)."""
        self.node(node_id)
        out: list[str] = []
        stack = [node_id]
        seen: set[str] = set()
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            out.append(current)
            stack.extend(child.id for child in reversed(self._children.get(current, ())))
        return out if include_self else out[1:]

    def height(self, node_id: str) -> int:
        """Levels in the subtree of `node_id`: 1 for a leaf."""
        below = {node_id: 1}
        for current in reversed(self.descendants(node_id)):  # children before parents
            kids = self._children.get(current, ())
            below[current] = 1 + max((below.get(kid.id, 1) for kid in kids), default=0)
        return below[node_id]

    # ------------------------------------------------------------------------- rules

    def check_add(self, parent_id: str | None, *, max_depth: int) -> None:
        """May a new node go under `parent_id` (None: as a root)?"""
        depth = 1 if parent_id is None else self.depth(parent_id) + 1
        if depth > max_depth:
            raise DepthError(
                f"a category under '{parent_id}' would be at level {depth}; "
                f"a tree has at most {max_depth} levels"
            )

    def check_move(self, node_id: str, new_parent_id: str | None, *, max_depth: int) -> None:
        """May `node_id`, with its subtree, move under `new_parent_id` (None: to the roots)?"""
        self.node(node_id)
        if new_parent_id is None:
            base = 0
        else:
            self.node(new_parent_id)
            if new_parent_id == node_id:
                raise CycleError("a category cannot be its own parent")
            if node_id in {n.id for n in self.path(new_parent_id)}:
                raise CycleError(
                    f"'{new_parent_id}' is inside the subtree of '{node_id}': moving a category "
                    "under its own descendant would make a cycle"
                )
            base = self.depth(new_parent_id)
        deepest = base + self.height(node_id)
        if deepest > max_depth:
            raise DepthError(
                f"after the move the subtree would reach level {deepest}; "
                f"a tree has at most {max_depth} levels"
            )

    def deletion_order(self, node_id: str) -> list[str]:
        """The subtree of `node_id`, children before their parents (safe to delete in order)."""
        return list(reversed(self.descendants(node_id)))

    # ------------------------------------------------------------------------- output

    def nested(self, make: Callable[[N, list[T]], T], node_id: str | None = None) -> list[T]:
        """The (sub)forest under `node_id` built bottom-up: `make(node, built_children)`."""
        return [make(child, self.nested(make, child.id)) for child in self.children(node_id)]
