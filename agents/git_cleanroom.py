"""Git on a workspace's objects without its configuration, attributes or hooks: the clean room.

An agent can rewrite ``.git/config``, ``.git/info/attributes`` and every ``.gitattributes`` at any
moment, so checking them and then running git is racy. The review and landing commands (diff,
commit after a step, merge, push) therefore never run git *in* the workspace repository. Each
runs in a **clean room**: an empty git folder the hub makes in a temporary directory, with its own
two-line configuration, no hooks, no attributes, no index, and no work tree, that borrows the
repository's object store through ``GIT_OBJECT_DIRECTORY``. Git reads configuration only from
the folder it runs in (system and global files are off, see ``agents.git``), so no filter, diff or
merge driver, textconv, fsmonitor, hook, ssh command, credential helper, ``insteadOf``,
``receivepack`` or remote helper that the repository defines exists there, whatever the agent
writes and whenever. In that room:

- the agent's files are read by the hub itself (``snapshot_tree``): each path is opened component
  by component with ``O_NOFOLLOW`` (a link in the middle of a path counts as the file being
  gone, as git itself would say), checked to be a regular file, and handed to
  ``git hash-object -w --no-filters --stdin-paths`` as ``/dev/fd/N``, the very file the hub
  checked; links are stored as links. The blobs go into a temporary index
  (``GIT_INDEX_FILE``), and ``write-tree`` makes the tree. Nothing in the work tree runs.
- diffs are tree-to-tree (``diff-tree --no-ext-diff --no-textconv``), merges are
  ``merge-tree --write-tree`` on commit ids, commits are ``commit-tree`` with the hub's identity.

Only reading and moving references touches the repository itself (``rev-parse``,
``symbolic-ref``, ``update-ref`` with the expected old value), through ``agents.git.run_git``,
whose forced settings turn off the only programs those commands could start (hooks).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from agents import git
from agents.git import GitRefused, Repository

# What a path that is no longer there (or passes through a link or a file) fails with.
GONE = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ENXIO})
FD_BATCH = 256  # files handed to one hash-object at once (each is an open descriptor)
HUB_IDENTITY = {
    "GIT_AUTHOR_NAME": "Orchestra Hub",
    "GIT_AUTHOR_EMAIL": "hub@orchestra.invalid",
    "GIT_COMMITTER_NAME": "Orchestra Hub",
    "GIT_COMMITTER_EMAIL": "hub@orchestra.invalid",
}
ZERO_TIMESTAMP = "@0 +0000"


@dataclasses.dataclass(frozen=True)
class CleanRoom:
    """A hub-made git folder at ``path`` on the object store ``objects`` of a repository."""

    path: Path
    objects: Path

    def run(
        self,
        *args: str,
        input: bytes | None = None,
        index: Path | None = None,
        env: dict[str, str] | None = None,
        pass_fds: Sequence[int] = (),
        check: bool = True,
        timeout: float = git.GIT_TIMEOUT_SECONDS,
    ) -> subprocess.CompletedProcess[bytes]:
        """``git args`` in the room; output as bytes. ``check``: a non-zero exit raises ``GitRefused``."""
        environment = {
            **git.git_environment(),
            "GIT_DIR": str(self.path),
            "GIT_OBJECT_DIRECTORY": str(self.objects),
            "GIT_LITERAL_PATHSPECS": "1",
            **HUB_IDENTITY,
            **(env or {}),
        }
        if index is not None:
            environment["GIT_INDEX_FILE"] = str(index)
        command = next((arg for arg in args if not arg.startswith("-")), "")
        done = git.start_git(
            git.git_argv(*args), cwd=self.path, env=environment, input=input, pass_fds=pass_fds, timeout=timeout
        )
        if check and done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip() or f"exit code {done.returncode}"
            raise GitRefused(f"git {command} failed: {message}")
        return done

    def text(self, *args: str, **kwargs: object) -> str:
        return self.run(*args, **kwargs).stdout.decode(errors="replace").strip()  # type: ignore[arg-type]


@contextlib.contextmanager
def clean_room(repository: Repository) -> Iterator[CleanRoom]:
    """A clean room on ``repository``'s objects, removed on exit."""
    objects = repository.git_dir / "objects"
    if objects.is_symlink() or not objects.is_dir():
        raise GitRefused(f"{objects} is not a plain folder; refused")
    object_format = git.run_git(repository, "rev-parse", "--show-object-format").stdout.strip() or "sha1"
    if object_format not in ("sha1", "sha256"):
        raise GitRefused(f"{repository.work_tree}: unknown object format {object_format!r}")
    with tempfile.TemporaryDirectory(prefix="orchestra-git-") as folder:
        room = Path(folder) / "room.git"
        (room / "refs").mkdir(parents=True)
        (room / "objects").mkdir()
        (room / "HEAD").write_text("ref: refs/heads/orchestra-clean-room\n")
        version, extensions = (
            ("1", f"[extensions]\n\tobjectFormat = {object_format}\n") if object_format == "sha256" else ("0", "")
        )
        (room / "config").write_text(f"[core]\n\trepositoryformatversion = {version}\n\tbare = true\n{extensions}")
        yield CleanRoom(path=room, objects=objects)


