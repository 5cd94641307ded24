"""Real git repositories in temporary folders: a team's bare remote and clones of it."""

from __future__ import annotations

import subprocess
from pathlib import Path

# A person's identity, and no user or system config, so tests behave the same everywhere.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Person",
    "GIT_AUTHOR_EMAIL": "person@example.org",
    "GIT_COMMITTER_NAME": "Person",
    "GIT_COMMITTER_EMAIL": "person@example.org",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "PATH": "/usr/bin:/bin:/usr/local/bin",
}


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=GIT_ENV, check=True
    )
    return done.stdout


def clone(remote: Path, where: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(remote), str(where)], check=True, env=GIT_ENV)
    return where


def bare_remote(where: Path, files: dict[str, str]) -> Path:
    """A bare repository on branch main whose first commit holds `files`."""
    subprocess.run(
        ["git", "init", "-q", "--bare", "-b", "main", str(where)], check=True, env=GIT_ENV
    )
    seed = clone(where, where.with_name(where.name + "-seed"))
    git(seed, "checkout", "-q", "-b", "main")
    for name, text in files.items():
        (seed / name).write_text(text, encoding="utf-8")
    git(seed, "add", ".")
    git(seed, "commit", "-q", "-m", "start the list")
    git(seed, "push", "-q", "origin", "main")
    return where


def local_repo(where: Path, files: dict[str, str]) -> Path:
    """A work tree on branch main with no remote, its first commit holding `files`."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(where)], check=True, env=GIT_ENV)
    for name, text in files.items():
        (where / name).write_text(text, encoding="utf-8")
    git(where, "add", "-A")
    git(where, "commit", "-q", "--allow-empty", "-m", "start")
    return where
