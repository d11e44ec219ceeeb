"""Landing an execution's branch: merge (merge, squash or rebase) onto the branch it started
from, push it to one of the operator's remotes, open a pull request with ``gh``.

All of it is plumbing in a clean room (``agents.git_cleanroom``): ``merge-tree --write-tree``,
``commit-tree``, then ``update-ref`` with the expected old value, so nothing moves unless every
step succeeded and the target is still where it was read. A target branch checked out in the
workspace is brought along by writing the changed files and the index directly (no checkout,
so no smudge filter); one with local changes is refused.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agents import events, git, git_cleanroom
from agents.git import GitRefused
from agents.git_cleanroom import CleanRoom
from agents.models import Execution, ExecutionStatus
from agents.services import attempts, worktrees
from agents.services.diffs import execution_for_git, repository_of
from orchestra_site.api.exceptions import InvalidInput, StateConflict
from projects.workspaces import hub_folders

logger = logging.getLogger(__name__)
STRATEGIES = ("merge", "squash", "rebase")
REMOTE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
PUSH_PROTOCOLS = "file:ssh:https"
GH_TIMEOUT = 120.0
# What ``git receive-pack`` is given for a local remote, over the remote's own config.
RECEIVE_PACK_OVERRIDES = (
    ("core.hooksPath", "/dev/null"),  # pre-receive, update, post-receive, push-to-checkout, proc-receive...
    ("core.fsmonitor", "false"),
    ("core.alternateRefsCommand", ""),  # run for each alternate (objects/info/alternates) when advertising
    ("core.alternateRefsPrefixes", ""),
    ("receive.denyCurrentBranch", "refuse"),  # updateInstead would check out (filters) into a work tree
    ("receive.denyDeleteCurrent", "refuse"),
    ("receive.autogc", "false"),  # git gc --auto after the receive
    ("gc.auto", "0"),
)


@dataclass(frozen=True)
class Landing:
    repository: git.Repository
    branch: str  # the execution's branch
    target: str  # the branch it started from


def landing_of(execution: Execution, *, action: str) -> Landing:
    """What ``action`` needs, or 409 saying why it cannot be done."""
    repository = repository_of(execution)
    if not execution.worktree_path or not execution.worktree_branch:
        raise StateConflict(
            f"Execution {execution.pk} ran in the project's workspace, not in a worktree and branch of its own, so"
            f" there is no branch to {action}; review its diff and commit it in the workspace yourself, or launch with"
            " create_worktree"
        )
    refuse_unlandable(execution, action=action)
    branch = git.validate_branch_name(execution.worktree_branch)
    target = execution.base_ref
    if not target:
        raise StateConflict(
            f"Execution {execution.pk} started from a detached HEAD: there is no branch to {action} onto."
        )
    if target == branch:
        raise StateConflict(f"Execution {execution.pk}'s branch is the branch it started from ({target}).")
    return Landing(repository=repository, branch=branch, target=git.validate_branch_name(target, field="base_ref"))


def refuse_unlandable(execution: Execution, *, action: str) -> None:
    """409 for an execution whose agent runs or will run (pending), one discarded, or one of a
    best-of-N group another attempt of which was landed already."""
    if execution.status == ExecutionStatus.RUNNING:
        raise StateConflict(f"Execution {execution.pk} is running; {action} it once it has finished.")
    if execution.status == ExecutionStatus.PENDING:
        raise StateConflict(
            f"Execution {execution.pk} is pending (a follow-up message is queued for its agent); {action} it once"
            " that has run."
        )
    if execution.status == ExecutionStatus.DISCARDED:
        raise StateConflict(
            f"Execution {execution.pk} was discarded (another attempt of its group was landed); its branch"
            f" {execution.worktree_branch} is kept, but the hub does not {action} it."
        )
    refuse_if_an_attempt_landed(execution, action=action)


def refuse_if_an_attempt_landed(execution: Execution, *, action: str) -> None:
    """409 when another attempt of ``execution``'s best-of-N group was merged or has a pull request."""
    if execution.attempt_group is None:
        return
    landed = (
        Execution.objects.filter(attempt_group=execution.attempt_group)
        .exclude(pk=execution.pk)
        .filter(Q(merged_at__isnull=False) | (Q(pull_request_url__isnull=False) & ~Q(pull_request_url="")))
        .order_by("id")
        .first()
    )
    if landed is not None:
        how = "merged" if landed.merged_at is not None else f"proposed in {landed.pull_request_url}"
        raise StateConflict(
            f"Another attempt of execution {execution.pk}'s group, execution {landed.pk}, was already {how}; the hub"
            f" does not {action} a second one."
        )


