"""The six built-in templates of contract §2.13, created once by a data migration.

Unlike the reference hub, nothing is re-seeded at start-up: a built-in template the user deleted
stays deleted. Prompts use ``{{node.*}}`` (filled at launch), context keys such as ``{{code}}``
(filled when a caller supplies them) and ``{{Upstream Step Name}}`` (filled by the runner).
Edges are ``(parent index, child index)`` into ``steps``.
"""

from __future__ import annotations

from typing import Any

CLAUDE, CODEX, GEMINI = "claude", "codex", "gemini"
COLUMN_WIDTH, ROW_HEIGHT = 320.0, 200.0


def step(name: str, agent_type: str, prompt: str, at: tuple[float, float], **options: Any) -> dict[str, Any]:
    """One step; ``at`` is (column, row) in the builder's grid; ``options`` are the model fields."""
    column, row = at
    return {
        "name": name,
        "agent_type": agent_type,
        "prompt_template": prompt.strip(),
        "output_format": options.pop("output_format", "markdown"),
        "position_x": 80.0 + column * COLUMN_WIDTH,
        "position_y": 80.0 + row * ROW_HEIGHT,
        "model_version": options.pop("model_version", None),
        "thinking_budget": options.pop("thinking_budget", None),
        "reasoning_level": options.pop("reasoning_level", None),
    }


def header(subject: str) -> str:
    return f'{subject} "{{{{node.title}}}}".\n\nTask description:\n{{{{node.description}}}}\n'


CODE_REVIEW = {
    "name": "Multi-Agent Code Review",
    "description": "Security, bug and architecture reviews in parallel, merged into one actionable review.",
    "metadata": {"icon": "🔍", "is_default": True, "category": "review"},
    "steps": [
        step(
            "Security Review",
            GEMINI,
            header("You are an application-security engineer reviewing the code for")
            + """
Code to review:
{{code}}

Look for security vulnerabilities: injection (SQL, shell, template, path traversal), missing or broken
authentication and authorization checks, secrets in code or logs, unsafe deserialization, missing input
validation at trust boundaries, insecure defaults (CORS, TLS, cookies) and risky dependencies.

For every finding give its severity (critical, high, medium or low), the file and line or function, how it
could be exploited, and a concrete fix. Do not report style issues. End with a one-paragraph risk assessment.
""",
            (0, 0),
        ),
        step(
            "Bug Detection",
            CODEX,
            header("You are hunting for bugs in the code for")
            + """
Code:
{{code}}

Find defects that make the code behave incorrectly: logic and off-by-one errors, unhandled null or empty
inputs, swallowed exceptions and missing cleanup, race conditions and shared mutable state, resource leaks,
misuse of async code, and functions that do not do what their names and docstrings promise. Trace concrete
inputs through the code when you are unsure.

For each bug give the location, a minimal input or sequence that triggers it, the actual and expected
behaviour, and a small patch. Rank the bugs by impact. Do not report style or naming issues.
""",
            (0, 1),
            reasoning_level="xhigh",
        ),
        step(
            "Architecture Review",
            CLAUDE,
            header("As a staff engineer, review the design of the code for")
            + """
Code:
{{code}}

Assess how responsibilities are split between modules, classes and functions; coupling and the direction of
dependencies; whether the abstractions fit the problem; the error-handling strategy; testability; names that
explain intent; and how the code will cope with the next likely changes. Say what is done well, too.

Give at most ten recommendations ordered by value, each with its reason, its cost and a sketch of the change.
""",
            (0, 2),
            thinking_budget=16000,
        ),
        step(
            "Review Synthesis",
            CLAUDE,
            """
You are the lead reviewer for "{{node.title}}". Three specialists reviewed the same code independently.

## Security review
{{Security Review}}

## Bug detection
{{Bug Detection}}

## Architecture review
{{Architecture Review}}

Merge them into one review the author can act on. Remove duplicates, resolve disagreements (say which view
you adopt and why) and drop findings the code does not support. Produce:
1. A verdict (approve, approve with changes, request changes) with one sentence of justification.
2. Must fix before merging: a numbered list, each item with location, problem and fix.
3. Should fix soon.
4. Optional improvements.
5. What is good and should be kept.
Name the reviewer who raised each item. Be concise.
""",
            (1, 1),
            thinking_budget=16000,
        ),
    ],
    "edges": [(0, 3), (1, 3), (2, 3)],
}