# --- The agent's files as a tree --------------------------------------------------------------


def names_git_folder(path: str) -> bool:
    """Whether a component of ``path`` is git's own folder as some file system reads it: ``.git``
    in any case, with trailing dots or spaces (NTFS), or its 8.3 short name ``git~1``."""
    for part in path.split("/"):
        lowered = part.lower()
        if lowered.rstrip(". ") == ".git" or lowered == "git~1":
            return True
    return False


def open_parent(root_fd: int, path: str) -> int | None:
    """The folder holding ``path`` under ``root_fd``, each component opened without following
    links; None when a component is gone, a link or not a folder. The caller closes it."""
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return None
    folder = os.dup(root_fd)
    try:
        for part in parts[:-1]:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
            os.close(folder)
            folder = inner
    except OSError as exc:
        os.close(folder)
        if exc.errno in GONE:
            return None
        raise GitRefused(f"cannot read the folder of {path} in the work tree: {exc.strerror}") from None
    return folder


@dataclasses.dataclass
class _Entry:
    path: str
    mode: str
    sha: str = ""
    fd: int = -1
    link: bytes | None = None


def _entry_of(root_fd: int, path: str) -> _Entry | None:
    """What the work tree holds at ``path`` now: a regular file (opened), a link, or nothing."""
    folder = open_parent(root_fd, path)
    if folder is None:
        return None
    name = path.rsplit("/", 1)[-1]
    try:
        info = os.lstat(name, dir_fd=folder)
        if stat.S_ISLNK(info.st_mode):
            return _Entry(path=path, mode="120000", link=os.readlink(name.encode(), dir_fd=folder))
        if not stat.S_ISREG(info.st_mode):
            return None
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # swapped since the lstat
            os.close(fd)
            return None
        return _Entry(path=path, mode="100755" if info.st_mode & stat.S_IXUSR else "100644", fd=fd)
    except OSError as exc:
        if exc.errno in GONE:
            return None
        # Unreadable is not gone: say so rather than record the file as deleted.
        raise GitRefused(f"cannot read {path} in the work tree: {exc.strerror}") from None
    finally:
        os.close(folder)


def _hash_entries(room: CleanRoom, entries: list[_Entry], scratch: Path) -> None:
    """Store each entry's blob (``hash-object -w --no-filters``) and set its ``sha``."""
    for start in range(0, len(entries), FD_BATCH):
        batch = entries[start : start + FD_BATCH]
        names: list[str] = []
        for entry in batch:
            if entry.link is not None:
                target = scratch / f"link-{os.urandom(8).hex()}"
                target.write_bytes(entry.link)
                names.append(str(target))
            else:
                names.append(f"/dev/fd/{entry.fd}")
        fds = [entry.fd for entry in batch if entry.fd >= 0]
        try:
            out = room.run(
                "hash-object", "-w", "--no-filters", "--stdin-paths", input="\n".join(names).encode() + b"\n",
                pass_fds=fds,
            )  # fmt: skip
        finally:
            for fd in fds:
                os.close(fd)
            for entry in batch:
                entry.fd = -1
        for entry, sha in zip(batch, out.stdout.decode().split(), strict=True):
            entry.sha = sha


def _index_lines(entries: Sequence[tuple[str, str, str]]) -> bytes:
    return b"".join(f"{mode} {sha}\t{path}".encode() + b"\0" for mode, sha, path in entries)