def leftovers(execution: Execution, landing: Landing, room: CleanRoom, *, why: str) -> git_cleanroom.WorkCommit | None:
    """The worktree's uncommitted work as a commit on top of the branch, not yet landed: what
    lands must be what the diff showed."""
    folder = worktrees.worktree_folder(execution)
    if folder is None:
        return None
    try:
        return git_cleanroom.work_commit(
            room,
            landing.repository,
            folder=folder,
            branch=landing.branch,
            message=f"Uncommitted work of execution {execution.pk}, committed before {why}",
        )
    except GitRefused as exc:
        raise StateConflict(f"The worktree's uncommitted work could not be committed: {exc.detail}") from None


def land_leftovers(pending: git_cleanroom.WorkCommit | None, landing: Landing, room: CleanRoom) -> None:
    if pending is not None and not pending.land(room, landing.repository, reason="uncommitted work"):
        raise StateConflict(f"The branch {landing.branch} moved meanwhile; nothing was changed. Try again.")


# --- Merge ---------------------------------------------------------------------------------------


def execution_merge(*, project_id: int, execution_id: int, strategy: str, message: str | None = None) -> dict[str, Any]:
    if strategy not in STRATEGIES:
        raise InvalidInput(f"strategy: must be one of {', '.join(STRATEGIES)}.")
    execution = execution_for_git(project_id=project_id, execution_id=execution_id)
    landing = landing_of(execution, action="merge")
    if execution.merged_at is not None:
        raise StateConflict(f"Execution {execution.pk} was already merged ({execution.merged_commit}).")
    with worktrees.repository_lock(landing.repository), git_cleanroom.clean_room(landing.repository) as room:
        # Read again under the lock: another attempt of the group may have landed meanwhile.
        current = execution_for_git(project_id=project_id, execution_id=execution_id)
        refuse_unlandable(current, action="merge")
        if current.merged_at is not None:
            raise StateConflict(f"Execution {execution.pk} was already merged ({current.merged_commit}).")
        pending = leftovers(execution, landing, room, why="merging")
        try:
            commit = merge_in_room(execution, landing, room, pending, strategy=strategy, message=message)
        except GitRefused as exc:  # git itself failed: a state of the repository, not the request
            raise StateConflict(f"The merge could not be done; nothing was changed: {exc.detail}") from None
    now = timezone.now()
    with transaction.atomic():
        updated = Execution.objects.filter(pk=execution.pk, merged_at__isnull=True).update(
            merged_commit=commit, merged_at=now, updated_at=now
        )
        if not updated:
            raise StateConflict(f"Execution {execution.pk} was merged by another request meanwhile.")
        execution.merged_commit, execution.merged_at = commit, now
        events.send_execution_updated(execution)
        result = {"target": landing.target, "commit": commit, "strategy": strategy}
        events.send_execution_merged(execution, result)
    attempts.discard_other_attempts(execution=execution)
    return result


