"""Every git command the hub runs, run so that git never starts a program a repository names.

A workspace repository is shaped by the agents that work in it: an agent that may only edit
files can write ``.git/hooks/post-checkout``, ``.git/config`` (``core.fsmonitor``,
``core.hooksPath``, ``filter.<x>.smudge``, ``include.path``, ...), ``.gitattributes``, or replace
``.git`` by a file pointing at another repository. Plain ``git -C workspace ...`` would then run
the agent's command as the hub user, outside any permission mode. So the hub's git goes through
``run_git`` only, on a repository that ``repository_open`` checked, and:

- runs from an argv list with an environment built from nothing: the hub's ``PATH``, ``LC_ALL=C``
  and git's own variables set here (no ``GIT_*`` of the hub's environment, so no
  ``GIT_EXEC_PATH``, ``GIT_CONFIG_PARAMETERS``, ``GIT_SSH_COMMAND``, askpass, ...). System and
  global configuration are ignored (``GIT_CONFIG_NOSYSTEM``, ``GIT_CONFIG_GLOBAL=/dev/null``),
  ``HOME`` is ``/dev/null`` (nothing can be planted under it), and nothing prompts.
- forces, with ``-c`` (the command line wins over every configuration file, and git passes these
  on to the git processes it starts itself, e.g. the checkout inside ``worktree add``), every
  setting that names a program git may run: hooks (``core.hooksPath=/dev/null``), fsmonitor,
  pager, editors, ssh command, askpass, credential helpers (the empty value clears the list),
  signing programs; no submodule recursion, no automatic gc, no network protocol at all, and no
  implicit bare repository.
- names the repository explicitly (``--git-dir=<workspace>/.git --work-tree=<workspace>``), so
  git never searches parent folders, and refuses a workspace whose ``.git`` is not a plain folder
  (a ``gitdir:`` file or a link pointing elsewhere), one with a ``commondir`` file (the same
  trick inside the folder), and a bare repository.

Git has no switch that turns filters or diff and merge drivers off: a driver is named in
``.gitattributes`` (which the agent writes) and defined in configuration. So nothing here lets
git read file contents in the repository: the commands that would (diff, commit, merge, push,
filling a new worktree) run in ``agents.git_cleanroom``, a hub-made git folder on the
repository's objects that never reads its configuration or attributes, and a worktree is made
with ``worktree add --no-checkout`` and filled from there. What runs here reads or moves refs
(``rev-parse``, ``symbolic-ref``, ``update-ref``, ``config --get``, ``worktree add|list|prune``),
which start no program but the hooks forced off above. ``repository_open`` additionally reads the
configuration (``git config --list --no-includes``, which runs nothing) and refuses a repository
that defines a program key (any key ending in ``smudge``, ``clean``, ``process``, ``textconv``,
``driver``, ``command``, ``cmd``, ``program``, ``hook``, ``uploadpack``, ``receivepack`` or
``gitproxy``, ``diff.external``, and any ``include.*`` / ``includeIf.*``), naming the key and how
to remove it: defence in depth, since a key written after that check no longer reaches a command
that would run it. ``git`` itself is found on the hub's ``PATH``, like the agent CLIs.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from orchestra_site.api.exceptions import InvalidInput

GIT_TIMEOUT_SECONDS = 300.0
# Reading a repository's own files is quick; longer means a planted FIFO or the like.
CHECK_TIMEOUT_SECONDS = 30.0

# Read last by git, so these beat anything in a repository's own configuration.
FORCED_CONFIG = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.pager=cat",
    "core.editor=true",
    "sequence.editor=true",
    "core.askPass=",
    "credential.helper=",
    "core.sshCommand=false",
    "core.attributesFile=/dev/null",
    "core.excludesFile=/dev/null",
    "protocol.allow=never",
    "safe.bareRepository=explicit",
    "submodule.recurse=false",
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "log.showSignature=false",
    "merge.verifySignatures=false",
    "gc.auto=0",
    "maintenance.auto=false",
)

# The last part of a configuration key that names a program git would run.
PROGRAM_KEY_ENDINGS = (
    "smudge",
    "clean",
    "process",
    "textconv",
    "driver",
    "command",
    "cmd",
    "program",
    "hook",
    "uploadpack",
    "receivepack",
    "gitproxy",
)
PROGRAM_KEYS = frozenset({"diff.external"})
INCLUDE_SECTIONS = frozenset({"include", "includeif"})


class GitRefused(InvalidInput):
    """A repository the hub's git will not work in, or a git command that failed."""


