"""`import` and `schema`: the ecosystem's formats in, Breakwater's schemas out.

`breakwater import istio FILE…` converts Istio VirtualServices and
DestinationRules and prints what it could not carry over; `breakwater
schema` prints the JSON Schema of every kind, or (`--crds`) the Kubernetes
CustomResourceDefinitions, both generated from the policy models.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from breakwater.cli.common import CommandFailed
from breakwater.cli.helptext import add_command

DEFAULT_IMPORT_GATEWAY = "edge"
"""The Gateway that serves imported routes Istio bound to no gateway (or to the mesh)."""


def add_format_commands(sub: Any) -> None:
    """Add `import` and `schema` to the command line (`sub` is its subparsers)."""
    importer = add_command(
        sub, "import", help="convert another project's policies into Breakwater documents"
    )
    importers = importer.add_subparsers(dest="import_format", required=True)
    istio = add_command(
        importers,
        "import istio",
        help="Istio VirtualService and DestinationRule (networking.istio.io v1alpha3, "
        "v1beta1, v1); lists every field it could not carry over",
    )
    istio.add_argument("files", nargs="+", metavar="FILE")
    istio.add_argument(
        "-o",
        "--output-dir",
        metavar="DIR",
        help="write services.yaml, gateways.yaml, routes.yaml and resilience.yaml here "
        "(default: print the documents)",
    )
    istio.add_argument(
        "--services",
        metavar="DIR",
        help="a policy directory whose Services (with their endpoints) get the "
        "DestinationRules' subsets, and whose Gateways serve the routes",
    )
    istio.add_argument(
        "--gateway",
        default=DEFAULT_IMPORT_GATEWAY,
        help="the Gateway for routes Istio bound to no gateway or to `mesh` (default %(default)s)",
    )
    istio.set_defaults(func=cmd_import_istio)

    schema = add_command(
        sub,
        "schema",
        help="print the JSON Schema of every Breakwater kind (for editors), or the CRDs",
    )
    schema.add_argument(
        "--crds", action="store_true", help="print Kubernetes CustomResourceDefinitions instead"
    )
    schema.add_argument("-o", "--output-file", metavar="FILE", help="write it here instead")
    schema.set_defaults(func=cmd_schema)


def _existing_documents(directory: str) -> list[dict[str, Any]]:
    from breakwater.controlplane.state.sources import load_policy_files

    path = Path(directory)
    if not path.exists():
        raise CommandFailed(f"--services {directory}: no such directory; give a policy directory")
    _, loaded = load_policy_files(path)
    valid = [raw.data for _, raw in loaded.documents if isinstance(raw.data, dict)]
    broken = {error.file for error in loaded.errors if error.kind in (None, "Service", "Gateway")}
    if broken:
        print(
            f"--services {directory}: documents with mistakes in {', '.join(sorted(broken))} "
            "were not used (`breakwater validate` lists them)",
            file=sys.stderr,
        )
    return valid


def cmd_import_istio(args: argparse.Namespace) -> int:
    from breakwater.importers.istio import import_istio
    from breakwater.translators.documents import SourceText

    sources = []
    for name in args.files:
        try:
            sources.append(SourceText(name, Path(name).read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as error:
            raise CommandFailed(f"cannot read {name}: {error}") from None
    existing = _existing_documents(args.services) if args.services else []
    result = import_istio(sources, existing, args.gateway)
    for problem in result.errors:
        print(problem, file=sys.stderr)
    if result.errors:
        noun = "error" if len(result.errors) == 1 else "errors"
        raise CommandFailed(f"{len(result.errors)} {noun}; nothing was written")
    texts = result.texts()
    if args.output_dir:
        out = Path(args.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        for name, text in texts.items():
            (out / name).write_text(text, encoding="utf-8")
        print(f"wrote {', '.join(str(out / n) for n in texts)}", file=sys.stderr)
    else:
        print("---\n".join(texts.values()), end="")
    if result.leftovers:
        print(f"could not carry over ({len(result.leftovers)}):", file=sys.stderr)
        for leftover in result.leftovers:
            print(f"  {leftover}", file=sys.stderr)
    if result.notes:
        print(f"check ({len(result.notes)}):", file=sys.stderr)
        for note in result.notes:
            print(f"  {note}", file=sys.stderr)
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from breakwater.schema import crds_yaml, json_schema_text

    text = crds_yaml() if args.crds else json_schema_text()
    if args.output_file:
        Path(args.output_file).write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    return 0


__all__ = ["add_format_commands", "cmd_import_istio", "cmd_schema"]
