"""Writing the site into its folder. A manifest of what paperbot wrote (and each file's hash)
lets it replace only its own files, and notice, and log, a person's edits before overwriting.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from bot.errors import PublishError

log = logging.getLogger(__name__)

MANIFEST = ".paperbot-site.json"


def with_manifest(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """The files plus the manifest that lists them with their SHA-256."""
    hashes = {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}
    manifest = {"generator": "paperbot", "files": hashes}
    return {**files, MANIFEST: (json.dumps(manifest, indent=1) + "\n").encode()}


def write_site(folder: Path, files: Mapping[str, bytes]) -> dict[str, bytes]:
    """Write the files (and the manifest) into `folder`; returns everything it now holds of
    paperbot's. Files paperbot did not generate are never touched."""
    everything = with_manifest(files)
    known = _manifest(folder)
    for name, data in sorted(everything.items()):
        path = folder / name
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise PublishError(
                f"{path} is not a regular file, so paperbot will not write the site through it; "
                "remove it or choose another [routes.site] path"
            )
        try:
            current = path.read_bytes()
        except FileNotFoundError:
            current = None
        if current == data:
            continue
        if current is not None and name != MANIFEST:
            digest = hashlib.sha256(current).hexdigest()
            if name not in known:
                log.warning(
                    "%s was not written by paperbot and is replaced by the generated one; "
                    "change the site's templates instead (docs/site.md)",
                    path,
                )
            elif digest != known[name]:
                log.warning(
                    "%s was edited by hand since paperbot wrote it and is overwritten; "
                    "change the site's templates instead (docs/site.md)",
                    path,
                )
        _write(path, data)
    return everything


def _manifest(folder: Path) -> dict[str, str]:
    try:
        raw = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files = raw["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
