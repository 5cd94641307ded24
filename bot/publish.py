"""Publishing a route's accepted papers to its markdown list in git.

One publish:
1. takes a lock in the repository's git folder, so two publishers never interleave;
2. fetches the remote (when one is set) and, if it moved on, moves the branch to its tip,
   carrying any uncommitted hand edits of the list across with a three-way merge;
3. reads the list from the work tree: a line paperbot published that a person deleted is a
   person's decision, recorded as "rejected by hand" and never written again;
4. merges accepted papers in and takes flipped-to-rejected papers out (`bot.paperlist`);
5. commits only paperbot's change (through a private index, so hand edits and anything a
   person staged stay as they were), writes the work tree file atomically, and pushes.
   A rejected push starts again from step 2: never a force push, never a conflict left.

HTTPS remotes get `PAPERBOT_GIT_TOKEN` through an askpass helper that reads it from the
environment: the token is never in a URL, a file, a log line or an error message.
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bot import paperlist
from bot.errors import PaperbotError
from bot.models import ListTarget, Paper, Route
from storage.store import Incoming, Store

log = logging.getLogger(__name__)

ASKPASS = """#!/bin/sh
case "$1" in
  Username*) echo "x-access-token" ;;
  *) echo "$PAPERBOT_GIT_TOKEN" ;;
