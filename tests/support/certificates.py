"""A certificate authority of the test's own, writing PEM files that servers and clients read.

`trustme` makes the keys and certificates with `cryptography`; this writes them where a
command line can name them, as an operator's files would be.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


class Authority:
    """One CA: its certificate in `ca_file`, and the leaves it signs in the same directory."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.name = name
        self._ca = trustme.CA(organization_name=f"Breakwater tests {name}")
        directory.mkdir(parents=True, exist_ok=True)
        self.ca_file = directory / f"{name}-ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_file))

    def issue(self, leaf: str, *identities: str) -> KeyPair:
        """A certificate for `identities` (host names or IP addresses; a client's name for a
        client certificate) and its key."""
        issued = self._ca.issue_cert(*identities, common_name=identities[0])
        pair = KeyPair(
            self.directory / f"{self.name}-{leaf}.pem", self.directory / f"{self.name}-{leaf}.key"
        )
        issued.cert_chain_pems[0].write_to_path(str(pair.cert))
        issued.private_key_pem.write_to_path(str(pair.key))
        pair.key.chmod(0o600)
        return pair