@dataclasses.dataclass(frozen=True)
class Repository:
    """A workspace repository that ``repository_open`` checked: ``<work_tree>/.git`` is its folder."""

    work_tree: Path
    git_dir: Path


def git_environment() -> dict[str, str]:
    """The whole environment of the hub's git: nothing of the hub's but ``PATH``."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "LC_ALL": "C",
        "HOME": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_OPTIONAL_LOCKS": "0",
        "GIT_NO_REPLACE_OBJECTS": "1",
        "GIT_PAGER": "cat",
        "GIT_EDITOR": "true",
        "GIT_ALLOW_PROTOCOL": "",
    }


def git_argv(*args: str, repository: Repository | None = None) -> list[str]:
    """``git``, the forced settings, the repository named explicitly, then ``args``."""
    argv = ["git", "--no-pager"]
    for setting in FORCED_CONFIG:
        argv += ["-c", setting]
    if repository is not None:
        argv += [f"--git-dir={repository.git_dir}", f"--work-tree={repository.work_tree}"]
    return [*argv, *args]


def start_git(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    input: bytes | None = None,
    pass_fds: Sequence[int] = (),
    timeout: float = GIT_TIMEOUT_SECONDS,
) -> subprocess.CompletedProcess[bytes]:
    """The one place the hub starts a git process (``run_git``, the clean room and the operator's
    credential helpers all come here); output as bytes. A timeout or a git that cannot start
    raises ``GitRefused``."""
    command = next((arg for arg in argv[1:] if not arg.startswith("-") and "=" not in arg), "")
    try:
        return subprocess.run(
            argv,
            cwd=cwd,
            env=env,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            pass_fds=tuple(pass_fds),
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise GitRefused(f"git {command} did not finish in {timeout:g} s") from None
    except OSError as exc:
        raise GitRefused(f"git cannot run here ({exc.strerror or exc})") from None


def operator_credential_helpers() -> list[str]:
    """The credential helpers of the operator's own (global) git configuration, read with the
    operator's ``HOME`` and nothing else of the hub's environment."""
    home = os.environ.get("HOME", "")
    if not home:
        return []
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": home, "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"}
    try:
        done = start_git(["git", "config", "--global", "--get-all", "credential.helper"], cwd=Path(home), env=env)
    except GitRefused:
        return []
    return [line for line in done.stdout.decode(errors="replace").splitlines() if line]


def run_git(
    repository: Repository, *args: str, check: bool = True, timeout: float = GIT_TIMEOUT_SECONDS
) -> subprocess.CompletedProcess[str]:
    """Run ``git args`` in ``repository`` (see the module docstring for what is forced).

    ``args`` must not come from a client unchecked: put ``--`` before paths and validate refs
    (``validate_branch_name``). With ``check``, a non-zero exit raises ``GitRefused`` with git's
    message. Commands that show diffs should pass ``--no-ext-diff --no-textconv`` as well.
    """
    command = next((arg for arg in args if not arg.startswith("-")), "")
    started = start_git(
        git_argv(*args, repository=repository), cwd=repository.work_tree, env=git_environment(), timeout=timeout
    )
    done = subprocess.CompletedProcess(
        started.args,
        started.returncode,
        started.stdout.decode(errors="replace"),
        started.stderr.decode(errors="replace"),
    )
    if check and done.returncode != 0:
        raise GitRefused(f"git {command} failed: {done.stderr.strip() or f'exit code {done.returncode}'}")
    return done


# Files of a .git folder that git reads as plain files; an agent can replace any of them.
PLAIN_FILES = (
    "HEAD", "config", "config.worktree", "index", "packed-refs", "shallow", "objects/info/alternates",
    "objects/info/http-alternates", "info/attributes", "info/exclude", "info/grafts",
)  # fmt: skip


def repository_open(work_tree: Path) -> Repository:
    """``work_tree`` as a repository the hub's git may work in, or ``GitRefused`` saying why."""
    repository = repository_locate(work_tree)
    for scope, key, value in repository_config(repository):
        reason = _refused_config(key, value)
        if reason is not None:
            option = "--worktree" if scope == "worktree" else "--local"
            raise GitRefused(
                f"{repository.work_tree}: its git configuration sets {key} ({scope}), {reason}; the hub's git refuses"
                f" such a repository. Remove it with `git -C {repository.work_tree} config {option} --unset-all {key}`"
            )
    return repository


