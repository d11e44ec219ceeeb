from __future__ import annotations

from projects.dag import depths, find_cycle


def test_a_self_parent_is_a_cycle():
    assert find_cycle(node=3, new_parents=[3], children={}) == [3, 3]


def test_it_finds_the_shortest_cycle_in_dependency_order():
    children = {3: [5, 7], 5: [9], 7: [9]}

    assert find_cycle(node=3, new_parents=[9, 5], children=children) == [3, 5, 3]
    assert find_cycle(node=3, new_parents=[9], children=children) == [3, 5, 9, 3]


def test_unrelated_parents_are_no_cycle():
    assert find_cycle(node=3, new_parents=[1, 2], children={1: [2], 3: [4]}) is None


def test_depths_are_longest_paths_and_none_on_a_cycle():
    assert depths(4, [(0, 1), (1, 2), (0, 2)]) == [0, 1, 2, 0]
    assert depths(2, [(0, 1), (1, 0)]) is None