BUG_INVESTIGATION = {
    "name": "Bug Investigation",
    "description": "From a screenshot to the code path to the root cause, with a fix and a regression test.",
    "metadata": {"icon": "🐛", "is_default": True, "category": "debug"},
    "steps": [
        step(
            "Screenshot Analysis",
            GEMINI,
            header("A user reported the bug")
            + """
Screenshot or visual evidence (an image path, a URL or a description):
{{screenshot}}

Describe exactly what it shows: the screen or component, its visible state, every error message with its
exact text, values that look wrong, and what differs from a working application. Keep what you see apart
from what you infer. Finish with a list of concrete symptoms and the user actions that most likely led to
this state, so that an engineer can search the code for them.
""",
            (0, 0),
        ),
        step(
            "Code Trace",
            CODEX,
            """
Trace the bug "{{node.title}}" through the codebase.

Symptoms from the screenshot analysis:
{{Screenshot Analysis}}

Codebase context:
{{codebase_context}}

Start your report by restating the symptoms in a short list, as the next agent sees only your report.
Then search the repository in the current directory for the error messages, components, endpoints and data
the symptoms name. Follow the path from the user's action to the faulty output: list every function or module
involved with its file and line, what it receives and what it returns. Note each place where the behaviour
could originate and the evidence (code, tests, git history) for or against it. Do not modify any file.
""",
            (1, 0),
            reasoning_level="xhigh",
        ),
        step(
            "Root Cause Analysis",
            CLAUDE,
            header("Determine the root cause of the bug")
            + """
Code trace (it starts with the symptoms seen in the screenshot):
{{Code Trace}}

Weigh the candidate causes and choose the one the evidence supports best; say why the others are less
likely. Then give:
1. The root cause: the exact code and the faulty assumption, in one paragraph.
2. How it produces each observed symptom.
3. The fix: a concrete change (a diff where possible) and why it is safe.
4. A regression test that fails before the fix and passes after it.
5. Other places in the code that may share the flaw.
If the evidence cannot settle the question, say which information would.
""",
            (2, 0),
            thinking_budget=16000,
        ),
    ],
    "edges": [(0, 1), (1, 2)],
}

FEATURE_IMPLEMENTATION = {
    "name": "Feature Implementation",
    "description": "Analyse a spec, plan the change, then write the code and its tests in parallel.",
    "metadata": {"icon": "🛠️", "is_default": True, "category": "build"},
    "steps": [
        step(
            "Spec Analysis",
            GEMINI,
            header("Analyse the specification of the feature")
            + """
Specification:
{{spec}}

Codebase context:
{{codebase_context}}

Produce a structured analysis: the user-visible behaviour as numbered requirements, each checkable by a
test; inputs, outputs and data shapes; the edge cases and error conditions the spec implies; non-functional
requirements (performance, security, compatibility); ambiguities or contradictions, each with the
interpretation you recommend; and what is explicitly out of scope.
""",
            (0, 0.5),
        ),
        step(
            "Implementation Plan",
            CLAUDE,
            """
Plan the implementation of "{{node.title}}".

Requirements:
{{Spec Analysis}}

Codebase context:
{{codebase_context}}

Start the plan with the numbered requirements, restated in full with their edge cases: the agents that
implement and test the plan see only the plan. Then design the change to fit the existing code: the
modules to add or modify; new functions, classes, endpoints or migrations with their signatures; the data
flow; how errors are reported. Order the work in small steps
that each leave the code working. List the tests each requirement needs and the risks with their
mitigations. Be precise enough that another engineer can implement the plan without guessing.
""",
            (1, 0.5),
            thinking_budget=16000,
        ),
        step(
            "Generate Code",
            CODEX,
            """
Implement "{{node.title}}" in the repository in the current directory, following this plan:

{{Implementation Plan}}

Follow the existing style, naming and structure; keep the change focused on the plan; handle every error
case the requirements list; add docstrings where behaviour is not obvious. Do not write tests: another agent
does. Finish with a list of the files you changed or created and anything in the plan you could not do, and why.
""",
            (2, 0),
            reasoning_level="xhigh",
            output_format="code",
        ),
        step(
            "Generate Tests",
            CODEX,
            """
Write automated tests for "{{node.title}}" from its implementation plan, which starts with the requirements:

{{Implementation Plan}}

Use the project's test framework and conventions. Cover every numbered requirement with at least one test,
plus its edge cases and error conditions. Assert observable behaviour (return values, responses, stored data)
rather than implementation details; keep tests deterministic and name each after the behaviour it checks.
Finish with the test files you created and which requirement each test covers.
""",
            (2, 1),
            reasoning_level="high",
            output_format="code",
        ),
    ],
    "edges": [(0, 1), (1, 2), (1, 3)],
}

