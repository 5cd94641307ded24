"""The route's list in git equals its decisions (docs/list-format.md); hand edits are decisions.

One locked round: fetch, learn hand edits, move to the remote tip keeping uncommitted ones,
reconcile, commit through a private index, push (a rejected push starts again). Git runs with a
minimal environment, a timeout (and an abort) on every call, the token only through askpass.
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
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date
from pathlib import Path

from bot import paperlist
from bot.errors import ListFormatError, PublishError
from bot.listing_calendar import first_listing_date
from bot.models import Incoming, ListEntryRecord, ListTarget, Paper, Route, StoredPaper
from storage.store import Store

log = logging.getLogger(__name__)

GIT_TIMEOUT = 60.0  # seconds any one git call (fetch and push too) may take before it is killed
ABORT_CHECK = 0.1  # seconds between looks at the abort event while git runs

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
    hand_deleted: list[str] = field(default_factory=list)  # lines removed by hand: rejected
    hand_added: list[str] = field(default_factory=list)  # lines added by hand: accepted
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
        abort: threading.Event | None = None,
    ) -> None:
        self.repo = repo
        self.token = token
        self.timeout = timeout
        self.after = after  # test hook: called after each git process ended
        self.abort = abort  # once set, the git call in flight is killed and no other starts
        self.env = git_env(author)

    def run(
        self,
        *args: str,
        input: bytes | None = None,
        check: bool = True,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        argv = ["git", *_GIT_OPTIONS, "-C", str(self.repo), *args]
        self._check_abort(args)
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
            stdout, stderr = self._wait(proc, input, args)
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

    def _wait(
        self, proc: subprocess.Popen[bytes], input: bytes | None, args: tuple[str, ...]
    ) -> tuple[bytes, bytes]:
        """Git's output; TimeoutExpired past the timeout, PublishError once aborted."""
        if self.abort is None:
            return proc.communicate(input, timeout=self.timeout)
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            try:
                return proc.communicate(input, timeout=max(0.0, min(ABORT_CHECK, left)))
            except subprocess.TimeoutExpired:
                if left <= ABORT_CHECK:
                    raise
                if self.abort.is_set():
                    _kill_group(proc)
                    self._check_abort(args)

    def _check_abort(self, args: tuple[str, ...]) -> None:
        if self.abort is not None and self.abort.is_set():
            raise PublishError(
                f"git {args[0]} in {self.repo} was stopped because paperbot is shutting down; "
                "the list is published again after the restart"
            )

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
        *,
        holidays: Collection[date] = (),
        abort: threading.Event | None = None,
    ) -> None:
        self.store = store
        self.token = token
        self.attempts = attempts
        self.git_timeout = git_timeout
        self.after_git = after_git  # for tests: called after every git call (crash simulation)
        self.holidays = holidays  # PAPERBOT_HOLIDAYS: dates with no listing
        self.abort = abort  # set (on SIGTERM): the git call in flight is killed, publish stops

    # --- the pure part: what the list should say ----------------------------------------------

    def wanted(self, route: Route, text: str) -> tuple[list[paperlist.NewEntry], list[str]]:
        """Papers to add (accepted and absent, in acceptance order) and to remove (present, and
        decided otherwise than accepted): the list holds exactly the accepted papers."""
        decisions = {d.paper_id: d for d in self.store.decisions(route.name)}
        present = set(paperlist.ids_in(text))
        missing = [
            d for d in decisions.values() if d.status == "accepted" and d.paper_id not in present
        ]
        missing.sort(key=lambda d: d.seq)
        ids = [d.paper_id for d in missing]
        papers = {p.paper.id: p for p in self.store.get_papers(ids)}
        records = self.store.list_entries(route.name, ids)
        add = []
        for decision in missing:
            stored = papers.get(decision.paper_id)
            if stored is None:
                log.warning("accepted paper %s is not in the database; skipped", decision.paper_id)
                continue
            record = records.get(decision.paper_id)
            add.append(self._entry(route, stored, record, decision.decided_at.date()))
        remove = sorted(
            pid for pid in present if pid in decisions and decisions[pid].status != "accepted"
        )
        return add, remove

    def _entry(
        self, route: Route, stored: StoredPaper, record: ListEntryRecord | None, decided: date
    ) -> paperlist.NewEntry:
        paper = stored.paper
        if record is not None and record.day is not None:
            day = record.day  # imported (or added by hand): it keeps its section
        else:
            convention = route.list_target.date if route.list_target else "listing"
            day = section_date(convention, stored, self.holidays) or decided
        note = self.store.note(paper.id, route.name)  # tags and TL;DR paperbot learnt
        return paperlist.NewEntry(
            paper.id,
            paper.title,
            day,
            tags=(record.tags if record else ()) or (note.tags if note else ()),
            tldr=(record.tldr if record else None) or (note.tldr if note and note.tldr else None),
            version=(record.version if record else None) or paper.version,
            markup=record.markup if record else None,
        )

    def render(self, route: Route, base: str | None) -> str:
        """The merged text, for `paperbot list render`; no base gives a fresh list."""
        text = base if base is not None else f"{paperlist.WARNING}\n\n"
        return self._merged(route, text, paperlist.style_of(text))

    def _merged(self, route: Route, text: str, style: paperlist.Style) -> str:
        add, remove = self.wanted(route, text)
        merged = paperlist.merge(text, add, remove, style)
        if merged != text:
            merged = paperlist.refresh_badges(merged, self.store.clock().date())
        return merged

    # --- learning from the file: hand edits are decisions --------------------------------------

    def _learn(
        self, route: Route, git: Git, target: ListTarget, seen: str | None, text: str | None
    ) -> tuple[list[str], list[str]]:
        """Lines removed from (added to) the list since paperbot last saw it are rejections
        (acceptances) by hand, by the author of the commit that made them. ``seen`` is the
        commit now read (the remote's tip, or HEAD without a remote), ``text`` its list."""
        listed = self.store.listed_ids(route.name)
        last = self.store.list_seen(route.name)
        now = paperlist.parse(text) if text is not None else None
        present = set(now.ids()) if now is not None else set()
        where = f"{target.path} in {target.remote or target.repo}"
        _refuse_wrong_file(route, listed, present, where)
        deleted: list[str] = []
        added: list[str] = []
        if last is None and not listed:  # never read: the file is how the team left it
            if now is not None:
                fresh = [e for e in now.entries if self.store.decision(e.id, route.name) is None]
                self._accept(route, fresh, "list", "in the list when paperbot first read it")
        else:
            authors = self._authors(git, last, seen, target.path) if last and seen else {}
            for pid in sorted(listed - present):
                who = authors.get(("-", pid), "hand-edit")
                if self.store.decide(
                    pid, route.name, "rejected", who, "line deleted from the list"
                ):
                    deleted.append(pid)
            for entry in _firsts(now.entries if now is not None else ()):
                if entry.id not in listed:
                    who = authors.get(("+", entry.id), "hand-edit")
                    if self._accept(route, [entry], who, "line added to the list"):
                        added.append(entry.id)
        self.store.replace_listed(route.name, present)
        if seen is not None:
            self.store.set_list_seen(route.name, seen)
        return deleted, added

    def _learn_worktree(
        self, route: Route, committed: str | None, worktree: str | None, where: str
    ) -> tuple[list[str], list[str]]:
        """Lines deleted from (added to) the bot's own work tree, not yet committed."""
        if committed is None or worktree is None or committed == worktree:
            return [], []
        before = set(paperlist.ids_in(committed))
        after = paperlist.parse(worktree)
        _refuse_wrong_file(route, before, set(after.ids()), where)
        deleted = [
            pid
            for pid in sorted(before - set(after.ids()))
            if self.store.decide(
                pid, route.name, "rejected", "hand-edit", "line deleted from the list"
            )
        ]
        new = [e for e in _firsts(after.entries) if e.id not in before]
        added = [e.id for e in new if self._accept(route, [e], "hand-edit", "line added by hand")]
        return deleted, added

    def _accept(
        self, route: Route, entries: Sequence[paperlist.Entry], who: str, reason: str
    ) -> bool:
        """Record papers a list holds as accepted by `who`, with what the list says of them."""
        first = _firsts(entries)
        if not first:
            return False
        _remember(self.store, route.name, first, "list" if who == "list" else "hand-edit")
        changed = False
        for entry in first:
            decision = self.store.decision(entry.id, route.name)
            if decision is not None and decision.status == "accepted":
                continue
            if self.store.decide(entry.id, route.name, "accepted", who, reason) is not None:
                changed = True
        return changed

    def _authors(self, git: Git, since: str, until: str, path: str) -> dict[tuple[str, str], str]:
        """("-"|"+", paper id) -> who last removed (added) its line in since..until."""
        if since == until or git.rev(since) is None:
            return {}
        if git.run("merge-base", "--is-ancestor", since, until, check=False).returncode != 0:
            return {}
        log_text = git.run(
            "log",
            "--reverse",
            "--no-color",
            "--format=%x01%an <%ae>",
            "-p",
            "--unified=0",
            f"{since}..{until}",
            "--",
            path,
        ).stdout.decode("utf-8", errors="replace")
        found: dict[tuple[str, str], str] = {}
        who = "hand-edit"
        for line in log_text.split("\n"):
            if line.startswith("\x01"):
                who = line[1:]
            elif line[:1] in ("+", "-") and not line.startswith(("+++ ", "--- ")):
                for pid in paperlist.ids_in(line[1:]):
                    found[(line[0], pid)] = who
        return found

    # --- the git part ---------------------------------------------------------------------------

    def _git(self, route: Route) -> tuple[Git, ListTarget]:
        target = route.list_target
        if target is None:
            raise PublishError(
                f"route '{route.name}' has no [routes.list] table; add repo and path to publish"
            )
        git = Git(
            target.repo, target.author, self.token, self.git_timeout, self.after_git, self.abort
        )
        if not (target.repo / ".git").exists() and git.run("rev-parse", check=False).returncode:
            raise PublishError(
                f"{target.repo} is not a git work tree; clone the list's repository there"
            )
        return git, target

    def sync(self, route: Route) -> bool:
        """Fetch the remote and learn the hand edits made since paperbot last read the list;
        marks the route unpublished (and returns True) when the file and decisions differ."""
        if route.list_target is None:
            return False
        git, target = self._git(route)
        with self._lock(git), self._askpass(git):
            _check_branch(git, target)
            file = target.repo / target.path
            on_disk = _read_list(file)
            head = git.rev("HEAD")
            seen = self._fetch(git, target) if target.remote else head
            seen_text = git.show(seen, target.path)
            self._learn(route, git, target, seen, seen_text)
            committed = git.show(head, target.path)
            self._learn_worktree(route, committed, on_disk, str(file))
            need = (
                on_disk is not None
                and committed is not None
                and (set(paperlist.ids_in(on_disk)) != set(paperlist.ids_in(committed)))
            )
            for text in (seen_text, on_disk if on_disk is not None else committed):
                if text is not None and any(self.wanted(route, text)):
                    need = True
        if need:
            self.store.mark_unpublished(route.name)
        return need

    def publish(self, route: Route) -> PublishResult:
        git, target = self._git(route)
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
        """One fetch-learn-merge-commit-push round; None when the push was rejected."""
        branch = target.branch
        _check_branch(git, target)
        file = target.repo / target.path
        on_disk = _read_list(file)  # a symlink or a file that is not UTF-8 stops here
        head = git.rev("HEAD")
        result = PublishResult(route.name)
        seen = self._fetch(git, target) if target.remote else head
        result.hand_deleted, result.hand_added = self._learn(
            route, git, target, seen, git.show(seen, target.path)
        )
        deleted, added = self._learn_worktree(
            route, git.show(head, target.path), on_disk, str(file)
        )
        result.hand_deleted += deleted
        result.hand_added += added
        if target.remote:
            self._move_to(git, target, head, seen)
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
        base = committed if committed is not None else f"{paperlist.WARNING}\n\n"
        worktree = on_disk if on_disk is not None else base
        style = paperlist.style_of(base)
        new_committed = self._merged(route, base, style)
        new_worktree = self._merged(route, worktree, style)
        before = paperlist.ids_in(base)
        after = paperlist.ids_in(new_committed)
        result.added = [pid for pid in dict.fromkeys(after) if pid not in set(before)]
        result.removed = [pid for pid in dict.fromkeys(before) if pid not in set(after)]

        site = self._site(route, git, head, new_committed)  # in the same commit (docs/site.md)
        if new_worktree != on_disk:
            _write_atomically(file, new_worktree)
        if new_committed != committed or site:
            result.commit = self._commit(git, target, head, new_committed, result, site)
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
        final = git.rev("HEAD")
        if final is not None and (not target.remote or final == git.rev(_remote_ref(target))):
            self.store.replace_listed(route.name, after)  # what the list now holds, seen
            self.store.set_list_seen(route.name, final)
        return result

    def _fetch(self, git: Git, target: ListTarget) -> str | None:
        """Fetch the branch; the remote's tip (None: the remote has no such branch yet)."""
        remote_ref = _remote_ref(target)
        fetch = git.run(
            "fetch", "--quiet", target.remote or "", f"+{target.branch}:{remote_ref}", check=False
        )
        if fetch.returncode != 0:
            stderr = git.scrub(fetch.stderr)
            if "couldn't find remote ref" in stderr:
                return None  # an empty remote: the first push creates the branch
            raise PublishError(
                f"git fetch from {target.remote} failed: {stderr}; check the remote and "
                "PAPERBOT_GIT_TOKEN"
            )
        return git.rev(remote_ref)

    def _move_to(self, git: Git, target: ListTarget, head: str | None, tip: str | None) -> None:
        """When the remote moved on, move the branch to its tip keeping hand edits."""
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

    def _site(self, route: Route, git: Git, head: str | None, text: str) -> dict[str, str]:
        """Write the route's site into its folder; path -> blob id of the files HEAD lacks."""
        if route.site is None:
            return {}
        from bot.site import render_site, site_papers, write_site

        folder = git.repo / route.site.path
        papers = site_papers(self.store, route, text)
        names = write_site(folder, render_site(papers, route, self.store.clock()))
        paths = [f"{route.site.path}/{name}" for name in sorted(names)]
        listing = "\n".join(paths).encode()
        ids = git.run("hash-object", "-w", "--stdin-paths", input=listing).stdout.decode()
        old = git.out("ls-tree", "-r", head, "--", route.site.path) if head else ""
        known = {line.split("\t", 1)[1]: line.split()[2] for line in old.splitlines()}
        return {p: i for p, i in zip(paths, ids.split(), strict=True) if known.get(p) != i}

    def _commit(
        self,
        git: Git,
        target: ListTarget,
        head: str | None,
        text: str,
        result: PublishResult,
        site: dict[str, str] | None = None,
    ) -> str:
        """Commit `text` as the list file (and the site's files, path -> blob id) on top of
        HEAD without touching the real index."""
        infos = "".join(f"100644 {blob}\t{path}\n" for path, blob in (site or {}).items())
        blob = git.run("hash-object", "-w", "--stdin", input=text.encode("utf-8")).stdout
        blob_id = blob.decode().strip()
        with tempfile.TemporaryDirectory() as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if head is not None:
                git.run("read-tree", head, env=env)
            git.run(
                "update-index", "--add", "--cacheinfo", f"100644,{blob_id},{target.path}", env=env
            )
            if infos:
                git.run("update-index", "--index-info", input=infos.encode(), env=env)
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
        if infos:  # the site's files are paperbot's own: the real index follows them
            git.run("update-index", "--index-info", input=infos.encode())
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
            while True:  # another publisher holds it: wait, but not past an abort
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if self.abort is not None and self.abort.wait(ABORT_CHECK):
                        git.run("rev-parse")  # raises the abort's one sentence
                    elif self.abort is None:
                        fcntl.flock(fd, fcntl.LOCK_EX)
                        break
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
    """Record every paper of a list as accepted by "import", in order, keeping its section, title,
    tags and TL;DR. Idempotent: a paper that already has a decision keeps it. What the route's
    published list holds is not touched: it is learnt from that file when publishing.
    """
    parsed = paperlist.parse(text)
    report = ImportReport(entries=len(parsed.entries))
    for pid, entries in parsed.duplicates().items():
        report.duplicates[pid] = [(e.line, e.text.rstrip("\r\n")) for e in entries]
    first = _firsts(parsed.entries)
    store.upsert_papers(
        [
            Incoming(
                Paper(id=e.id, title=e.title, version=e.version or 1),
                e.date,
                candidate=False,
                source=f"list:{route}",
            )
            for e in first
        ]
    )
    with store.atomic():
        for entry in first:
            if store.decision(entry.id, route) is None:
                store.decide(entry.id, route, "accepted", "import", "in the list when imported")
                report.accepted += 1
        _remember(store, route, first, "import")
    return report