esac
"""


class PublishError(PaperbotError):
    """The list could not be published; the message says why and what to do."""


@dataclass
class PublishResult:
    route: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    hand_deleted: list[str] = field(default_factory=list)
    commit: str | None = None
    pushed: bool = False

    @property
    def changed(self) -> bool:
        return self.commit is not None


class Git:
    """Runs git in one work tree; scrubs the token from anything it reports."""

    def __init__(self, repo: Path, author: str, token: str | None) -> None:
        self.repo = repo
        self.token = token
        name, _, email = author.partition(" <")
        self.env = {
            **os.environ,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email.rstrip(">"),
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email.rstrip(">"),
            "LC_ALL": "C",
        }
        if token:
            self.env["PAPERBOT_GIT_TOKEN"] = token

    def run(
        self,
        *args: str,
        input: bytes | None = None,
        check: bool = True,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        done = subprocess.run(
            ["git", "-C", str(self.repo), *args],
            input=input,
            capture_output=True,
            env={**self.env, **(env or {})},
            check=False,
            timeout=120,
        )
        if check and done.returncode != 0:
            raise PublishError(
                f"git {args[0]} failed in {self.repo}: {self.scrub(done.stderr)}".rstrip()
            )
        return done

    def out(self, *args: str) -> str:
        return self.run(*args).stdout.decode().strip()

    def scrub(self, raw: bytes) -> str:
        text = raw.decode(errors="replace").strip()
        if self.token:
            text = text.replace(self.token, "***")
        return text

    def rev(self, ref: str) -> str | None:
        done = self.run("rev-parse", "--verify", "--quiet", ref + "^{commit}", check=False)
        return done.stdout.decode().strip() or None

    def show(self, rev: str | None, path: str) -> str | None:
        if rev is None:
            return None
        done = self.run("show", f"{rev}:{path}", check=False)
        return done.stdout.decode("utf-8") if done.returncode == 0 else None


class Publisher:
    def __init__(self, store: Store, token: str | None = None, attempts: int = 4) -> None:
        self.store = store
        self.token = token
        self.attempts = attempts

    # --- the pure part: what the list should say ----------------------------------------------

    def wanted(self, route: Route, text: str) -> tuple[list[paperlist.NewEntry], list[str]]:
        """Papers to add (accepted, in acceptance order) and to remove (flipped to rejected)."""
        accepted = self.store.decisions(route.name, "accepted")
        papers = {p.paper.id: p for p in self.store.get_papers([d.paper_id for d in accepted])}
        add = []
        for decision in accepted:
            stored = papers.get(decision.paper_id)
            if stored is None:
                log.warning("accepted paper %s is not in the database; skipped", decision.paper_id)
                continue
            day = stored.listing_date or decision.decided_at.date()
            add.append(paperlist.NewEntry(stored.paper.id, stored.paper.title, day))
        listed = self.store.listed_ids(route.name)
        rejected = {d.paper_id for d in self.store.decisions(route.name, "rejected")}
        present = set(paperlist.ids_in(text))
        remove = sorted(listed & rejected & present)
        return add, remove

    def render(self, route: Route, base: str | None) -> str:
        """The merged text, for `paperbot list render`; no base gives a fresh list."""
        text = base if base is not None else f"{paperlist.WARNING}\n\n"
        add, remove = self.wanted(route, text)
        return paperlist.merge(text, add, remove)

    def note_hand_deletions(self, route: Route, text: str, where: str = "the list") -> list[str]:
        """Published lines a person deleted become "rejected by hand" decisions.

        Every published line missing at once is not a person's edit but the wrong file (a
        changed path or branch): that stops the publish instead of rejecting everything.
        """
        present = set(paperlist.ids_in(text))
        listed = self.store.listed_ids(route.name)
        gone = sorted(listed - present)
        if len(gone) >= 3 and len(gone) == len(listed):
            raise PublishError(
                f"none of the {len(gone)} papers published for route '{route.name}' are in "
                f"{where}; check [routes.list] path and branch (or delete the lines one by one)"
            )
        deleted = []
        for paper_id in gone:
            decision = self.store.decision(paper_id, route.name)
            if decision is not None and decision.status == "accepted":
                self.store.decide(
                    paper_id, route.name, "rejected", "hand-edit", "line deleted from the list"
                )
                deleted.append(paper_id)
        self.store.set_listed(route.name, (), gone)
        if deleted:
            log.info("%s: lines deleted by hand, now rejected: %s", route.name, ", ".join(deleted))
        return deleted

    # --- the git part ---------------------------------------------------------------------------

    def publish(self, route: Route) -> PublishResult:
        target = route.list_target
        if target is None:
            raise PublishError(
                f"route '{route.name}' has no [routes.list] table; add repo and path to publish"
            )
        git = Git(target.repo, target.author, self.token)
        if not (target.repo / ".git").exists() and git.run("rev-parse", check=False).returncode:
            raise PublishError(
                f"{target.repo} is not a git work tree; clone the list's repository there"
            )
        with self._lock(git), self._askpass(git):
            for attempt in range(1, self.attempts + 1):
                result = self._attempt(route, target, git)
                if result is not None:
                    return result
                log.info("push of %s was rejected (attempt %d); merging again", route.name, attempt)
        raise PublishError(
            f"could not push {target.path} to {target.remote} after {self.attempts} tries "
            "because the remote kept moving; paperbot will try again at the next publish"
        )

    def _attempt(self, route: Route, target: ListTarget, git: Git) -> PublishResult | None:
        """One fetch-merge-commit-push round; None when the push was rejected."""
        branch = target.branch
        current = git.out("symbolic-ref", "--quiet", "--short", "HEAD")
        if current != branch:
            raise PublishError(
                f"{target.repo} has '{current}' checked out, not '{branch}'; "
                f"check out {branch} there or set branch in [routes.list]"
            )
        file = target.repo / target.path
        head = git.rev("HEAD")
        if target.remote:
            self._sync_with_remote(git, target, head)
            head = git.rev("HEAD")

        committed = git.show(head, target.path)
        on_disk = file.read_text(encoding="utf-8") if file.exists() else None
        worktree = on_disk if on_disk is not None else committed
        result = PublishResult(route.name)
        if worktree is not None:  # no file anywhere yet: a new list, nothing was deleted
            result.hand_deleted = self.note_hand_deletions(route, worktree, str(file))

        base = committed if committed is not None else f"{paperlist.WARNING}\n\n"
        add, remove = self.wanted(route, worktree if worktree is not None else base)
        new_committed = paperlist.merge(base, add, remove)
        new_worktree = paperlist.merge(worktree if worktree is not None else base, add, remove)
        before = set(paperlist.ids_in(base))
        result.added = [e.id for e in add if e.id not in before and e.id in new_committed]
        result.removed = [pid for pid in remove if pid in before]

        if new_worktree != on_disk:
            _write_atomically(file, new_worktree)
        if new_committed != committed:
            result.commit = self._commit(git, target, head, new_committed, result)
        if target.remote and git.rev("HEAD") != git.rev(_remote_ref(target)):
            push = git.run("push", "--porcelain", target.remote, f"{branch}:{branch}", check=False)
            if push.returncode != 0:
                if b"[rejected]" in push.stdout or b"rejected" in push.stderr:
                    return None
                raise PublishError(
                    f"git push to {target.remote} failed: {git.scrub(push.stderr)}; "
                    "check the remote URL and PAPERBOT_GIT_TOKEN"
                )
            git.run("update-ref", _remote_ref(target), "HEAD")
            result.pushed = True
        self.store.set_listed(route.name, add_ids(new_committed, add), result.removed)
        return result

    def _sync_with_remote(self, git: Git, target: ListTarget, head: str | None) -> None:
        """Fetch; when the remote moved on, move the branch to its tip keeping hand edits."""
        remote_ref = _remote_ref(target)
        fetch = git.run(
            "fetch", "--quiet", target.remote or "", f"+{target.branch}:{remote_ref}", check=False
        )
        if fetch.returncode != 0:
            stderr = git.scrub(fetch.stderr)
            if "couldn't find remote ref" in stderr:
                return  # an empty remote: the first push creates the branch
            raise PublishError(
                f"git fetch from {target.remote} failed: {stderr}; check the remote and "
                "PAPERBOT_GIT_TOKEN"
            )
        tip = git.rev(remote_ref)
        if tip is None or tip == head:
            return
        if (
            head is not None
            and git.run("merge-base", "--is-ancestor", tip, head, check=False).returncode == 0
        ):
            return  # we are ahead (an earlier push failed): push again as is
        file = target.repo / target.path
        ours = file.read_text(encoding="utf-8") if file.exists() else None
        base = git.show(head, target.path)
        theirs = git.show(tip, target.path)
        carried = theirs  # without hand edits the file simply becomes the remote's
        if ours is not None and ours != base:
            carried = _three_way(git, ours, base or "", theirs or "")
        if base is not None:
            git.run("checkout", "HEAD", "--", target.path)  # so reset --keep can move it
        elif file.exists():
            file.unlink()  # untracked here, tracked there: its text is carried below
        git.run("reset", "--keep", tip)
        if carried is not None and carried != (theirs or ""):
            _write_atomically(file, carried)

    def _commit(
        self, git: Git, target: ListTarget, head: str | None, text: str, result: PublishResult
    ) -> str:
        """Commit `text` as the list file on top of HEAD without touching the real index."""
        blob = git.run("hash-object", "-w", "--stdin", input=text.encode("utf-8")).stdout
        blob_id = blob.decode().strip()
        with tempfile.TemporaryDirectory() as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if head is not None:
                git.run("read-tree", head, env=env)
            git.run(
                "update-index", "--add", "--cacheinfo", f"100644,{blob_id},{target.path}", env=env
            )
            tree = git.run("write-tree", env=env).stdout.decode().strip()
        parents = ["-p", head] if head else []
        message = _message(result)
        commit = (
            git.run("commit-tree", tree, *parents, input=message.encode()).stdout.decode().strip()
        )
        git.run("update-ref", f"refs/heads/{target.branch}", commit, head or "0" * 40)
        # keep the real index's entry in step, unless a person staged something there
        staged = git.run("ls-files", "-s", "--", target.path, check=False).stdout.decode().split()
        old_blob = (
            git.run("rev-parse", f"{head}:{target.path}", check=False).stdout.decode().strip()
            if head
            else ""
        )
        if not staged or staged[1] == old_blob:
            git.run("update-index", "--add", "--cacheinfo", f"100644,{blob_id},{target.path}")
        return commit

    @contextmanager
    def _lock(self, git: Git) -> Iterator[None]:
        git_dir = Path(git.out("rev-parse", "--absolute-git-dir"))
        fd = os.open(git_dir / "paperbot-publish.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    @contextmanager
    def _askpass(self, git: Git) -> Iterator[None]:
        if not self.token:
            yield
            return
        with tempfile.TemporaryDirectory() as tmp:
            helper = Path(tmp) / "askpass.sh"
            helper.write_text(ASKPASS, encoding="utf-8")
            helper.chmod(0o700)
            git.env["GIT_ASKPASS"] = str(helper)
            try:
                yield
            finally:
                git.env.pop("GIT_ASKPASS", None)


def _remote_ref(target: ListTarget) -> str:
    return f"refs/remotes/{target.remote}/{target.branch}"


def add_ids(text: str, add: Sequence[paperlist.NewEntry]) -> list[str]:
    """Accepted papers that now stand in the text (whoever wrote their line)."""
    present = set(paperlist.ids_in(text))
    return [e.id for e in add if e.id in present]


def _message(result: PublishResult) -> str:
    parts = []
    if result.added:
        parts.append(f"add {len(result.added)}")
    if result.removed:
        parts.append(f"remove {len(result.removed)}")
    lines = [f"{result.route}: {', '.join(parts) or 'update'} paper(s)", ""]
    lines += [f"+ {pid}" for pid in result.added]
    lines += [f"- {pid}" for pid in result.removed]
    return "\n".join(lines) + "\n"


def _three_way(git: Git, ours: str, base: str, theirs: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, text in (("ours", ours), ("base", base), ("theirs", theirs)):
            path = Path(tmp) / name
            path.write_text(text, encoding="utf-8")
            paths.append(str(path))
        done = subprocess.run(
            ["git", "merge-file", "-p", *paths], capture_output=True, check=False, timeout=60
        )
    if done.returncode != 0:
        raise PublishError(
            "the list has uncommitted hand edits that conflict with changes on the remote; "
            "commit or undo the hand edits, then publish again"
        )
    return done.stdout.decode("utf-8")


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class ImportReport:
    entries: int = 0
    accepted: int = 0  # newly recorded as accepted
    duplicates: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # id -> lines


def import_list(store: Store, route: str, text: str) -> ImportReport:
    """Record every paper of a list as accepted by "import", dated by its section, in order.

    Idempotent: a paper that already has a decision keeps it. The file is not changed.
    """
    parsed = paperlist.parse(text)
    report = ImportReport(entries=len(parsed.entries))
    for pid, entries in parsed.duplicates().items():
        report.duplicates[pid] = [(e.line, e.text.rstrip("\r\n")) for e in entries]
    first: dict[str, paperlist.Entry] = {}
    for entry in parsed.entries:
        first.setdefault(entry.id, entry)
    store.upsert_papers(
        [
            Incoming(Paper(id=e.id, title=e.title), e.date, candidate=False, source=f"list:{route}")
            for e in first.values()
        ]
    )
    with store.atomic():
        for entry in first.values():
            if store.decision(entry.id, route) is None:
                store.decide(entry.id, route, "accepted", "import", "in the list when imported")
                report.accepted += 1
        store.set_listed(route, list(first), ())
    return report
