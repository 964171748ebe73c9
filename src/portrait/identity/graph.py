"""Identity resolution as pure functions: union-find over user-to-user links.

Rules:

* users linked by evidence (same phone hash, an explicit merge) are one person; chains of links
  merge transitively. The person's id is the user id that registered first (ties: the smaller
  id), so merging never invents a new id.
* an anonymous id (device/cookie) seen with exactly one person belongs to that person; seen with
  several people (a shared device) it is a *conflict*: it never merges those people, and its
  anonymous history is attributed to the person it was first seen with.
* an unmerge keeps two users apart: a link that would put them in one person is ignored
  (now and for links made later), except an explicit merge made after the unmerge;
* nothing is deleted: events keep their raw user_id/anonymous_id, and links are only added.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass


class UnionFind:
    """Disjoint sets over hashable items, with path halving and union by size."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.size: dict[str, int] = {}

    def find(self, x: str) -> str:
        parent = self.parent
        if x not in parent:
            parent[x] = x
            self.size[x] = 1
            return x
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: str, b: str) -> str:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        return ra

    def groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for x in self.parent:
            out.setdefault(self.find(x), []).append(x)
        return out


@dataclass(frozen=True)
class UserLink:
    a: str
    b: str


def merge_users(
    links: Iterable[tuple[str, str]],
    registered_rank: dict[str, tuple],
    apart: Iterable[tuple[str, str]] = (),
    forced: Collection[tuple[str, str]] = (),
) -> dict[str, str]:
    """Map every user id that appears in ``links`` to its person id.

    ``registered_rank`` gives a sort key per user (e.g. (registered_at, user_id)); the smallest
    key in a group becomes the person id. Users missing from it sort last, by id.

    ``apart``: pairs of users that must not be one person (unmerged). Links are taken in the
    order given; one that would join two groups holding an apart pair is skipped, unless it is
    in ``forced`` (an explicit merge newer than the unmerge).
    """
    uf = UnionFind()
    # the users each group's members must stay apart from, kept by group root
    banned: dict[str, set[str]] = {}
    for a, b in apart:
        banned.setdefault(uf.find(a), set()).add(b)
        banned.setdefault(uf.find(b), set()).add(a)
    linked: set[str] = set()
    for a, b in links:
        linked.update((a, b))
        ra, rb = uf.find(a), uf.find(b)
        if ra == rb:
            continue
        if (a, b) not in forced and (
            any(uf.find(x) == rb for x in banned.get(ra, ()))
            or any(uf.find(x) == ra for x in banned.get(rb, ()))
        ):
            continue
        root = uf.union(a, b)
        other = rb if root == ra else ra
        if other in banned:
            banned.setdefault(root, set()).update(banned.pop(other))
    person: dict[str, str] = {}
    for members in uf.groups().values():
        members = [m for m in members if m in linked]  # not users only named in ``apart``
        if not members:
            continue
        leader = min(members, key=lambda u: (registered_rank.get(u, (1,)), u))
        for m in members:
            person[m] = leader
    return person