def _firsts(entries: Iterable[paperlist.Entry]) -> list[paperlist.Entry]:
    """Each paper's first entry, in file order."""
    first: dict[str, paperlist.Entry] = {}
    for entry in entries:
        first.setdefault(entry.id, entry)
    return list(first.values())


def _remember(store: Store, route: str, entries: Sequence[paperlist.Entry], source: str) -> None:
    store.save_list_entries(
        route,
        [
            ListEntryRecord(e.id, e.date, e.markup, e.version, e.tags, e.tldr, source)
            for e in entries
        ],
    )


def section_date(
    convention: str, stored: StoredPaper, holidays: Collection[date] = ()
) -> date | None:
    """The section a paper goes under: with "submitted" its v1 submission date (UTC, as the
    API's submittedDate counts); with "listing" the feed's date when a feed showed it, else the
    first listing it could appear in after its submission (bot/listing_calendar.py)."""
    published = stored.paper.published
    if convention == "submitted" and published is not None:
        return published.astimezone(UTC).date()
    from_feed = stored.source.startswith(("rss:", "atom:"))
    if not from_feed and published is not None and not stored.source.startswith("list:"):
        return first_listing_date(published, holidays)
    return stored.listing_date


def _check_branch(git: Git, target: ListTarget) -> None:
    current = git.out("symbolic-ref", "--quiet", "--short", "HEAD")
    if current != target.branch:
        raise PublishError(
            f"{target.repo} has '{current}' checked out, not '{target.branch}'; "
            f"check out {target.branch} there or set branch in [routes.list]"
        )


def _refuse_wrong_file(route: Route, before: set[str], after: set[str], where: str) -> None:
    """Every published line missing at once is not a person's edit but the wrong file (a changed
    path or branch): that stops the publish instead of rejecting everything."""
    if len(before) >= 3 and not before & after:
        raise PublishError(
            f"none of the {len(before)} papers published for route '{route.name}' are in "
            f"{where}; check [routes.list] path and branch (or delete the lines one by one)"
        )
