"""Files with personal data are the service user's alone, whoever starts the box (invariant 7).

systemd starts the daemon with `UMask=0077`, but the demo, `appliance run` by hand or a
manual backup inherit the shell's umask (usually 022: world-readable files). So the box
sets its own umask at start (`private_start`) and tightens what an earlier, looser start
left behind: the state directory (the database's directory) 0700; the database and its
`-wal`/`-shm`/`-journal`, the health snapshot, the log files there and the backups 0600.
`doctor_rows` is doctor's view of the same files: a row that FAILs when one is wider.

The bank token is never changed here (root's file under /etc/appliance/credentials, or
systemd's credential): doctor only reports it.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from appliance.clitexts import t
from appliance.ops.backup import BACKUP_DIR_NAME
from appliance.ops.checks import Check, Status, row
from appliance.ops.snapshot import SNAPSHOT_NAME

log = logging.getLogger(__name__)

UMASK = 0o077
FILE_MODE = 0o600
DIR_MODE = 0o700
_OTHERS = 0o077  # any group or other permission bit is too wide
_SIDECARS = ("-wal", "-shm", "-journal")


def database_files(database: Path) -> list[Path]:
    """The database and the sidecar files SQLite keeps beside it."""
    return [database, *(Path(f"{database}{s}") for s in _SIDECARS)]


def state_files(database: Path, log_file: Path | None = None) -> list[Path]:
    """Every file of the box's own under the state dir that may hold personal data."""
    state = database.parent
    files = [*database_files(database), state / SNAPSHOT_NAME]
    files += sorted(state.glob("*.log"))
    if log_file is not None and log_file not in files:
        files.append(log_file)
    backups = state / BACKUP_DIR_NAME
    if backups.is_dir():
        files += sorted(p for p in backups.iterdir() if p.is_file())
    return files


def mode_of(path: Path) -> int | None:
    """The permission bits of `path` (of its target, for a symlink); None when absent."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None


def too_wide(mode: int | None) -> bool:
    """Whether anyone but the owner may read, write or enter it."""
    return mode is not None and bool(mode & _OTHERS)


def tighten(paths: Iterable[Path]) -> list[Path]:
    """Take the group's and others' bits off each existing path; returns those it could not.

    Only removes bits (a 0644 file becomes 0600, a 0755 dir 0700): never adds any.
    """
    failed: list[Path] = []
    for path in paths:
        current = mode_of(path)
        if current is None or not current & _OTHERS:
            continue
        try:
            os.chmod(path, current & ~_OTHERS)
        except OSError as exc:
            log.warning("%s is %04o and cannot be made the owner's alone: %s", path, current,
                        exc.strerror or exc)
            failed.append(path)
    return failed


def private_start(database: Path, log_file: Path | None = None) -> None:
    """At the start of `run`, `demo` or `backup`: umask 077 and tighten the state dir."""
    os.umask(UMASK)
    state = database.parent
    dirs = [state, state / BACKUP_DIR_NAME]
    tighten(d for d in dirs if d.is_dir())
    tighten(state_files(database, log_file))


# --- doctor ------------------------------------------------------------------------------


def _listing(paths: Iterable[tuple[Path, int]]) -> str:
    return ", ".join(f"{p} {m:04o}" for p, m in paths)


def modes_verdict(check_id: str, label: str, found: list[tuple[Path, int]], want: int,
                  advice: str) -> Check:
    """OK when every path in `found` (path, mode) is the owner's alone, else FAIL naming them."""
    wide = [(p, m) for p, m in found if too_wide(m)]
    if wide:
        return row(check_id, label, Status.FAIL,
                   t("ops.files.wide", files=_listing(wide), want=f"{want:04o}"), advice)
    return row(check_id, label, Status.OK, t("ops.files.ok", files=_listing(found)))


def _present(paths: Iterable[Path]) -> list[tuple[Path, int]]:
    out = []
    for p in paths:
        mode = mode_of(p)
        if mode is not None:
            out.append((p, mode))
    return out


def doctor_rows(database: Path, token: Path | None) -> list[Check]:
    """The state dir, its files with personal data and the token: owner-only, or FAIL."""
    state = database.parent
    out: list[Check] = []
    dirs = _present(d for d in (state, state / BACKUP_DIR_NAME) if d.is_dir())
    if dirs:
        out.append(modes_verdict("files.state_dir", t("ops.label.files_dir"), dirs, DIR_MODE,
                                 t("ops.advice.files_dir", dir=state)))
    files = _present(state_files(database))
    if files:
        out.append(modes_verdict("files.data", t("ops.label.files_data"), files, FILE_MODE,
                                 t("ops.advice.files_data")))
    if token is not None:
        found = _present([token])
        if found:
            out.append(modes_verdict("files.token", t("ops.label.files_token"), found,
                                     FILE_MODE, t("ops.advice.files_token", path=token)))
    return out
