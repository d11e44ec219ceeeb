from __future__ import annotations

import json

import pytest

from projects.planning import PlanError, parse_plan_json, planner_prompt


def plan(nodes, edges=()):
    return json.dumps({"nodes": nodes, "edges": list(edges)})


def edge(source, target):
    return {"source_index": source, "target_index": target}


def test_it_lays_drafts_out_by_depth_and_column():
    text = plan(
        [{"title": "a"}, {"title": "b"}, {"title": "c"}, {"title": "d"}],
        [edge(0, 2), edge(1, 2), edge(0, 3), edge(2, 3)],
    )

    result = parse_plan_json(text)

    assert [(n["position_x"], n["position_y"]) for n in result["nodes"]] == [
        (0.0, 0.0),
        (280.0, 0.0),
        (0.0, 160.0),
        (0.0, 320.0),
    ]
    assert result["edges"] == [edge(0, 2), edge(1, 2), edge(0, 3), edge(2, 3)]
    assert {n["status"] for n in result["nodes"]} == {"pending"}


def test_it_reads_an_answer_wrapped_in_prose_and_a_code_fence():
    text = "Here is the plan:\n```json\n" + plan([{"title": " Only ", "description": "d"}]) + "\n```\nGood luck."

    assert parse_plan_json(text) == {
        "nodes": [{"title": "Only", "description": "d", "status": "pending", "position_x": 0.0, "position_y": 0.0}],
        "edges": [],
    }


def test_it_merges_duplicate_edges_and_truncates_long_titles():
    result = parse_plan_json(plan([{"title": "x" * 300}, {"title": "b"}], [edge(0, 1), edge(0, 1)]))

    assert len(result["nodes"][0]["title"]) == 255
    assert result["edges"] == [edge(0, 1)]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("no json here", "no JSON object"),
        ("{not json}", "invalid JSON"),
        (plan([]), "non-empty"),
        (plan([{"description": "no title"}]), "nodes[0].title"),
        (plan([{"title": "a"}], [edge(0, 1)]), "edges[0] references an unknown node index"),
        (plan([{"title": "a"}, {"title": "b"}], [edge(-1, 1)]), "unknown node index"),
        (plan([{"title": "a"}, {"title": "b"}], [{"source_index": True, "target_index": 1}]), "unknown node index"),
        (plan([{"title": "a"}], [edge(0, 0)]), "links a node to itself"),
        (plan([{"title": "a"}, {"title": "b"}, {"title": "c"}], [edge(0, 1), edge(1, 2), edge(2, 0)]), "cycle"),
        (json.dumps({"nodes": [{"title": "a"}], "edges": {}}), '"edges" must be a list'),
    ],
)
def test_it_refuses_what_the_client_could_not_apply(text, reason):
    with pytest.raises(PlanError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        parse_plan_json(text)


def test_the_planner_prompt_carries_the_goal_and_the_resources():
    text = planner_prompt("Ship it", [{"kind": "url", "title": "Spec", "url": "https://x", "notes": "read first"}])

    assert "Ship it" in text
    assert "- [url] Spec <https://x>: read first" in text
    assert '"source_index"' in text
