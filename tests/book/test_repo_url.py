"""The repository address lives in _config.yml only; every notebook's install line follows it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_script():
    spec = importlib.util.spec_from_file_location(
        "sync_repo_url", ROOT / "scripts/sync_repo_url.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sync_repo_url = load_script()


def test_no_notebook_drifted_from_the_configured_address():
    url = sync_repo_url.repository_url()
    drifted = {}
    for path in sync_repo_url.notebooks():
        wrong = [u for u in sync_repo_url.install_urls(path) if u != url]
        if wrong:
            drifted[str(path.relative_to(ROOT))] = wrong
    assert not drifted, f"run `python scripts/sync_repo_url.py`: {drifted}"


def test_every_chapter_has_an_install_line():
    chapters = sorted((ROOT / "chapters").glob("*.ipynb"))
    assert chapters
    for path in chapters:
        assert sync_repo_url.install_urls(path), f"{path.name} has no Colab install line"


def _fake_book(tmp_path: Path, config_url: str, notebook_url: str) -> Path:
    (tmp_path / "chapters").mkdir()
    (tmp_path / "_config.yml").write_text(f"repository:\n  url: {config_url}\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            'import sys\nif "google.colab" in sys.modules:\n'
            f'    %pip install -q "cnnbook @ git+{notebook_url}"\nimport cnnbook'
        ),
        nbformat.v4.new_markdown_cell('Text that mentions "cnnbook @ git+https://elsewhere"'),
    ]
    nbformat.write(nb, tmp_path / "chapters" / "01-x.ipynb")
    return tmp_path


def test_the_script_detects_and_repairs_drift(tmp_path):
    root = _fake_book(tmp_path, "https://github.com/new/place/", "https://github.com/old/place")
    path = root / "chapters" / "01-x.ipynb"
    url = sync_repo_url.repository_url(root)
    assert url == "https://github.com/new/place"
    assert sync_repo_url.notebooks(root) == [path]
    assert sync_repo_url.sync(path, url, write=False) is True  # --check: reports, keeps the file
    assert sync_repo_url.install_urls(path) == ["https://github.com/old/place"]
    assert sync_repo_url.sync(path, url) is True
    assert sync_repo_url.install_urls(path) == ["https://github.com/new/place"]
    assert sync_repo_url.sync(path, url) is False  # idempotent
    nb = nbformat.read(path, as_version=4)
    assert "https://elsewhere" in nb.cells[1].source  # markdown cells are left alone


def test_a_bad_configured_address_is_refused(tmp_path):
    root = _fake_book(tmp_path, "git@github.com:x/y.git", "https://github.com/x/y")
    with pytest.raises(ValueError, match="repository.url"):
        sync_repo_url.repository_url(root)


def test_check_mode_exit_code(tmp_path, monkeypatch, capsys):
    root = _fake_book(tmp_path, "https://github.com/a/b", "https://github.com/c/d")
    monkeypatch.setattr(sync_repo_url, "ROOT", root)
    monkeypatch.setattr(sync_repo_url, "repository_url", lambda r=root: "https://github.com/a/b")
    monkeypatch.setattr(sync_repo_url, "notebooks", lambda r=root: [root / "chapters/01-x.ipynb"])
    assert sync_repo_url.main(["--check"]) == 1
    assert "drifted from https://github.com/a/b" in capsys.readouterr().out
    assert sync_repo_url.main([]) == 0
    assert sync_repo_url.main(["--check"]) == 0