def snapshot_tree(room: CleanRoom, *, folder: Path, base: str, untracked: bool = True) -> str:
    """The tree of ``folder`` as it is now, against the commit or tree ``base``.

    Tracked paths of ``base`` and untracked paths ``.gitignore`` does not exclude are read as
    the module docstring says; a path that is gone (or reached through a link) is deleted;
    submodules keep ``base``'s entry; nested repositories the agent made are left out.
    """
    scratch = Path(tempfile.mkdtemp(prefix="snapshot-", dir=room.path))
    base_index = scratch / "base.index"
    room.run("read-tree", base, index=base_index)
    listing = room.run(
        f"--work-tree={folder}", "ls-files", "-z", "--stage", index=base_index
    ).stdout.split(b"\0")  # fmt: skip
    gitlinks: dict[str, tuple[str, str, str]] = {}
    paths: list[str] = []
    for line in listing:
        if not line:
            continue
        meta, _, name = line.decode("utf-8", "surrogateescape").partition("\t")
        mode, sha, _ = meta.split(" ")
        if mode == "160000":
            gitlinks[name] = (mode, sha, name)
        else:
            paths.append(name)
    others = room.run(
        f"--work-tree={folder}", "ls-files", "-z", "--others", "--exclude-standard", index=base_index
    ).stdout.split(b"\0") if untracked else []  # fmt: skip
    paths += [name.decode("utf-8", "surrogateescape") for name in others if name and not name.endswith(b"/")]
    root_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    entries: list[_Entry] = []
    try:
        ordered = sorted(set(paths))
        for start in range(0, len(ordered), FD_BATCH):  # at most FD_BATCH files open at once
            batch: list[_Entry] = []
            try:
                for path in ordered[start : start + FD_BATCH]:
                    entry = _entry_of(root_fd, path)
                    if entry is not None:
                        batch.append(entry)
                _hash_entries(room, batch, scratch)
            finally:
                for entry in batch:
                    if entry.fd >= 0:
                        os.close(entry.fd)
                        entry.fd = -1
            entries += batch
    finally:
        os.close(root_fd)
    index = scratch / "tree.index"
    lines = [(entry.mode, entry.sha, entry.path) for entry in entries] + list(gitlinks.values())
    room.run("update-index", "--add", "-z", "--index-info", input=_index_lines(lines), index=index)
    return room.text("write-tree", index=index)


def write_index(room: CleanRoom, *, tree: str, target: Path) -> None:
    """Replace the index file ``target`` by one holding ``tree`` (no stat data: git rereads the
    files once), written beside it and renamed over it."""
    folder = target.parent
    if folder.is_symlink() or not folder.is_dir() or target.is_symlink():
        raise GitRefused(f"{target} is not a plain file in a plain folder; refused")
    scratch = folder / f"index.orchestra-{os.getpid()}"
    scratch.unlink(missing_ok=True)
    try:
        room.run("read-tree", tree, index=scratch)
        os.replace(scratch, target)
    finally:
        scratch.unlink(missing_ok=True)


# --- Trees and commits -------------------------------------------------------------------------


def tree_of(room: CleanRoom, commit: str) -> str:
    return room.text("rev-parse", "--verify", "--end-of-options", f"{commit}^{{tree}}")


def commit_tree(
    room: CleanRoom, *, tree: str, parents: Sequence[str], message: str, env: dict[str, str] | None = None
) -> str:
    """A commit of ``tree`` on ``parents`` by the hub (or the identity in ``env``)."""
    args = ["commit-tree", tree]
    for parent in parents:
        args += ["-p", parent]
    return room.text(*args, "-F", "-", input=message.encode(), env=env)


@dataclasses.dataclass(frozen=True)
class MergeResult:
    tree: str | None  # None: conflicts
    conflicts: list[str]


def merge_trees(room: CleanRoom, ours: str, theirs: str) -> MergeResult:
    """The three-way merge of two commits (merge base from history), as a tree or conflicts."""
    done = room.run("merge-tree", "--write-tree", "-z", "--name-only", "--no-messages", ours, theirs, check=False)
    if done.returncode not in (0, 1):
        raise GitRefused(f"git merge-tree failed: {done.stderr.decode(errors='replace').strip()}")
    fields = done.stdout.split(b"\0")
    tree = fields[0].decode().strip()
    if done.returncode == 0:
        return MergeResult(tree=tree, conflicts=[])
    conflicts: list[str] = []
    for field in fields[1:]:
        if not field:
            break  # the empty field ends the list of conflicted files; messages follow
        name = field.decode("utf-8", "replace")
        if name not in conflicts:
            conflicts.append(name)
    return MergeResult(tree=None, conflicts=conflicts)


def is_ancestor(room: CleanRoom, ancestor: str, descendant: str) -> bool:
    return room.run("merge-base", "--is-ancestor", ancestor, descendant, check=False).returncode == 0


