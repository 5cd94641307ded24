"""Publishing a route's accepted papers to its markdown list in git (docs/list-format.md).

One locked round: fetch, move to the remote tip keeping hand edits, merge papers in, commit
through a private index, push; a rejected push starts again. Git runs with a minimal
environment, a timeout on every call and the token only through paperbot's own askpass.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bot import paperlist
from bot.errors import ListFormatError, PublishError
from bot.models import Incoming, ListTarget, Paper, Route
from storage.store import Store

log = logging.getLogger(__name__)

GIT_TIMEOUT = 60.0  # seconds any one git call (fetch and push too) may take before it is killed

# What git (and the repository's hooks, which inherit git's environment) may see of ours: never
# chat tokens or PAPERBOT_GIT_TOKEN. The token reaches git only through the askpass below.
_ENV_KEEP = (
    *("PATH", "HOME", "TMPDIR", "TZ", "USER", "LOGNAME", "XDG_CONFIG_HOME"),
    *("GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM"),
    *("SSH_AUTH_SOCK", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_SSL_CAINFO", "SSL_CERT_FILE"),
    *("SSL_CERT_DIR", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"),
    *("all_proxy", "NO_PROXY", "no_proxy"),
)
# Put in front of every git command paperbot runs: no credential helper from the user's or the
# system's config may store (or offer) credentials for paperbot's calls.
_GIT_OPTIONS = ("-c", "credential.helper=")

# The askpass helper asks paperbot over a socket in a private folder, so the token is never in
# git's environment (which hooks inherit), a file, a URL or a command line.
_ASKPASS = """#!{python} -I
import socket, sys
with socket.socket(socket.AF_UNIX) as s:
    s.connect({socket!r})
    s.sendall((sys.argv[1] if len(sys.argv) > 1 else "").encode() + b"\\n")
    s.shutdown(socket.SHUT_WR)
    sys.stdout.write(s.makefile("rb").read().decode())
"""


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


def git_env(author: str = "paperbot <paperbot@localhost>") -> dict[str, str]:
    """The whole environment a git process of paperbot's gets (askpass added when needed)."""
    name, _, email = author.partition(" <")
    env = {key: os.environ[key] for key in _ENV_KEEP if key in os.environ}
    env.setdefault("PATH", os.defpath)
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_AUTHOR_NAME=name,
        GIT_AUTHOR_EMAIL=email.rstrip(">"),
        GIT_COMMITTER_NAME=name,
        GIT_COMMITTER_EMAIL=email.rstrip(">"),
        LC_ALL="C",
    )
    return env


