"""Pure DAG checks on a project's parent links, shared by the node services and the plan parser."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping


def find_cycle(*, node: int, new_parents: Iterable[int], children: Mapping[int, Iterable[int]]) -> list[int] | None:
    """The cycle that giving ``node`` the parents ``new_parents`` would close, or None.

    ``children`` maps each node to the nodes that depend on it, *without* ``node``'s own parent
    links (they are being replaced). A cycle exists when some new parent is ``node`` itself or is
    reachable from ``node`` through its descendants. The answer reads in dependency order,
    starting and ending at ``node``: ``[3, 5, 3]`` means 3 -> 5 -> 3. The shortest one is given.
    """
    wanted = set(new_parents)
    if node in wanted:
        return [node, node]
    came_from: dict[int, int] = {node: node}
    queue: deque[int] = deque([node])
    while queue:
        current = queue.popleft()
        for child in sorted(children.get(current, ())):
            if child in came_from:
                continue
            came_from[child] = current
            if child in wanted:
                path = [child]
                while path[-1] != node:
                    path.append(came_from[path[-1]])
                return [*reversed(path), node]
            queue.append(child)
    return None


def depths(count: int, edges: Iterable[tuple[int, int]]) -> list[int] | None:
    """Longest-path depth of each of ``count`` nodes given ``(parent, child)`` index pairs; None on a cycle."""
    children: dict[int, list[int]] = {i: [] for i in range(count)}
    indegree = [0] * count
    for parent, child in edges:
        children[parent].append(child)
        indegree[child] += 1
    depth = [0] * count
    ready = deque(i for i in range(count) if indegree[i] == 0)
    seen = 0
    while ready:
        current = ready.popleft()
        seen += 1
        for child in children[current]:
            depth[child] = max(depth[child], depth[current] + 1)
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    return depth if seen == count else None