DOCUMENTATION_GENERATOR = {
    "name": "Documentation Generator",
    "description": "Analyse code, write the API reference and usage examples in parallel, then assemble the docs.",
    "metadata": {"icon": "📚", "is_default": True, "category": "docs"},
    "steps": [
        step(
            "Code Analysis",
            CODEX,
            header("Analyse, so that documentation can be written from it, the code for")
            + """
Code:
{{code}}

Output only a JSON object, no prose, with these keys:
- "summary": what the code does, in two or three sentences;
- "modules": [{"name", "purpose"}];
- "public_api": [{"name", "kind" (function, class, method, endpoint or command), "signature", "description",
  "parameters": [{"name", "type", "default", "description"}], "returns", "raises": [...]}];
- "configuration": [{"name", "type", "default", "description"}];
- "dependencies": [...];
- "notes": side effects, invariants and caveats a user must know.
Include only what the code shows; use null where something is unknown.
""",
            (0, 0.5),
            reasoning_level="high",
            output_format="json",
        ),
        step(
            "API Documentation",
            CLAUDE,
            """
Write the API reference for "{{node.title}}" from this analysis of the code:

{{Code Analysis}}

For every public function, class, endpoint or command: a heading, the signature, a one-paragraph
description, a table of parameters (name, type, default, description), the return value, and the errors it
raises and when. Group the entries by module and document configuration in its own section. Use Markdown.
Be exact: do not invent behaviour the analysis does not show.
""",
            (1, 0),
            thinking_budget=8000,
        ),
        step(
            "Usage Examples",
            CLAUDE,
            """
Write usage examples for "{{node.title}}" from this analysis of the code:

{{Code Analysis}}

Start with a quick start a new user can copy and run. Then cover the most common tasks, each with a short
explanation, a complete code snippet and its expected output. Include at least one example of handling an
error and one of configuration. Keep every example consistent with the signatures in the analysis. Use
Markdown with fenced code blocks.
""",
            (1, 1),
            thinking_budget=8000,
        ),
        step(
            "Final Documentation",
            CLAUDE,
            header("Assemble the final documentation for")
            + """
API reference draft:
{{API Documentation}}

Usage examples draft:
{{Usage Examples}}

Produce one Markdown document: a title and a short overview of what the code is for; installation or setup;
a quick start; a guide built from the examples; the full API reference; configuration; troubleshooting for
the errors the reference lists. Remove repetition between the drafts, make the terminology consistent and
check that every example matches the reference. Output only the document.
""",
            (2, 0.5),
            thinking_budget=16000,
        ),
    ],
    "edges": [(0, 1), (0, 2), (1, 3), (2, 3)],
}

