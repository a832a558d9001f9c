"""The policy sources: each file read once, into the texts and the version replicas compare."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from breakwater.controlplane.state import sources
from breakwater.controlplane.state.sources import FileReads, load_policy_files, read_policy_files

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"


def _policies(root: Path) -> Path:
    shutil.copytree(EXAMPLES, root)
    (root / "routes").mkdir()
    (root / "routes.yaml").rename(root / "routes" / "routes.yaml")
    return root


def test_texts_are_keyed_by_relative_name_and_name_their_path(tmp_path: Path) -> None:
    root = _policies(tmp_path / "policies")
    files = read_policy_files(root)
    assert list(files.texts) == [
        "gateways.yaml",
        "resilience.yaml",
        "rollout.yaml",
        "routes/routes.yaml",
        "seed-guide.yaml",
        "services.yaml",
        "telemetry.yaml",
    ]
    routes = files.texts["routes/routes.yaml"]
    assert routes.path == str(root / "routes" / "routes.yaml")
    assert routes.text == (root / "routes" / "routes.yaml").read_text()
    assert files.errors == []


def test_the_version_hashes_relative_names_and_each_files_hash(tmp_path: Path) -> None:
    root = _policies(tmp_path / "policies")
    digest = hashlib.sha256()
    for name in read_policy_files(root).texts:
        content = hashlib.sha256((root / name).read_bytes()).digest()
        digest.update(name.encode() + b"\0" + content)
    assert read_policy_files(root).version == digest.hexdigest()[:16]


def test_replicas_that_mount_the_files_elsewhere_agree_on_the_version(tmp_path: Path) -> None:
    one = _policies(tmp_path / "one")
    other = _policies(tmp_path / "mounted" / "elsewhere")
    assert read_policy_files(one).version == read_policy_files(other).version
    (other / "routes" / "routes.yaml").rename(other / "routes.yaml")
    assert read_policy_files(one).version != read_policy_files(other).version


def test_each_file_is_opened_once_per_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _policies(tmp_path / "policies")
    opened: list[Path] = []
    real_open = Path.open

    def counting_open(path: Path, *args: object, **kwargs: object) -> object:
        opened.append(path)
        return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "open", counting_open)
    files, loaded = load_policy_files(root)
    assert loaded.policyset is not None, loaded.errors
    assert sorted(opened) == sorted(root / name for name in files.texts)


def _opening(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    opened: list[Path] = []
    real_open = Path.open

    def counting_open(path: Path, *args: object, **kwargs: object) -> object:
        opened.append(path)
        return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "open", counting_open)
    return opened


def _age(root: Path, seconds: float) -> None:
    """Every file last modified `seconds` ago, as files an operator wrote a while back."""
    for file in root.rglob("*.yaml"):
        stat = file.stat()
        os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns - int(seconds * 1e9)))


def test_a_read_opens_only_the_files_whose_stat_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _policies(tmp_path / "policies")
    _age(root, 60)
    kept = FileReads()
    first = read_policy_files(root, kept)
    opened = _opening(monkeypatch)
    assert read_policy_files(root, kept) == first
    assert opened == []
    routes = root / "routes" / "routes.yaml"
    routes.write_text(routes.read_text() + "# an edit\n")
    (root / "telemetry.yaml").unlink()
    opened.clear()
    again = read_policy_files(root, kept)
    assert opened == [routes]
    assert again.texts["routes/routes.yaml"].text.endswith("# an edit\n")
    assert "telemetry.yaml" not in again.texts
    assert again.version == read_policy_files(root).version != first.version
    assert again.texts["services.yaml"] is first.texts["services.yaml"]  # reused as it was


def test_a_file_written_in_the_same_tick_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that keeps the size and times (the file system's clock did not tick) is not
    missed: a file modified just before it was read is hashed again on the next read."""
    root = _policies(tmp_path / "policies")
    services = root / "services.yaml"
    services.write_bytes(services.read_bytes())  # written just now
    kept = FileReads()
    read_policy_files(root, kept)
    before, stat = sources._stat(services), sources._stat
    services.write_bytes(services.read_bytes().replace(b"port: 18081", b"port: 18099", 1))
    monkeypatch.setattr(sources, "_stat", lambda file: before if file == services else stat(file))
    assert "port: 18099" in read_policy_files(root, kept).texts["services.yaml"].text


def test_line_endings_do_not_change_the_text(tmp_path: Path) -> None:
    (tmp_path / "lf.yaml").write_bytes(b"kind: Service\nspec: {}\n")
    (tmp_path / "crlf.yaml").write_bytes(b"kind: Service\r\nspec: {}\r\n")
    (tmp_path / "cr.yaml").write_bytes(b"kind: Service\rspec: {}\r")
    texts = {name: source.text for name, source in read_policy_files(tmp_path).texts.items()}
    assert set(texts.values()) == {"kind: Service\nspec: {}\n"}


def test_a_file_over_the_limit_is_refused_after_reading_one_byte_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "MAX_FILE_BYTES", 10)
    (tmp_path / "big.yaml").write_text("#" * 1000)
    files = read_policy_files(tmp_path)
    assert files.texts == {}
    assert [(e.file, e.line, e.message) for e in files.errors] == [
        (str(tmp_path / "big.yaml"), 1, "file is larger than 10 bytes; split it")
    ]


def test_a_single_file_is_its_own_source() -> None:
    files, loaded = load_policy_files(EXAMPLES / "services.yaml")
    assert list(files.texts) == [""]
    assert files.texts[""].path == str(EXAMPLES / "services.yaml")
    assert loaded.policyset is not None and len(loaded.policyset.services) == 5


def test_a_missing_source_is_one_located_error(tmp_path: Path) -> None:
    files, loaded = load_policy_files(tmp_path / "nope")
    assert files.texts == {} and loaded.policyset is None
    assert [str(e) for e in loaded.errors] == [
        f"{tmp_path / 'nope'}:0: no such file or directory; give a policy directory"
    ]
