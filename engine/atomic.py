"""Files appear whole or not at all (foundation: no engine imports).

Every file the engine writes (models, cache entries, sidecars, images) is written to a temporary name in the
destination's folder and renamed onto its final name by `publish`, the one place a rename happens, so a test
can make exactly that step fail without touching `os.replace` for the whole process."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path


def _machine_id() -> str:
    """The OS's id of this machine (systemd's /etc/machine-id), '' where there is none."""
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            return Path(path).read_text().strip()
        except OSError:
            continue
    return ""


def _host_label(name: str, machine: str = "") -> str:
    """A host as one dot-free name segment: chunks of one farm job write into one shared folder from several workers,
    and a process id means something only on the host that owns it. The short name for people, then a digest of the
    full name and the machine id, so 'render01.siteA' and 'render01.siteB' (or two machines both called
    'localhost') are told apart."""
    short = re.sub(r"[^A-Za-z0-9-]", "-", name.split(".")[0])[:24] or "host"
    digest = hashlib.sha256("\0".join((name, machine)).encode()).hexdigest()[:8]
    return f"{short}-{digest}"


HOST = _host_label(socket.gethostname(), _machine_id())


@dataclass(frozen=True)
class TempOwner:
    """Who wrote a temporary file, read back from its name."""

    host: str
    pid: int


# `.{stem}.{host}.{pid}.{token}{suffix}`: the stem may hold dots, the host cannot, the token is 8 hex digits.
_TEMP = re.compile(r"^\.(?P<stem>.+)\.(?P<host>[A-Za-z0-9-]{1,40})\.(?P<pid>\d+)\.[0-9a-f]{8}(?P<suffix>(\.[^.]+)+)$")


def temp_name(final: Path, suffix: str = ".tmp") -> Path:
    """A temporary name beside `final`: hidden, with this host's name and this process's id (so a clean-up can
    tell a dead writer's leftovers, and never judges another worker's process by a local id) and a random token
    (so nobody can plant a file or link at it in advance)."""
    return final.with_name(f".{final.stem}.{HOST}.{os.getpid()}.{secrets.token_hex(4)}{suffix}")


def temp_owner(name: str) -> tuple[TempOwner, str] | None:
    """The writer and the suffix of a name `temp_name` made; None for any other name."""
    match = _TEMP.match(name)
    if match is None:
        return None
    return TempOwner(match.group("host"), int(match.group("pid"))), match.group("suffix")


_EXCLUSIVE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
_ATTEMPTS = 8


def _create(final: Path, suffix: str) -> tuple[Path, int]:
    """A new temporary file beside `final`, created exclusively: a file or a link someone planted at a name is
    never opened, let alone written through (another random name is tried instead)."""
    for _ in range(_ATTEMPTS):
        path = temp_name(final, suffix)
        try:
            return path, os.open(path, _EXCLUSIVE, 0o644)
        except FileExistsError:
            continue
        except FileNotFoundError:
            if not final.parent.is_dir():  # the message names the folder, not a hidden temporary file in it
                raise FileNotFoundError(f"cannot write {final}: the folder {final.parent} does not exist") from None
            raise
    raise FileExistsError(f"no free temporary name beside {final} after {_ATTEMPTS} tries")


def reserve(final: Path, suffix: str = ".tmp") -> Path:
    """A new empty temporary file beside `final`, for a library that writes by name (OpenImageIO, onnxruntime):
    created exclusively here first, so the name it is given is this process's own file."""
    path, fd = _create(final, suffix)
    os.close(fd)
    return path


def publish(temp: Path, final: Path) -> None:
    """Rename a finished temporary file onto `final` (atomic within one file system)."""
    os.replace(temp, final)


def write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` whole: a reader sees the old file or the new one, never a part. The temporary
    file is created exclusively (never through a link someone left at its name) and flushed to disk first."""
    tmp, fd = _create(path, f".{path.suffix.lstrip('.') or 'bin'}.tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        publish(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
