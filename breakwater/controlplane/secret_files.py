"""Files that hold secrets (tokens, passwords), read only when no one else on the host can.

One rule for every such file, as ssh applies to private keys: refused when
group or others may read or write it. One exception, PostgreSQL's for its
key: a file owned by root may be shared with its group (mode 0640 or 0440),
which is how Kubernetes mounts a Secret for a pod's `fsGroup`.
"""

from __future__ import annotations

import stat
from pathlib import Path


class SecretFileError(Exception):
    """A secret file that cannot be read, or may be read by others; the message says why."""


def read_secret(path: Path, what: str) -> bytes:
    """The bytes of `path`, a `what` (`token file`, `etcd password file`) kept to its owner."""
    try:
        status = path.stat()
    except OSError as exc:
        raise SecretFileError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None
    mode = stat.S_IMODE(status.st_mode)
    shared = mode & (0o007 if status.st_uid == 0 else 0o077)
    if shared and stat.S_ISREG(status.st_mode):
        raise SecretFileError(
            f"the {what} {path} has mode {mode:o}, so others on this host can read or change "
            f"it; run `chmod 600 {path}` (as ssh refuses such keys)"
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SecretFileError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None
