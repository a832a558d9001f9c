"""The generated file of `deploy/kubernetes/`: the CRDs.

`python -m breakwater.devtools.kubernetes` (`make kubernetes`) writes them;
`--check` (`make kubernetes-check`, and a test) fails when a checked-in file
differs from what it would write, as `make proto-check` does for the protos.
The edge Envoys' bootstrap is not generated here: it holds the proxy token, so
an init container writes it at pod start (`breakwater bootstrap --output`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from breakwater.schema import crds_yaml

KUBERNETES_DIR = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"


def generated() -> dict[str, str]:
    """File name in deploy/kubernetes → the text it must hold."""
    return {"crds.yaml": crds_yaml()}


def stale(directory: Path = KUBERNETES_DIR) -> list[str]:
    """The generated files that differ from what would be generated now (or are missing)."""
    return [
        name
        for name, text in generated().items()
        if not (directory / name).is_file() or (directory / name).read_text() != text
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, write nothing")
    args = parser.parse_args()
    if args.check:
        outdated = stale()
        if outdated:
            print(
                f"{', '.join(outdated)} in {KUBERNETES_DIR} are out of date: run `make kubernetes`",
                file=sys.stderr,
            )
            return 1
        return 0
    for name, text in generated().items():
        (KUBERNETES_DIR / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