def repository_locate(work_tree: Path) -> Repository:
    """``work_tree``'s repository, its ``.git`` checked to be a plain folder inside it, its
    configuration not read: for ``agents.git_cleanroom``, whose commands never read it."""
    work_tree = Path(work_tree).resolve()
    git_dir = work_tree / ".git"
    if git_dir.is_symlink() or git_dir.is_file():
        raise GitRefused(
            f"{work_tree}/.git is a link or a file pointing to another repository; the hub works only in a"
            " repository whose .git folder is inside the workspace"
        )
    if not git_dir.is_dir():
        raise GitRefused(f"{work_tree} is not a git repository (no .git folder; bare repositories are refused)")
    if (git_dir / "commondir").exists():
        raise GitRefused(f"{git_dir} has a commondir file pointing to another repository; refused")
    for name in PLAIN_FILES:
        path = git_dir / name
        if (path.exists() or path.is_symlink()) and (path.is_symlink() or not path.is_file()):
            # A FIFO here would hold git (and every worktree waiting behind it) until its timeout.
            raise GitRefused(f"{path} is not a plain file (a link, a pipe or a folder); refused")
    if (git_dir / "objects").is_symlink():
        raise GitRefused(f"{git_dir}/objects is a link to another folder; refused")
    repository = Repository(work_tree=work_tree, git_dir=git_dir)
    if run_git(repository, "rev-parse", "--git-dir", check=False, timeout=CHECK_TIMEOUT_SECONDS).returncode != 0:
        raise GitRefused(f"{work_tree} is not a git repository (.git is not a valid git folder)")
    return repository


def repository_config(repository: Repository) -> list[tuple[str, str, str]]:
    """The repository's own configuration as (scope, key, value), include files not followed.

    Keys come lower-cased by git except a subsection (``filter.MyDriver.smudge``).
    """
    done = run_git(repository, "config", "--list", "--show-scope", "--no-includes", "-z", timeout=CHECK_TIMEOUT_SECONDS)
    entries = []
    fields = done.stdout.split("\0")
    for scope, pair in zip(fields[0::2], fields[1::2], strict=False):
        key, _, value = pair.partition("\n")
        if scope in ("local", "worktree"):
            entries.append((scope, key, value))
    return entries


def _refused_config(key: str, value: str) -> str | None:
    section, _, rest = key.partition(".")
    name = rest.rpartition(".")[2].lower()
    if section.lower() in INCLUDE_SECTIONS:
        return "which reads another configuration file that cannot be checked beforehand"
    if key.lower() in PROGRAM_KEYS or name.endswith(PROGRAM_KEY_ENDINGS):
        return "which names a program git would run"
    if key.lower() == "core.bare" and value.lower() in ("true", "yes", "on", "1"):
        return "which makes it a bare repository"
    return None


def validate_branch_name(name: object, *, field: str = "worktree_branch") -> str:
    """``name`` if git accepts it as a branch name and it cannot be read as an option."""
    if not isinstance(name, str) or not name or len(name) > 255:
        raise InvalidInput(f"{field}: must be a branch name of 1 to 255 characters.")
    if name.startswith("-"):
        raise InvalidInput(f"{field}: a branch name may not start with '-', got {name!r}.")
    if "@{" in name or "\x00" in name:
        raise InvalidInput(f"{field}: {name!r} is not a valid git branch name.")
    argv = git_argv("check-ref-format", "--branch", name)
    done = start_git(argv, cwd=Path("/"), env=git_environment(), timeout=CHECK_TIMEOUT_SECONDS)
    if done.returncode != 0 or done.stdout.decode(errors="replace").strip() != name:
        raise InvalidInput(f"{field}: {name!r} is not a valid git branch name (git check-ref-format --branch).")
    return name


def create_worktree(*, repository: Path, path: Path, branch: str, start: str | None = None) -> None:
    """A worktree of the workspace ``repository`` at ``path`` on ``branch`` (created from the
    commit ``start``, else HEAD, if new).

    ``worktree add --no-checkout`` makes the branch and git's bookkeeping; the files and the index
    are then written by the hub from the commit's tree (``agents.git_cleanroom``), so no smudge
    filter runs whatever the configuration says by then."""
    from agents import git_cleanroom  # it builds on this module

    try:
        validate_branch_name(branch)
        repo = repository_open(repository)
        path.parent.mkdir(parents=True, exist_ok=True)
        exists = run_git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False)
        if exists.returncode == 0:
            run_git(repo, "worktree", "add", "--no-checkout", "--", str(path), branch)
        else:
            run_git(
                repo, "worktree", "add", "--no-checkout", "-b", branch, "--", str(path), *([start] if start else [])
            )
        git_cleanroom.populate_worktree(repo, folder=path.resolve(), branch=branch)
    except InvalidInput as exc:
        raise InvalidInput(f"create_worktree: {exc.detail}") from None