class Git:
    """Runs git in one work tree with a minimal environment and a timeout on every call;
    scrubs the token from anything it reports."""

    def __init__(
        self,
        repo: Path,
        author: str,
        token: str | None,
        timeout: float = GIT_TIMEOUT,
        after: Callable[[tuple[str, ...]], None] | None = None,
    ) -> None:
        self.repo = repo
        self.token = token
        self.timeout = timeout
        self.after = after  # test hook: called after each git process ended
        self.env = git_env(author)

    def run(
        self,
        *args: str,
        input: bytes | None = None,
        check: bool = True,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        argv = ["git", *_GIT_OPTIONS, "-C", str(self.repo), *args]
        # Its own session, so a timeout kills git with every helper it started (remote-https).
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**self.env, **(env or {})},
            start_new_session=True,
        )
        try:
            stdout, stderr = proc.communicate(input, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise PublishError(
                f"git {args[0]} in {self.repo} did not finish within {self.timeout:g} s and was "
                "stopped; check that the remote answers (paperbot will try again at the next "
                "publish)"
            ) from None
        except BaseException:
            _kill_group(proc)
            raise
        done = subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)
        if self.after is not None:
            self.after(args)
        if check and done.returncode != 0:
            raise PublishError(
                f"git {args[0]} failed in {self.repo}: {self.scrub(done.stderr)}".rstrip()
            )
        return done

    def out(self, *args: str) -> str:
        return self.run(*args).stdout.decode().strip()

    def scrub(self, raw: bytes) -> str:
        """Git's message on one line, the token (if it ever showed) replaced by ***."""
        text = " ".join(raw.decode(errors="replace").split())
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
        if done.returncode != 0:
            return None
        return _decode(done.stdout, f"{path} in commit {rev[:12]}")

    def blob(self, rev: str, path: str) -> tuple[str, str] | None:
        """(mode, blob id) of `path` in `rev`'s tree, None when it is not there."""
        found = self.run("ls-tree", rev, "--", path, check=False).stdout.decode().split()
        return (found[0], found[2]) if len(found) >= 3 else None

    def staged(self, path: str) -> str | None:
        """The blob id the real index holds for `path` (stage 0), None when it holds none."""
        found = self.run("ls-files", "-s", "--", path, check=False).stdout.decode().split()
        return found[1] if len(found) >= 2 else None


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def _decode(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ListFormatError(
            f"{what} is not UTF-8 text (byte {exc.start} is not); save it as UTF-8 and "
            "paperbot will publish again"
        ) from None


def _read_list(file: Path) -> str | None:
    """The list file's exact text (line endings kept), None when there is none."""
    if file.is_symlink():
        raise ListFormatError(
            f"{file} is a symbolic link, which paperbot does not publish through; "
            "point [routes.list] path at the real file"
        )
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        return None
    return _decode(raw, str(file))


class Publisher:
    def __init__(
        self,
        store: Store,
        token: str | None = None,
        attempts: int = 4,
        git_timeout: float = GIT_TIMEOUT,
        after_git: Callable[[tuple[str, ...]], None] | None = None,
    ) -> None:
        self.store = store
        self.token = token
        self.attempts = attempts
        self.git_timeout = git_timeout
        self.after_git = after_git  # for tests: called after every git call (crash simulation)

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
        git = Git(target.repo, target.author, self.token, self.git_timeout, self.after_git)
        if not (target.repo / ".git").exists() and git.run("rev-parse", check=False).returncode:
            raise PublishError(
                f"{target.repo} is not a git work tree; clone the list's repository there"
            )
        with self._lock(git), self._askpass(git):
            self._recover(git, target)
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
        _read_list(file)  # a symlink or a file that is not UTF-8 stops here, before any change
        head = git.rev("HEAD")
        if target.remote:
            self._sync_with_remote(git, target, head)
            head = git.rev("HEAD")
        if head is not None:
            tracked = git.blob(head, target.path)
            if tracked is not None and tracked[0] != "100644":
                raise ListFormatError(
                    f"{target.path} is committed as a symbolic link or an executable "
                    f"(mode {tracked[0]}), which paperbot does not publish through; commit "
                    "the list as a regular file"
                )

        committed = git.show(head, target.path)
        on_disk = _read_list(file)
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
        ours = _read_list(file)
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
        # Keep the real index's entry in step, unless a person staged something there. A crash
        # between moving the branch and updating the index is repaired from the journal.
        staged = git.staged(target.path)
        old = git.blob(head, target.path) if head else None
        journal = _journal(git)
        in_step = staged is None or (old is not None and staged == old[1])
        if in_step:
            journal.write_text(f"{target.path}\0{staged or ''}\0{blob_id}\n", encoding="utf-8")
        git.run("update-ref", f"refs/heads/{target.branch}", commit, head or "0" * 40)
        if in_step:
            git.run("update-index", "--add", "--cacheinfo", f"100644,{blob_id},{target.path}")
            journal.unlink(missing_ok=True)
        return commit

    def _recover(self, git: Git, target: ListTarget) -> None:
        """Undo what a publish killed midway left behind: a half-written temp file beside the
        list, and a real index still holding the list as it was before paperbot's last commit."""
        file = target.repo / target.path
        for leftover in file.parent.glob(f".{file.name}.*.tmp"):
            leftover.unlink(missing_ok=True)
        journal = _journal(git)
        try:
            path, before, after = journal.read_text(encoding="utf-8").rstrip("\n").split("\0")
        except (FileNotFoundError, ValueError):
            journal.unlink(missing_ok=True)
            return
        head = git.rev("HEAD")
        now = git.blob(head, path) if head else None
        if now is not None and now[1] == after and git.staged(path) == (before or None):
            log.info("%s: bringing the index up to date after an interrupted publish", path)
            git.run("update-index", "--add", "--cacheinfo", f"100644,{after},{path}")
        journal.unlink(missing_ok=True)

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
        """GIT_ASKPASS for the publish: a helper that asks this process over a private socket."""
        if not self.token:
            yield
            return
        token: str = self.token

        class Answer(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                prompt = self.rfile.readline().decode(errors="replace")
                answer = "x-access-token" if prompt.startswith("Username") else token
                self.wfile.write(answer.encode() + b"\n")

        with tempfile.TemporaryDirectory(prefix="paperbot-askpass-") as tmp:
            os.chmod(tmp, 0o700)
            address = str(Path(tmp) / "socket")
            with socketserver.UnixStreamServer(address, Answer) as server:
                serving = threading.Thread(target=server.serve_forever, args=(0.2,), daemon=True)
                serving.start()
                helper = Path(tmp) / "askpass"
                helper.write_text(
                    _ASKPASS.format(python=sys.executable, socket=address), encoding="utf-8"
                )
                helper.chmod(0o700)
                git.env["GIT_ASKPASS"] = str(helper)
                try:
                    yield
                finally:
                    git.env.pop("GIT_ASKPASS", None)
                    server.shutdown()
                    serving.join()


def _journal(git: Git) -> Path:
    return Path(git.out("rev-parse", "--absolute-git-dir")) / "paperbot-index.journal"


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
            path.write_bytes(text.encode("utf-8"))  # bytes: line endings stay as they are
            paths.append(str(path))
        done = git.run("merge-file", "-p", *paths, check=False)
    if done.returncode != 0:
        raise PublishError(
            "the list has uncommitted hand edits that conflict with changes on the remote; "
            "commit or undo the hand edits, then publish again"
        )
    return _decode(done.stdout, "the merged list")


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
