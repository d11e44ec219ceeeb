"""Agents stay inside their roots and their environment carries no code: API, admin and launch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from agents.environment import safe_template_env, validate_template_env
from agents.models import AgentTemplate, Execution, StepRun
from agents.services import executions
from orchestra_site.api.exceptions import InvalidInput
from projects.models import Project
from tests.support.agent_runs import (
    RunnerThread,
    execution_finished,
    launch,
    make_template,
    running_step,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("op", "op@example.com", "pw-for-tests"))
    return client


def execution_url(project: dict[str, Any], execution_id: int) -> str:
    return f"/projects/{project['id']}/executions/{execution_id}"


# --- Where an agent runs ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/etc", "relative/../x", "x", "", "/tmp/../etc"])
def test_a_worktree_outside_the_worktrees_folder_is_refused(
    api_client: APIClient, project: dict[str, Any], path: str
) -> None:
    execution = executions.execution_create(project_id=project["id"])
    response = api_client.patch(execution_url(project, execution.pk), {"worktree_path": path}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("worktree_path: ")
    assert Execution.objects.get(pk=execution.pk).worktree_path is None


def test_a_worktree_inside_the_worktrees_folder_is_accepted_resolved(
    api_client: APIClient, project: dict[str, Any], settings: Any
) -> None:
    execution = executions.execution_create(project_id=project["id"])
    wanted = f"{settings.WORKTREES_DIR}/a/../exec-x"
    response = api_client.patch(execution_url(project, execution.pk), {"worktree_path": wanted}, format="json")
    assert response.status_code == 200
    assert response.json()["worktree_path"] == str(Path(settings.WORKTREES_DIR).resolve() / "exec-x")
    refused = api_client.patch(
        execution_url(project, execution.pk), {"worktree_path": str(settings.WORKTREES_DIR)}, format="json"
    )
    assert refused.status_code == 400


def test_a_symlink_out_of_the_worktrees_folder_is_refused(
    api_client: APIClient, project: dict[str, Any], settings: Any, tmp_path: Path
) -> None:
    Path(settings.WORKTREES_DIR).mkdir(parents=True)
    (Path(settings.WORKTREES_DIR) / "escape").symlink_to("/etc")
    execution = executions.execution_create(project_id=project["id"])
    link = f"{settings.WORKTREES_DIR}/escape"
    response = api_client.patch(execution_url(project, execution.pk), {"worktree_path": link}, format="json")
    assert response.status_code == 400
    assert "outside ORCHESTRA_WORKTREES_DIR" in response.json()["detail"]


def test_a_project_may_not_hold_the_workspaces_folder_or_other_projects(
    api_client: APIClient, settings: Any, tmp_path: Path
) -> None:
    first = api_client.post(
        "/projects", {"name": "First", "workspace_path": str(tmp_path / "repos" / "a")}, format="json"
    )
    assert first.status_code == 201
    for path in (settings.WORKSPACES_DIR, tmp_path, tmp_path / "repos"):
        response = api_client.post("/projects", {"name": "Greedy", "workspace_path": str(path)}, format="json")
        assert response.status_code == 400, path
        assert response.json()["detail"].startswith("workspace_path: ")
    assert Project.objects.count() == 1
    moved = api_client.patch(
        f"/projects/{first.json()['id']}", {"workspace_path": str(tmp_path / "repos")}, format="json"
    )
    assert moved.status_code == 200  # its own workspace is not "another project's"
    sibling = api_client.post("/projects", {"name": "Same", "workspace_path": str(tmp_path / "repos")}, format="json")
    assert sibling.status_code == 400  # nor may two projects share one folder
    assert sibling.json()["detail"].startswith("workspace_path: ")


def test_a_worktree_written_before_the_rules_fails_the_step_and_runs_nothing(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any]
) -> None:
    execution = launch(api_client, project, node, make_template(api_client, [("S", "custom", "0")]))
    Execution.objects.filter(pk=execution["id"]).update(worktree_path="/")
    with RunnerThread():
        wait_for(execution_finished(execution["id"]))
    step = StepRun.objects.get(execution_id=execution["id"])
    assert (step.status, step.pid) == ("failed", None)
    assert step.error.startswith("worktree_path: / is outside ORCHESTRA_WORKTREES_DIR")


def test_a_workspace_replaced_by_a_link_out_of_the_roots_fails_the_step(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any], tmp_path: Path
) -> None:
    execution = launch(api_client, project, node, make_template(api_client, [("S", "custom", "0")]))
    workspace = Path(project["workspace_path"])
    workspace.rmdir()
    workspace.symlink_to("/")
    with RunnerThread():
        wait_for(execution_finished(execution["id"]))
    step = StepRun.objects.get(execution_id=execution["id"])
    assert (step.status, step.pid) == ("failed", None)
    assert "is outside ORCHESTRA_WORKSPACE_ROOTS" in step.error


# --- What a PATCH may record -----------------------------------------------------------------


def test_a_patch_cannot_finish_a_running_agent(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any]
) -> None:
    execution = launch(api_client, project, node, make_template(api_client, [("S", "custom", "3")]))
    url = execution_url(project, execution["id"])
    with RunnerThread():
        step = wait_for(running_step(execution["id"]))
        refused = api_client.patch(url, {"status": "completed"}, format="json")
        assert refused.status_code == 400
        assert refused.json()["detail"].startswith("status: the hub's runner runs this execution")
        step_url = f"{url}/steps/{step.pk}"
        assert api_client.patch(step_url, {"status": "completed"}, format="json").status_code == 400
        wait_for(execution_finished(execution["id"]), timeout=30)
    step.refresh_from_db()
    assert step.status == "completed"
    assert step.output.startswith("working on: 3")
    assert Execution.objects.get(pk=execution["id"]).status == "completed"
    finished = api_client.patch(url, {"status": "failed"}, format="json")
    assert (finished.status_code, finished.json()["detail"]) == (
        400,
        "status: the execution already finished; it keeps its status.",
    )


# --- The environment carries no code --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NODE_OPTIONS", "--import=data:text/javascript,console.log(1)"),
        ("PATH", "/somewhere"),
        ("LD_PRELOAD", "/tmp/evil.so"),
        ("DYLD_INSERT_LIBRARIES", "/tmp/evil.dylib"),
        ("PYTHONSTARTUP", "/tmp/evil.py"),
        ("PERL5OPT", "-Mevil"),
        ("RUBYOPT", "-revil"),
        ("BASH_ENV", "/tmp/evil.sh"),
        ("ENV", "/tmp/evil.sh"),
        ("HOME", "/tmp/fake-home"),
        ("CODEX_HOME", "/tmp/codex"),
        ("CLAUDE_CONFIG_DIR", "/tmp/claude"),
        ("XDG_CONFIG_HOME", "/tmp/config"),
        ("GIT_SSH_COMMAND", "evil"),
        ("node_options", "--require=/tmp/x.js"),
    ],
)
def test_a_template_env_that_loads_code_is_refused(api_client: APIClient, name: str, value: str) -> None:
    body = {"name": "t", "metadata": {"env": {name: value}}}
    response = api_client.post("/agent-templates", body, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"metadata.env.{name}: ")
    assert not AgentTemplate.objects.filter(name="t").exists()


# Names a client could use against the hub user or the owner's credentials, by kind. A blocklist
# accepted 66 of 67 such names; the allowlist must refuse every one.
DANGEROUS_NAMES = {
    "loader": ["LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "DYLD_INSERT_LIBRARIES", "GCONV_PATH", "GLIBC_TUNABLES",
               "MALLOC_CONF", "LOCPATH", "NLSPATH", "TERMINFO", "TZDIR"],
    "runtime": ["NODE_OPTIONS", "node_options", "NODE_PATH", "NODE_TLS_REJECT_UNAUTHORIZED", "NPM_CONFIG_REGISTRY",
                "npm_config_script_shell", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONWARNINGS", "PERL5OPT", "RUBYOPT",
                "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "BASH_ENV", "ENV", "PROMPT_COMMAND", "PS4", "IFS", "PATH",
                "HOME", "ZDOTDIR", "EDITOR", "VISUAL", "PAGER", "BROWSER", "SHELL", "TMPDIR", "UV_INDEX_URL",
                "PIP_INDEX_URL", "RUSTC_WRAPPER", "GOFLAGS", "BUN_OPTIONS", "DENO_DIR"],
    "cli config": ["CLAUDE_CONFIG_DIR", "CLAUDE_CODE_SHELL_PREFIX", "CLAUDE_CODE_USE_BEDROCK",
                   "CLAUDE_CODE_GIT_BASH_PATH", "CLAUDE_CODE_API_KEY_HELPER_TTL_MS", "ANTHROPIC_CUSTOM_HEADERS",
                   "ANTHROPIC_MODEL", "CODEX_HOME",
                   "GEMINI_CLI_HOME", "GEMINI_CLI_SYSTEM_SETTINGS_PATH", "GEMINI_SYSTEM_MD", "XDG_CONFIG_HOME",
                   "XDG_DATA_HOME", "DISABLE_AUTOUPDATER", "MCP_TIMEOUT", "CI", "DEBUG", "ANTHROPIC_LOG"],
    "proxy": ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
              "GLOBAL_AGENT_HTTP_PROXY"],
    "endpoint": ["ANTHROPIC_BASE_URL", "ANTHROPIC_BEDROCK_BASE_URL", "ANTHROPIC_VERTEX_BASE_URL", "OPENAI_BASE_URL",
                 "OPENAI_API_BASE", "GOOGLE_GEMINI_BASE_URL", "GOOGLE_VERTEX_BASE_URL", "CODE_ASSIST_ENDPOINT",
                 "OLLAMA_HOST"],
    "git": ["GIT_SSH_COMMAND", "GIT_SSH", "GIT_ASKPASS", "GIT_EXEC_PATH", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_PARAMETERS",
            "GIT_CONFIG_COUNT", "GIT_DIR", "GIT_EXTERNAL_DIFF", "GIT_PAGER", "GIT_TEMPLATE_DIR"],
    "ssh": ["SSH_AUTH_SOCK", "SSH_ASKPASS", "SSH_ASKPASS_REQUIRE"],
    "credential": ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY",
                   "GOOGLE_APPLICATION_CREDENTIALS", "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
                   "GH_TOKEN", "GITHUB_TOKEN", "KUBECONFIG", "DOCKER_HOST", "DOCKER_CONFIG", "NETRC", "CURL_HOME",
                   "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "OPENSSL_CONF"],
    "the hub's": ["ORCHESTRA_STEP_RUN", "ORCHESTRA_SECRET_KEY", "DJANGO_SETTINGS_MODULE", "ORCHESTRA_TASK_", "tz"],
}  # fmt: skip


def test_every_dangerous_name_is_refused_and_dropped_at_launch() -> None:
    names = [name for kind in DANGEROUS_NAMES.values() for name in kind]
    assert len(names) >= 60
    accepted = []
    for name in names:
        try:
            validate_template_env({name: "x"})
            accepted.append(name)
        except InvalidInput as refused:
            assert refused.detail.startswith(f"metadata.env.{name}: may not be set by a template")
    assert accepted == []
    assert safe_template_env(dict.fromkeys(names, "x")) == {}


def test_a_refusal_says_what_may_be_set_and_how_the_operator_allows_more(api_client: APIClient) -> None:
    response = api_client.post("/agent-templates", {"name": "t", "metadata": {"env": {"CI": "1"}}}, format="json")
    assert (response.status_code, response.json()["detail"]) == (
        400,
        "metadata.env.CI: may not be set by a template: a template may set only TZ, LANG, LANGUAGE, LC_ALL,"
        " LC_CTYPE, LC_MESSAGES, LC_TIME, LC_NUMERIC, LC_COLLATE, LC_MONETARY, TERM, NO_COLOR, FORCE_COLOR,"
        " CLICOLOR, CLICOLOR_FORCE, COLUMNS, LINES, and names starting with ORCHESTRA_TASK_; the operator can"
        " allow more with ORCHESTRA_AGENT_ENV_ALLOWED.",
    )
    endpoint = api_client.post(
        "/agent-templates",
        {"name": "t", "steps": [{"name": "s", "agent_type": "custom", "prompt_template": "p",
                                 "metadata": {"env": {"ANTHROPIC_BASE_URL": "https://collector.attacker.example"}}}]},
        format="json",
    )  # fmt: skip
    assert (endpoint.status_code, endpoint.json()["detail"]) == (
        400,
        "steps[0].metadata.env.ANTHROPIC_BASE_URL: may not be set by a template: endpoints, proxies, credentials"
        " and the CLIs' configuration are the operator's settings (the hub's own environment,"
        " ORCHESTRA_AGENT_ENV_PASSTHROUGH).",
    )


def test_the_allowed_names_are_accepted_with_plain_values(api_client: APIClient, settings: Any) -> None:
    settings.AGENT_ENV_ALLOWED = ["MY_FEATURE_FLAG"]
    env = {
        "TZ": "Europe/Paris",
        "LANG": "en_US.UTF-8",
        "LANGUAGE": "fr:en",
        "LC_ALL": "C",
        "TERM": "xterm-256color",
        "NO_COLOR": "1",
        "FORCE_COLOR": "3",
        "COLUMNS": "120",
        "ORCHESTRA_TASK_TICKET": "ABC-12 https://tracker.example/ABC-12",
        "MY_FEATURE_FLAG": "on",
    }
    response = api_client.post("/agent-templates", {"name": "t", "metadata": {"env": env}}, format="json")
    assert response.status_code == 201, response.content
    assert AgentTemplate.objects.get(name="t").metadata == {"env": env}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TZ", "/etc/passwd"),
        ("TZ", ":/tmp/zone"),
        ("TZ", "../../../../tmp/zone"),
        ("LANG", "../../tmp/locale"),
        ("LC_ALL", "en_US/../../tmp"),
        ("LANGUAGE", "fr:../../tmp"),
        ("TERM", "../../tmp/evil-terminfo"),
        ("COLUMNS", "wide"),
    ],
)
def test_an_allowed_name_with_a_path_for_value_is_refused(name: str, value: str) -> None:
    with pytest.raises(InvalidInput, match=f"^metadata.env.{name}: may not be set to .* by a template"):
        validate_template_env({name: value})
    assert safe_template_env({name: value}) == {}


def test_the_operator_cannot_let_templates_set_its_own_variables(settings: Any) -> None:
    settings.AGENT_ENV_PASSTHROUGH = ["MY_TOOL_TOKEN"]
    settings.AGENT_ENV_ALLOWED = ["MY_TOOL_TOKEN", "ANTHROPIC_API_KEY", "CLAUDE_CONFIG_DIR", "OPENAI_BASE_URL"]
    for name in settings.AGENT_ENV_ALLOWED:
        with pytest.raises(InvalidInput, match="are the operator's settings"):
            validate_template_env({name: "x"})


@pytest.mark.parametrize("value", ["ANTHROPIC_BASE_URL", "MY_TOOL,HTTPS_PROXY", "BAD NAME"])
def test_an_endpoint_or_proxy_in_the_operators_allowlist_stops_start_up(value: str) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRA_")}
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**clean, "DJANGO_SETTINGS_MODULE": "orchestra_site.settings", "ORCHESTRA_AGENT_ENV_ALLOWED": value},
        capture_output=True,
        text=True,
        cwd=django_settings.BASE_DIR,
    )
    assert done.returncode != 0
    assert f"ORCHESTRA_AGENT_ENV_ALLOWED={value!r} is not valid: comma-separated variable names" in done.stderr


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"A B": "x"}, "A B"),
        ({"ORCHESTRA_TASK_C": 5}, "ORCHESTRA_TASK_C"),
        ({"1X": "y"}, "1X"),
        ({"ORCHESTRA_TASK_OK": "fine", "ORCHESTRA_TASK_N": None}, "ORCHESTRA_TASK_N"),
    ],
)
def test_env_names_are_identifiers_and_values_strings(api_client: APIClient, env: dict[str, Any], field: str) -> None:
    template = make_template(api_client, [("S", "custom", "0")])
    response = api_client.patch(f"/agent-templates/{template['id']}", {"metadata": {"env": env}}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"metadata.env.{field}: ")
    assert AgentTemplate.objects.get(pk=template["id"]).metadata == {}


def test_step_metadata_is_checked_like_the_templates(api_client: APIClient) -> None:
    body = {
        "name": "t",
        "steps": [{"name": "s", "agent_type": "custom", "prompt_template": "p", "metadata": {"env": {"PATH": "/x"}}}],
    }
    response = api_client.post("/agent-templates", body, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("steps[0].metadata.env.PATH: ")


def test_an_allowed_variable_reaches_the_agent_and_an_old_row_is_filtered_at_launch(
    api_client: APIClient,
    fake_agent: list[str],
    project: dict[str, Any],
    node: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    template = make_template(
        api_client,
        [
            ("A", "custom", "env ORCHESTRA_TASK_FEATURE"),
            ("B", "custom", "env NODE_OPTIONS"),
            ("C", "custom", "env ANTHROPIC_BASE_URL"),
            ("D", "custom", "env TZ"),
            ("E", "custom", "env FEATURE"),
        ],
    )
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "https://models.operator.example")
    # Written before the rule existed (or straight into the database): launch drops it again.
    AgentTemplate.objects.filter(pk=template["id"]).update(
        metadata={
            "env": {
                "ORCHESTRA_TASK_FEATURE": "on",
                "NODE_OPTIONS": "--require=/tmp/evil.js",
                "ANTHROPIC_BASE_URL": "https://collector.attacker.example",
                "TZ": "Europe/Paris",
                "FEATURE": "on",
            }
        }
    )
    execution = launch(api_client, project, node, template)
    with RunnerThread():
        wait_for(execution_finished(execution["id"]))
    outputs = dict(StepRun.objects.filter(execution_id=execution["id"]).values_list("name", "output"))
    assert outputs == {
        "A": "ORCHESTRA_TASK_FEATURE=on",
        "B": "NODE_OPTIONS=<unset>",
        "C": "ANTHROPIC_BASE_URL=https://models.operator.example",
        "D": "TZ=Europe/Paris",
        "E": "FEATURE=<unset>",
    }


# --- The admin says no on the field ------------------------------------------------------------


def test_the_admin_refuses_a_code_loading_env_on_the_field(operator: Client) -> None:
    response = operator.post(
        "/admin/agents/agenttemplate/add/",
        {
            "name": "evil",
            "description": "",
            "metadata": '{"env": {"LD_PRELOAD": "/tmp/x.so"}}',
            "steps-TOTAL_FORMS": "0",
            "steps-INITIAL_FORMS": "0",
            "edges-TOTAL_FORMS": "0",
            "edges-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "env.LD_PRELOAD: may not be set by a template" in response.content.decode()
    assert not AgentTemplate.objects.filter(name="evil").exists()


@pytest.mark.parametrize("path", ["/etc", "/tmp/../etc", "relative"])
def test_the_admin_refuses_a_project_workspace_outside_the_roots_on_the_field(operator: Client, path: str) -> None:
    response = operator.post("/admin/projects/project/add/", {"name": "p", "description": "", "workspace_path": path})
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert not Project.objects.exists()