def merge_in_room(
    execution: Execution,
    landing: Landing,
    room: CleanRoom,
    pending: git_cleanroom.WorkCommit | None,
    *,
    strategy: str,
    message: str | None,
) -> str:
    """Compute the merge, then move the refs (the execution's branch for its leftovers, then the
    target), each compare-and-set; the work tree follows last. Any refusal leaves all as it was."""
    repository = landing.repository
    target_ref = f"refs/heads/{landing.target}"
    target = git_cleanroom.rev_parse(repository, target_ref)
    head = pending.new if pending is not None else git_cleanroom.rev_parse(repository, f"refs/heads/{landing.branch}")
    if target is None:
        raise StateConflict(f"The target branch {landing.target} no longer exists; nothing was changed.")
    if head is None:
        raise StateConflict(f"The execution's branch {landing.branch} no longer exists; nothing was changed.")
    if git_cleanroom.is_ancestor(room, head, target):
        raise StateConflict(f"{landing.target} already contains every commit of {landing.branch}; nothing to merge.")
    checked_out = git_cleanroom.branches_checked_out(repository)
    if landing.target in checked_out:
        raise StateConflict(
            f"{landing.target} is checked out in the worktree {checked_out[landing.target]}; the hub updates only the"
            " workspace's own work tree. Check out another branch there first; nothing was changed."
        )
    in_workspace = git_cleanroom.head_branch(repository) == landing.target
    if in_workspace:
        refuse_local_changes(room, repository, target)
    title = execution_title(execution)
    if strategy == "merge":
        tree = merged_tree(room, target, head)
        new = git_cleanroom.commit_tree(
            room, tree=tree, parents=[target, head], message=message or f"Merge {landing.branch}: {title}"
        )
    elif strategy == "squash":
        tree = merged_tree(room, target, head)
        new = git_cleanroom.commit_tree(
            room, tree=tree, parents=[target], message=message or squash_message(room, target, head, title)
        )
    else:
        new = rebased(room, target, head)
    new_tree = git_cleanroom.tree_of(room, new)
    refuse_git_folders(room, git_cleanroom.tree_of(room, target), new_tree)
    if in_workspace:
        refuse_overwriting_untracked(room, repository, git_cleanroom.tree_of(room, target), new_tree)
    land_leftovers(pending, landing, room)
    if not git_cleanroom.update_ref(repository, target_ref, new, target, reason=f"{strategy} {landing.branch}"):
        if pending is not None:
            pending.undo(repository)
        raise StateConflict(f"{landing.target} moved while merging; nothing was changed. Try again.")
    if in_workspace:
        bring_work_tree_along(room, repository, git_cleanroom.tree_of(room, target), new_tree)
    return new


def merged_tree(room: CleanRoom, target: str, head: str) -> str:
    result = git_cleanroom.merge_trees(room, target, head)
    if result.tree is None:
        raise StateConflict(
            f"Merging conflicts in {len(result.conflicts)} file(s); nothing was changed.", conflicts=result.conflicts
        )
    return result.tree


def rebased(room: CleanRoom, target: str, head: str) -> str:
    """``head``'s commits since ``target`` replayed onto it, each keeping its author and message.

    Git 2.39's ``merge-tree`` takes no merge base, so each cherry-pick of C is the merge of C with
    a scratch commit (the tip's tree on C's parent): their merge base is C's parent, which is what
    a cherry-pick merges against."""
    if git_cleanroom.is_ancestor(room, target, head):
        return head  # the target did not move: a fast-forward
    commits = room.text("rev-list", "--reverse", "--topo-order", f"{target}..{head}").split()
    merges = room.text("rev-list", "--merges", f"{target}..{head}").split()
    if merges:
        raise StateConflict("The branch holds merge commits, which a rebase cannot replay; merge or squash instead.")
    tip = target
    for commit in commits:
        parent = room.text("rev-parse", "--verify", f"{commit}^")
        scratch = git_cleanroom.commit_tree(
            room, tree=git_cleanroom.tree_of(room, tip), parents=[parent], message="orchestra rebase scratch"
        )
        result = git_cleanroom.merge_trees(room, scratch, commit)
        if result.tree is None:
            raise StateConflict(
                f"Rebasing conflicts at commit {commit[:12]} in {len(result.conflicts)} file(s); nothing was changed.",
                conflicts=result.conflicts,
            )
        author = room.run("log", "-1", "--format=%an%x00%ae%x00%ad%x00%B", "--date=raw", commit).stdout.decode(
            "utf-8", "replace"
        )
        name, email, date, body = author.split("\0", 3)
        identity = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": date}
        tip = git_cleanroom.commit_tree(room, tree=result.tree, parents=[tip], message=body, env=identity)
    return tip