def changed_paths(room: CleanRoom, old: str, new: str) -> list[tuple[str, str, str, str]]:
    """(status, new mode, new blob, path) of every path ``new`` changes against ``old``, no renames."""
    out = room.run("diff-tree", "-r", "-z", "--no-renames", "--no-ext-diff", "--no-textconv", old, new).stdout
    fields = out.split(b"\0")
    changes = []
    for meta, name in zip(fields[0::2], fields[1::2], strict=False):
        if not meta:
            continue
        _old_mode, new_mode, _old_sha, new_sha, status = meta.decode().lstrip(":").split(" ")
        changes.append((status[0], new_mode, new_sha, name.decode("utf-8", "surrogateescape")))
    return changes


# --- The repository's references (the only commands run in the repository itself) ------------


def rev_parse(repository: Repository, ref: str) -> str | None:
    """The commit ``ref`` (a full ref name or a commit id) names, or None."""
    done = git.run_git(
        repository, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False
    )
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def head_branch(repository: Repository) -> str | None:
    """The branch the repository's own work tree has checked out (None: detached or unborn)."""
    done = git.run_git(repository, "symbolic-ref", "-q", "HEAD", check=False)
    name = done.stdout.strip()
    return name.removeprefix("refs/heads/") if done.returncode == 0 and name.startswith("refs/heads/") else None


def update_ref(repository: Repository, ref: str, new: str, old: str, *, reason: str) -> bool:
    """Move ``ref`` to ``new`` only if it still names ``old`` (compare-and-set); False if it moved."""
    done = git.run_git(repository, "update-ref", "-m", f"orchestra: {reason}", ref, new, old, check=False)
    return done.returncode == 0


def linked_worktree_folder(repository: Repository, folder: Path) -> Path | None:
    """The folder in ``.git/worktrees`` git keeps for the linked worktree at ``folder``."""
    root = repository.git_dir / "worktrees"
    if root.is_symlink() or not root.is_dir():
        return None
    wanted = str(folder / ".git")
    for admin in root.iterdir():
        gitdir = admin / "gitdir"
        if admin.is_symlink() or gitdir.is_symlink() or not gitdir.is_file():
            continue
        if gitdir.read_text(errors="replace").strip() == wanted:
            return admin
    return None


def branches_checked_out(repository: Repository) -> dict[str, Path]:
    """Each branch checked out in a linked worktree, with that worktree's folder."""
    done = git.run_git(repository, "worktree", "list", "--porcelain", "-z", check=False)
    found: dict[str, Path] = {}
    folder: Path | None = None
    for field in done.stdout.split("\0"):
        if field.startswith("worktree "):
            folder = Path(field.removeprefix("worktree "))
        elif field.startswith("branch refs/heads/") and folder is not None and folder != repository.work_tree:
            found[field.removeprefix("branch refs/heads/")] = folder
    return found


@dataclasses.dataclass(frozen=True)
class WorkCommit:
    """A commit of a worktree's files made but not yet on its branch (``land`` puts it there)."""

    ref: str
    old: str
    new: str
    tree: str
    folder: Path

    def land(self, room: CleanRoom, repository: Repository, *, reason: str) -> bool:
        """Move the branch (compare-and-set) and the worktree's index; False if the branch moved."""
        if not update_ref(repository, self.ref, self.new, self.old, reason=reason):
            return False
        admin = linked_worktree_folder(repository, self.folder)
        if admin is not None:
            write_index(room, tree=self.tree, target=admin / "index")
        return True

    def undo(self, repository: Repository) -> None:
        update_ref(repository, self.ref, self.old, self.new, reason="undone: the merge did not land")


def work_commit(
    room: CleanRoom, repository: Repository, *, folder: Path, branch: str, message: str
) -> WorkCommit | None:
    """A commit of what ``folder`` (a worktree on ``branch``) holds on top of the branch, made
    with the hub's plumbing and not yet landed; None when nothing changed."""
    ref = f"refs/heads/{branch}"
    head = rev_parse(repository, ref)
    if head is None:
        raise GitRefused(f"the branch {branch} does not exist")
    tree = snapshot_tree(room, folder=folder, base=head)
    if tree == tree_of(room, head):
        return None
    commit = commit_tree(room, tree=tree, parents=[head], message=message)
    return WorkCommit(ref=ref, old=head, new=commit, tree=tree, folder=folder)


def commit_work(room: CleanRoom, repository: Repository, *, folder: Path, branch: str, message: str) -> str | None:
    """Commit what ``folder`` holds on its branch now: the new commit, or None when nothing
    changed. The worktree's index is rewritten to the new tree, so ``git status`` there shows a
    clean tree. ``GitRefused`` if the branch moved meanwhile."""
    pending = work_commit(room, repository, folder=folder, branch=branch, message=message)
    if pending is None:
        return None
    if not pending.land(room, repository, reason=message.splitlines()[0]):
        raise GitRefused(f"the branch {branch} moved while its work was being committed")
    return pending.new


