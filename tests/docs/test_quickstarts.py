"""The README's quickstart and the Getting started page, run as written, with real processes.

Each page runs in a copy of deploy/ inside a temporary directory, through
`doc_runner` (whose docstring says how a page marks its answers and the
blocks it does not run), with the venv's `breakwater`, `envoy` and `python`
first on the PATH. The pages use the default ports, so the run happens in a
network namespace of its own, where they are always free and where nothing
it starts can meet another run; without namespaces it runs on the machine's
loopback when those ports are free, and is skipped, saying which, when not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from breakwater.controlplane.listen import in_use
from breakwater.defaults import ADMIN_PORT, ENVOY_ADMIN_PORT, HOST, XDS_PORT
from breakwater.devtools.upstream.policies import endpoints_of

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "deploy" / "examples"
PAGES = [("README.md", "## Quickstart"), ("docs/getting-started.md", None)]


def _gateway_ports() -> list[int]:
    ports = []
    for path in EXAMPLES.glob("*.yaml"):
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict) and document.get("kind") == "Gateway":
                ports.append(int(document["spec"]["port"]))
    return ports


def documented_ports() -> list[int]:
    upstreams, _ = endpoints_of(EXAMPLES)
    return sorted(
        {XDS_PORT, ADMIN_PORT, ENVOY_ADMIN_PORT, *_gateway_ports(), *(e.port for e in upstreams)}
    )


def _namespace() -> list[str] | None:
    """A command prefix that runs in a new network namespace with loopback up, if allowed."""
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if unshare is None or ip is None:
        return None
    for flags in (["--net"], ["--net", "--map-root-user"]):
        probe = subprocess.run(
            [unshare, *flags, ip, "link", "set", "lo", "up"], capture_output=True, timeout=10
        )
        if probe.returncode == 0:
            up = f'{ip} link set lo up && exec "$@"'
            return [unshare, *flags, "--kill-child", "sh", "-c", up, "sh"]
    return None


def _run_in_namespace(module: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`python -m MODULE... WORKDIR` in a network namespace, WORKDIR holding a copy of deploy/."""
    prefix = _namespace()
    if prefix is None:
        taken = [port for port in documented_ports() if in_use(HOST, port)]
        if taken:
            pytest.skip(f"no network namespace here, and the examples' ports {taken} are taken")
        prefix = []
    work = tmp_path / "checkout"
    shutil.copytree(ROOT / "deploy", work / "deploy")
    venv_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BREAKWATER_")}
    env.update(
        PATH=f"{venv_bin}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(tmp_path),
        XDG_DATA_HOME=str(tmp_path / "data"),
        PYTHONPATH=str(ROOT),
    )
    return subprocess.run(
        [*prefix, sys.executable, "-m", *module, str(work)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
    )


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("page", "section"), PAGES, ids=[p for p, _ in PAGES])
def test_the_page_runs_as_written(page: str, section: str | None, tmp_path: Path) -> None:
    module = ["tests.docs.doc_runner", str(ROOT / page), *([section] if section else [])]
    result = _run_in_namespace(module, tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-8000:]


@pytest.mark.timeout(120)
def test_the_examples_run_with_their_upstreams_and_no_service_fails(tmp_path: Path) -> None:
    """Traffic through a real Envoy: no 5xx anywhere, spans at the collector's OTLP sink."""
    result = _run_in_namespace(["tests.docs.examples_run"], tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-8000:]