def squash_message(room: CleanRoom, target: str, head: str, title: str) -> str:
    subjects = room.text("log", "--reverse", "--format=* %s", f"{target}..{head}")
    return f"{title}\n\n{subjects}\n"


def execution_title(execution: Execution) -> str:
    if execution.node is not None:
        return f"{execution.node.title[:200]} (execution {execution.pk})"
    if execution.template is not None:
        return f"{execution.template.name[:200]} (execution {execution.pk})"
    return f"execution {execution.pk}"


def refuse_local_changes(room: CleanRoom, repository: git.Repository, target: str) -> None:
    """The workspace's tracked files must be as ``target`` has them, or the merge is refused."""
    target_tree = git_cleanroom.tree_of(room, target)
    now = git_cleanroom.snapshot_tree(room, folder=repository.work_tree, base=target, untracked=False)
    if now != target_tree:
        changed = [path for _, _, _, path in git_cleanroom.changed_paths(room, target_tree, now)]
        raise StateConflict(
            "The target branch is checked out in the workspace with local changes; commit or stash them first."
            " Nothing was changed.",
            conflicts=changed,
        )


def refuse_git_folders(room: CleanRoom, old: str, new: str) -> None:
    """A merge that would write a path inside a ``.git`` folder (a hook, a config) is refused."""
    inside = [
        path for _, _, _, path in git_cleanroom.changed_paths(room, old, new) if git_cleanroom.names_git_folder(path)
    ]
    if inside:
        raise StateConflict(
            f"The merge would write inside a .git folder ({inside[0]}), which git never checks out; nothing was"
            " changed.",
            conflicts=inside,
        )


