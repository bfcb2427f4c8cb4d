"""The collection tarball that `ansible-galaxy collection build` makes holds what a
user needs and none of the developer files or caches of a checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# Caches and build output a checkout collects; a fresh clone has none of them.
JUNK = [
    ".ruff_cache/x",
    ".pytest_cache/x",
    "tests/unit/.pytest_cache/x",
    ".ansible/x",
    ".cache/x",
    ".mypy_cache/x",
    ".venv/x",
    "build/x",
    "tests/output/x",
    "changelogs/.plugin-cache.yaml",
    "plugins/modules/__pycache__/x.pyc",
    "tests/unit/__pycache__/x.pyc",
    "virtops-libvirt-0.0.1.tar.gz",
]

# Files of the development set-up: no use to someone who installs the collection.
DEVELOPER_FILES = [
    "Makefile",
    "mypy.ini",
    "tests/check_home_untouched.sh",
    "ansible.cfg",
    "ruff.toml",
    "requirements-test.txt",
    ".gitignore",
    "tests/run_all.sh",
    "playbooks/demo.yml",  # `make demo`: needs tests/testbed
    "playbooks/demo_migrate.yml",
    "playbooks/demo_vm.yml",
]
DEVELOPER_DIRS = [".ci", "tests/perf", "tests/corpus", "tests/testbed", "build", ".venv", "tests/output"]
CACHE_NAMES = {".ruff_cache", ".pytest_cache", ".mypy_cache", ".ansible", ".cache", "__pycache__"}

EXPECTED = [
    "MANIFEST.json",
    "FILES.json",
    "COPYING",
    "README.md",
    "requirements.txt",
    "bindep.txt",
    "meta/runtime.yml",
    "meta/execution-environment.yml",
    "plugins/modules/virt_power.py",
    "docs/virt_power.md",
    "changelogs/changelog.yaml",
]
EXPECTED_DIRS = ["docs", "tests/unit", "tests/integration", "tests/sanity", "extensions/molecule", "roles/domains"]


def _ansible_galaxy() -> str:
    beside = os.path.join(os.path.dirname(sys.executable), "ansible-galaxy")
    path = beside if os.access(beside, os.X_OK) else shutil.which("ansible-galaxy")
    assert path is not None, "ansible-galaxy not found: it comes with ansible-core (make setup installs it)"
    return path


def _checkout_files() -> list[str]:
    """The tracked files and the untracked ones git does not ignore, as the sanity stage copies them."""
    if not os.path.exists(os.path.join(ROOT, ".git")):
        # These tests also ship in the tarball; an installed collection is the built package
        # already, with no checkout whose build_ignore could be checked.
        pytest.skip("an installed collection, not a checkout: nothing to build")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    assert listed.returncode == 0, f"git ls-files failed in the checkout: {listed.stderr.decode()}"
    return [name for name in listed.stdout.decode().split("\0") if name]


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> str:
    """The tarball built from a copy of the checkout plus junk."""
    base = tmp_path_factory.mktemp("package")
    src = base / "virtops" / "libvirt"
    for name in _checkout_files():
        origin = os.path.join(ROOT, name)
        if not os.path.lexists(origin):  # deleted in the work tree, not yet in the index
            continue
        target = src / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, target, follow_symlinks=False)
    for name in JUNK:
        target = src / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"junk\n")

    home = base / "ansible-home"  # ansible-galaxy writes tmp/ and galaxy_cache/ there, not in ~/.ansible
    env = dict(
        os.environ,
        ANSIBLE_HOME=str(home),
        ANSIBLE_LOCAL_TEMP=str(home / "tmp"),
        ANSIBLE_GALAXY_CACHE_DIR=str(home / "galaxy_cache"),
        XDG_CACHE_HOME=str(base / "cache"),
    )
    env.pop("ANSIBLE_CONFIG", None)
    out = base / "out"
    built = subprocess.run(
        [_ansible_galaxy(), "collection", "build", "--output-path", str(out), str(src)],
        cwd=str(src),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (path,) = out.glob("virtops-libvirt-*.tar.gz")
    return str(path)


@pytest.fixture(scope="module")
def members(tarball) -> set[str]:
    with tarfile.open(tarball) as tar:
        return {member.name.rstrip("/") for member in tar.getmembers()}


def test_no_developer_files(members):
    shipped = sorted(name for name in members if name in DEVELOPER_FILES or any(name == d or name.startswith(d + "/") for d in DEVELOPER_DIRS))
    assert shipped == []


def test_no_caches_or_hidden_files(members):
    shipped = sorted(
        name for name in members if any(part in CACHE_NAMES or part.startswith(".") for part in name.split("/")) or name.endswith((".pyc", ".tar.gz"))
    )
    assert shipped == []


def test_user_files_present(members):
    assert [name for name in EXPECTED if name not in members] == []
    assert [d for d in EXPECTED_DIRS if not any(name.startswith(d + "/") for name in members)] == []


def test_licence(tarball):
    with tarfile.open(tarball) as tar:
        text = tar.extractfile("COPYING").read().decode()
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    assert "GNU GENERAL PUBLIC LICENSE" in text and "Version 3, 29 June 2007" in text
    assert manifest["collection_info"]["license"] == ["GPL-3.0-or-later"]