TEST_SUITE_GENERATOR = {
    "name": "Test Suite Generator",
    "description": "Analyse code, write unit, integration and edge-case tests in parallel, then summarise coverage.",
    "metadata": {"icon": "🧪", "is_default": True, "category": "test"},
    "steps": [
        step(
            "Code Analysis",
            CODEX,
            header("Analyse, to plan its test suite, the code for")
            + """
Code:
{{code}}

Output only a JSON object, no prose, with these keys:
- "units": [{"name", "signature", "behaviour", "branches": [...], "dependencies_to_fake": [...]}];
- "integration_points": [{"name", "components", "behaviour"}] (databases, HTTP, files, queues, other modules);
- "edge_cases": [{"target", "input", "expected"}];
- "test_framework": the framework and conventions the project already uses, or a recommendation;
- "risks": the areas most likely to hide bugs.
Use only what the code shows.
""",
            (0, 1),
            reasoning_level="high",
            output_format="json",
        ),
        step(
            "Unit Tests",
            CODEX,
            """
Write unit tests for "{{node.title}}".

Analysis:
{{Code Analysis}}

Code:
{{code}}

Test each unit of the analysis in isolation: every listed branch, typical inputs, and each error the unit
raises. Fake only the dependencies listed in dependencies_to_fake and use real objects otherwise. Use the
framework the analysis names, one test per behaviour, descriptive names, no sleeps and no randomness.
Output complete, runnable test files.
""",
            (1, 0),
            reasoning_level="xhigh",
            output_format="code",
        ),
        step(
            "Integration Tests",
            CODEX,
            """
Write integration tests for "{{node.title}}".

Analysis:
{{Code Analysis}}

Code:
{{code}}

For each integration point of the analysis, test the components together through their public interfaces:
the real database or files where the project's test setup provides them, HTTP routes through the framework's
test client. Check the data that is stored or returned and the behaviour when a collaborator fails. Set up
and clean up all state in fixtures. Output complete, runnable test files.
""",
            (1, 1),
            reasoning_level="xhigh",
            output_format="code",
        ),
        step(
            "Edge Case Tests",
            CLAUDE,
            """
Write tests for the edge cases of "{{node.title}}".

Analysis:
{{Code Analysis}}

Code:
{{code}}

Start from the analysis's edge cases, then think adversarially: empty, huge and malformed inputs; boundaries
(0, 1, -1, maximum sizes); unicode; null values; duplicate and out-of-order calls; concurrency; time zones.
Say in a comment why each case matters. Output complete, runnable test files; mark any test you expect to
fail because of a real bug and explain the bug.
""",
            (1, 2),
            thinking_budget=16000,
            output_format="code",
        ),
        step(
            "Test Summary",
            CLAUDE,
            """
Summarise the generated test suite for "{{node.title}}".

Unit tests:
{{Unit Tests}}

Integration tests:
{{Integration Tests}}

Edge case tests:
{{Edge Case Tests}}

Report how many tests of each kind there are, which behaviours and risks they cover, the gaps that remain,
overlapping tests that could be merged, every test expected to fail and the bug it points to, and the command
that runs the suite. End with a prioritised list of the next tests to write.
""",
            (2, 1),
            thinking_budget=8000,
        ),
    ],
    "edges": [(0, 1), (0, 2), (0, 3), (1, 4), (2, 4), (3, 4)],
}

RESEARCH_ANGLES = {
    "Claude": "Favour depth and careful reasoning: explain the core concepts, the main approaches with their "
    "trade-offs, and where experts disagree and why.",
    "Gemini": "Favour breadth and recency: survey the whole landscape, recent developments, notable projects and "
    "organisations, and quantitative data where it exists.",
    "Codex": "Favour the practical, technical side: concrete implementations, libraries and APIs, code-level "
    "patterns, benchmarks and pitfalls; include short code examples where they help, and inspect the "
    "repository in the current directory when it is relevant.",
}
REVIEW_FOCUS = {
    "Claude": "the soundness of the reasoning and of the conclusions drawn from the evidence",
    "Gemini": "factual accuracy, recency and coverage: what is wrong, outdated or missing",
    "Codex": "technical correctness and the feasibility of every practical recommendation",
}
RESEARCH_SETTINGS: dict[str, tuple[str, dict[str, Any]]] = {
    "Claude": (CLAUDE, {"thinking_budget": 32000}),
    "Gemini": (GEMINI, {"model_version": "gemini-3-pro"}),
    "Codex": (CODEX, {"reasoning_level": "xhigh"}),
}
ALL_REPORTS = "\n\n".join(f"## {who} research\n{{{{{who} Research}}}}" for who in RESEARCH_ANGLES)
ALL_REVIEWS = "\n\n".join(f"## {who} review\n{{{{{who} Review}}}}" for who in RESEARCH_ANGLES)