def refuse_overwriting_untracked(room: CleanRoom, repository: git.Repository, old: str, new: str) -> None:
    root = os.open(repository.work_tree, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        changes = git_cleanroom.changed_paths(room, old, new)
        # A tracked folder the change empties and replaces by a file is not in the way.
        deleted_folders = {
            "/".join(path.split("/")[:depth])
            for status, _, _, path in changes
            if status == "D"
            for depth in range(1, path.count("/") + 1)
        }
        in_the_way = [
            path
            for status, _, _, path in changes
            if status == "A" and path not in deleted_folders and git_cleanroom.path_exists(root, path)
        ]
    finally:
        os.close(root)
    if in_the_way:
        raise StateConflict(
            "Untracked files in the workspace would be overwritten by the merge; move them away first. Nothing was"
            " changed.",
            conflicts=in_the_way,
        )


def bring_work_tree_along(room: CleanRoom, repository: git.Repository, old: str, new: str) -> None:
    """Write the files ``new`` changes against ``old`` into the workspace, then its index. The
    target has moved already: a file that cannot be written is logged (``git status`` there shows
    it), not turned into an error that would claim nothing happened."""
    try:
        git_cleanroom.apply_tree_change(room, folder=repository.work_tree, old=old, new=new)
    except (OSError, GitRefused) as exc:
        logger.warning("%s: the merge landed, but not every file could be written: %s", repository.work_tree, exc)
    git_cleanroom.write_index(room, tree=new, target=repository.git_dir / "index")


# --- Push and pull requests ----------------------------------------------------------------------


def validate_remote_name(value: object, *, field: str = "remote") -> str:
    if not isinstance(value, str) or not REMOTE_NAME.fullmatch(value) or ".." in value or value.endswith(".lock"):
        raise InvalidInput(
            f"{field}: must be the name of a remote configured in the repository (letters, digits, '.', '_', '-';"
            f" not a URL, not an option), got {value!r}."
        )
    return value


def remote_urls(repository: git.Repository, name: str) -> tuple[str, str]:
    """(fetch URL, push URL) the operator configured for the remote ``name``; 400 if none."""
    found = {}
    for key in ("url", "pushurl"):
        done = git.run_git(repository, "config", "--get", f"remote.{name}.{key}", check=False)
        found[key] = done.stdout.strip() if done.returncode == 0 else ""
    if not found["url"]:
        raise InvalidInput(f"remote: the repository has no remote named {name!r} (see git remote -v).")
    return found["url"], found["pushurl"] or found["url"]


def push_target(url: str) -> tuple[str, bool]:
    """(``url``, whether it is a folder on this machine) if the hub pushes there, else 409."""
    if url.startswith("-") or "::" in url or "\n" in url:
        raise StateConflict(f"The remote's URL {url!r} is not one the hub pushes to (ssh, https or a local path).")
    if url.startswith(("https://", "ssh://")):
        return url, False
    if re.fullmatch(r"[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^/\\].*", url):
        return url, False  # scp-like ssh: git@github.com:owner/repo.git
    local = url.removeprefix("file://")
    if not local.startswith("/"):
        raise StateConflict(f"The remote's URL {url!r} is not one the hub pushes to (ssh, https or a local path).")
    folder = Path(local).resolve()
    for own in [Path(settings.WORKTREES_DIR).resolve(), *hub_folders()]:
        if folder.is_relative_to(own):
            raise StateConflict(f"The remote {url!r} is inside the hub's own folders; the hub does not push there.")
    return str(folder), True


def refuse_unless_bare(room: CleanRoom, folder: Path, url: str) -> None:
    """A local remote must be a bare repository: receive-pack runs in it and reads its config,
    and only a bare one has no work tree for a push to write (``updateInstead``, filters).

    Mirrors where ``git receive-pack`` enters (``enter_repo`` tries ``folder/.git`` first, then the
    folder itself); its config file is read without following includes and runs nothing."""
    why = None
    if not folder.is_dir() or (folder / ".git").exists() or folder.name.lower() == ".git":
        why = "it is not a bare repository (it has a work tree, or is not a folder)"
    elif not ((folder / "HEAD").is_file() and (folder / "objects").is_dir() and (folder / "refs").is_dir()):
        why = "it is not a git repository"
    else:
        config = str(folder / "config")
        bare = room.run("config", "--file", config, "--bool", "--get", "core.bare", check=False)
        work_tree = room.run("config", "--file", config, "--get", "core.worktree", check=False)
        if bare.stdout.strip() != b"true" or work_tree.returncode != 1:
            why = "it is not a bare repository (core.bare is not true, or it names a core.worktree)"
    if why is not None:
        raise StateConflict(
            f"The remote {url!r} is a folder on this machine, and the hub pushes only to a bare repository there:"
            f" {why}. Push to a bare clone (git clone --bare) instead."
        )


def push_in_room(room: CleanRoom, *, url: str, local: bool, commit: str, branch: str) -> None:
    """Push ``commit`` to ``branch`` of ``url`` from the clean room: none of the repository's
    remote settings (``insteadOf``, ``receivepack``, helpers) exist there."""
    options = ["-c", "core.sshCommand=ssh", "-c", "credential.helper="]
    for helper in git.operator_credential_helpers():
        options += ["-c", f"credential.helper={helper}"]
    args = [*options, "push", "--porcelain", "--no-verify"]
    if local:
        # receive-pack runs in the remote and reads its config as the hub's user: every key known
        # to run a program or write a work tree during a receive is overridden.
        overrides = " ".join(f"-c {key}={value}" for key, value in RECEIVE_PACK_OVERRIDES)
        args.append(f"--receive-pack=git {overrides} receive-pack")
    env = {"GIT_ALLOW_PROTOCOL": PUSH_PROTOCOLS, "HOME": os.environ.get("HOME", os.devnull)}
    done = room.run(*args, "--", url, f"{commit}:refs/heads/{branch}", env=env, check=False)
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip() or done.stdout.decode(errors="replace").strip()
        raise StateConflict(f"The push was refused: {message[-2000:]}")


def execution_push(*, project_id: int, execution_id: int, remote: str = "origin") -> dict[str, Any]:
    remote = validate_remote_name(remote)
    execution = execution_for_git(project_id=project_id, execution_id=execution_id)
    landing = landing_of(execution, action="push")
    push_branch(execution, landing, remote)
    events.send_execution_updated(execution)
    return {"remote": remote, "branch": landing.branch}


def push_branch(execution: Execution, landing: Landing, remote: str) -> str:
    """Push the execution's branch to ``remote``; the remote's URL."""
    _, url = remote_urls(landing.repository, remote)
    target, local = push_target(url)
    with worktrees.repository_lock(landing.repository), git_cleanroom.clean_room(landing.repository) as room:
        if local:
            refuse_unless_bare(room, Path(target), url)
        land_leftovers(leftovers(execution, landing, room, why="pushing"), landing, room)
        commit = git_cleanroom.rev_parse(landing.repository, f"refs/heads/{landing.branch}")
        if commit is None:
            raise StateConflict(f"The execution's branch {landing.branch} no longer exists.")
        push_in_room(room, url=target, local=local, commit=commit, branch=landing.branch)
    return url


GITHUB_URL = re.compile(
    r"(?:https://github\.com/|git@github\.com:|ssh://git@github\.com/)([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?"
)


def github_repository(url: str) -> str | None:
    match = GITHUB_URL.fullmatch(url)
    return f"{match.group(1)}/{match.group(2)}" if match else None


def gh_environment() -> dict[str, str]:
    """The operator's environment for ``gh`` (its sign-in lives under HOME), without git's variables."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update({"GH_PROMPT_DISABLED": "1", "NO_COLOR": "1", "GH_NO_UPDATE_NOTIFIER": "1"})
    return env


def run_gh(gh: str, *args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="orchestra-gh-") as cwd:
        try:
            return subprocess.run(
                [gh, *args], cwd=cwd, env=gh_environment(), stdin=subprocess.DEVNULL, capture_output=True,
                text=True, errors="replace", timeout=GH_TIMEOUT,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise StateConflict(f"The GitHub CLI gh did not run: {exc}") from None


def execution_pull_request(
    *, project_id: int, execution_id: int, title: str | None = None, body: str | None = None, remote: str = "origin"
) -> dict[str, Any]:
    execution = execution_for_git(project_id=project_id, execution_id=execution_id)
    landing = landing_of(execution, action="open a pull request for")
    remote = validate_remote_name(remote)
    url, _ = remote_urls(landing.repository, remote)
    repo = github_repository(url)
    if repo is None:
        raise StateConflict(f"The remote {remote!r} ({url}) is not on GitHub; a pull request needs a GitHub remote.")
    gh = shutil.which("gh")
    if gh is None:
        raise StateConflict("The GitHub CLI gh is not installed on the hub's machine (not on its PATH).")
    if run_gh(gh, "auth", "status", "--hostname", "github.com").returncode != 0:
        raise StateConflict(
            "The GitHub CLI gh is not signed in on the hub's machine: run gh auth login as the operator."
        )
    push_branch(execution, landing, remote)
    with tempfile.NamedTemporaryFile("w", prefix="orchestra-pr-", suffix=".md") as body_file:
        body_file.write(body if body is not None else f"Work of {execution_title(execution)}, from Orchestra Hub.")
        body_file.flush()
        done = run_gh(
            gh, "pr", "create", f"--repo={repo}", f"--head={landing.branch}", f"--base={landing.target}",
            f"--title={title or execution_title(execution)}", f"--body-file={body_file.name}",
        )  # fmt: skip
    if done.returncode != 0:
        raise StateConflict(f"gh pr create failed: {(done.stderr or done.stdout).strip()[-2000:]}")
    links = [line.strip() for line in done.stdout.splitlines() if line.strip().startswith("https://")]
    if not links:
        raise StateConflict(f"gh pr create answered no pull request URL: {done.stdout.strip()[-500:]}")
    now = timezone.now()
    Execution.objects.filter(pk=execution.pk).update(pull_request_url=links[-1][:1024], updated_at=now)
    execution.pull_request_url = links[-1][:1024]
    events.send_execution_updated(execution)
    attempts.discard_other_attempts(execution=execution)
    return {"url": execution.pull_request_url}