def disk_bytes(folder: Path) -> int:
    """Bytes on disk under ``folder``, links not followed."""
    total = 0
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in [*dirs, *files]:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


def path_exists(root_fd: int, path: str) -> bool:
    """Whether anything (a link included) is at ``path`` under ``root_fd``."""
    folder = open_parent(root_fd, path)
    if folder is None:
        return False
    try:
        os.lstat(path.rsplit("/", 1)[-1], dir_fd=folder)
        return True
    except OSError:
        return False
    finally:
        os.close(folder)


def _make_parent(root_fd: int, path: str) -> int:
    """The folder for ``path`` under ``root_fd``, made as needed, never through a link."""
    folder = os.dup(root_fd)
    if names_git_folder(path):
        os.close(folder)
        raise GitRefused(f"refused to write {path!r}: it is inside a .git folder")
    for part in path.split("/")[:-1]:
        if part in ("", ".", ".."):
            os.close(folder)
            raise GitRefused(f"refused to write {path!r}")
        try:
            os.mkdir(part, 0o777, dir_fd=folder)
        except FileExistsError:
            pass
        try:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
        except OSError as exc:
            os.close(folder)
            raise GitRefused(f"cannot write {path}: {part} is not a folder ({exc.strerror})") from None
        os.close(folder)
        folder = inner
    return folder


def apply_tree_change(room: CleanRoom, *, folder: Path, old: str, new: str) -> None:
    """Make the files of ``folder`` that ``new`` changes against ``old`` what ``new`` holds: blobs
    are written by the hub (no checkout, so no smudge filter), each through a temporary name
    renamed into place, never through a link."""
    changes = sorted(changed_paths(room, old, new), key=lambda change: change[0] != "D")  # deletions first
    wanted = [sha for status, mode, sha, _ in changes if status != "D" and mode != "160000"]
    blobs = _blobs(room, wanted)
    root = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for status, mode, sha, path in changes:
            if mode == "160000":
                continue
            name = path.rsplit("/", 1)[-1]
            if status == "D":
                parent = open_parent(root, path)
                if parent is not None:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(name, dir_fd=parent)
                    os.close(parent)
                _remove_empty_folders(root, path)
                continue
            parent = _make_parent(root, path)
            scratch = f".{name}.orchestra-{os.getpid()}"
            try:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(scratch, dir_fd=parent)
                if mode == "120000":
                    os.symlink(blobs[sha], scratch, dir_fd=parent)
                else:
                    fd = os.open(
                        scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                        0o755 if mode == "100755" else 0o644, dir_fd=parent,
                    )  # fmt: skip
                    with os.fdopen(fd, "wb") as out:
                        out.write(blobs[sha])
                os.replace(scratch, name, src_dir_fd=parent, dst_dir_fd=parent)
            finally:
                os.close(parent)
    finally:
        os.close(root)


def _remove_empty_folders(root_fd: int, path: str) -> None:
    """The folders of a deleted ``path`` that are now empty go too, deepest first, as git does."""
    parts = path.split("/")[:-1]
    while parts:
        folder = "/".join(parts)
        parent = open_parent(root_fd, folder)
        if parent is None:
            return
        try:
            os.rmdir(parts[-1], dir_fd=parent)
        except OSError:
            return  # not empty (or not a folder): the ones above are not either
        finally:
            os.close(parent)
        parts.pop()


def _blobs(room: CleanRoom, shas: list[str]) -> dict[str, bytes]:
    """The contents of blobs, read with one ``cat-file --batch``."""
    if not shas:
        return {}
    out = room.run("cat-file", "--batch", input="\n".join(shas).encode() + b"\n").stdout
    blobs: dict[str, bytes] = {}
    at = 0
    while at < len(out):
        end = out.index(b"\n", at)
        sha, _, size = out[at:end].decode().split(" ")
        start = end + 1
        blobs[sha] = out[start : start + int(size)]
        at = start + int(size) + 1
    return blobs


def populate_worktree(repository: Repository, *, folder: Path, branch: str) -> None:
    """Write the files and the index of a worktree made with ``worktree add --no-checkout``."""
    commit = rev_parse(repository, f"refs/heads/{branch}")
    admin = linked_worktree_folder(repository, folder)
    if commit is None or admin is None:
        raise GitRefused(f"the worktree {folder} on {branch} was not made")
    with clean_room(repository) as room:
        tree = tree_of(room, commit)
        empty = room.text("mktree", input=b"")
        apply_tree_change(room, folder=folder, old=empty, new=tree)
        write_index(room, tree=tree, target=admin / "index")