def research_step(who: str, row: int) -> dict[str, Any]:
    agent_type, options = RESEARCH_SETTINGS[who]
    prompt = f"""
Research this topic: {{{{topic}}}}

It is for the task "{{{{node.title}}}}":
{{{{node.description}}}}

Background the requester supplied:
{{{{context}}}}

Work independently. {RESEARCH_ANGLES[who]} Separate established facts from your own judgement and say how
confident you are in each major claim. Cite sources (papers, documentation, repositories) and say when you
cannot verify something. Write a structured Markdown report ending with your recommendations.
"""
    return step(f"{who} Research", agent_type, prompt, (0, row), **options)


def review_step(who: str, row: int) -> dict[str, Any]:
    agent_type, options = RESEARCH_SETTINGS[who]
    prompt = f"""
Three researchers worked independently on this topic: {{{{topic}}}}
(for the task "{{{{node.title}}}}")

{ALL_REPORTS}

Review the three reports critically, focusing on {REVIEW_FOCUS[who]}. Say where they agree, where they
contradict each other and which side the evidence favours, which claims look wrong or unsupported, and what
none of them covers. Give one section per issue with your verdict and what the final report should say.
"""
    return step(f"{who} Review", agent_type, prompt, (1, row), **options)


RESEARCH_SWARM = {
    "name": "Research Swarm",
    "description": "Three agents research a topic independently, three cross-review every report, one synthesises.",
    "metadata": {"icon": "🔬", "is_default": True, "category": "research"},
    "steps": [
        *(research_step(who, row) for row, who in enumerate(RESEARCH_ANGLES)),
        *(review_step(who, row) for row, who in enumerate(RESEARCH_ANGLES)),
        step(
            "Final Synthesis",
            CLAUDE,
            f"""
Write the final research report on: {{{{topic}}}}

It is for the task "{{{{node.title}}}}":
{{{{node.description}}}}

Background: {{{{context}}}}

{ALL_REPORTS}

{ALL_REVIEWS}

Synthesise one authoritative report. Use the reviews to decide which claims to keep, correct or drop, and
resolve every contradiction explicitly. Structure: an executive summary of at most five bullet points;
background; findings by theme; the options compared in a table; recommendations with their rationale; open
questions and risks; sources. Mark whatever remains uncertain.
""",
            (2, 1),
            thinking_budget=32000,
        ),
    ],
    "edges": [(r, 3 + v) for r in range(3) for v in range(3)] + [(i, 6) for i in range(6)],
}

BUILTIN_TEMPLATES: list[dict[str, Any]] = [
    CODE_REVIEW,
    BUG_INVESTIGATION,
    FEATURE_IMPLEMENTATION,
    DOCUMENTATION_GENERATOR,
    TEST_SUITE_GENERATOR,
    RESEARCH_SWARM,
]


def create_builtin_templates(apps: Any, schema_editor: Any) -> None:
    """Data migration: add each built-in template unless one with its name exists.

    Created last-to-first so that the list (newest first) shows them in the order above.
    """
    template_model = apps.get_model("agents", "AgentTemplate")
    step_model = apps.get_model("agents", "AgentStep")
    edge_model = apps.get_model("agents", "StepEdge")
    for spec in reversed(BUILTIN_TEMPLATES):
        if template_model.objects.filter(name=spec["name"]).exists():
            continue
        template = template_model.objects.create(
            name=spec["name"], description=spec["description"], metadata=dict(spec["metadata"])
        )
        steps = [step_model.objects.create(template=template, metadata={}, **fields) for fields in spec["steps"]]
        edge_model.objects.bulk_create(
            edge_model(template=template, parent=steps[parent], child=steps[child]) for parent, child in spec["edges"]
        )


def remove_builtin_templates(apps: Any, schema_editor: Any) -> None:
    template_model = apps.get_model("agents", "AgentTemplate")
    names = [spec["name"] for spec in BUILTIN_TEMPLATES]
    template_model.objects.filter(name__in=names, metadata__is_default=True).delete()
