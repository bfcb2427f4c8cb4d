"""The changelog fragments read like the changelog of the release they go into.

antsibull-changelog lists new modules, plugins and roles by itself (from their
``version_added``), so a fragment announcing one repeats it. Before the first
release nothing has been released that could be fixed, broken, deprecated or
removed, so fragments then describe the collection as a user of it sees it.
"""

from __future__ import annotations

import glob
import os
import re

import yaml

CHANGELOGS = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "changelogs"))
NOT_BEFORE_FIRST_RELEASE = {
    "bugfixes",
    "security_fixes",
    "breaking_changes",
    "deprecated_features",
    "removed_features",
}
# "virt_power - new module that ...", "libvirt inventory plugin - new inventory plugin ..."
NEW_CONTENT = re.compile(r"^[^\n]* - new (\w+ )?(module|plugin|role)\b", re.IGNORECASE)


def _fragments() -> dict[str, dict]:
    paths = sorted(glob.glob(os.path.join(CHANGELOGS, "fragments", "*.yml")))  # none right after a release
    fragments = {}
    for path in paths:
        with open(path, encoding="utf-8") as stream:
            fragments[os.path.basename(path)] = yaml.safe_load(stream) or {}
    return fragments


def _released() -> bool:
    with open(os.path.join(CHANGELOGS, "changelog.yaml"), encoding="utf-8") as stream:
        return bool((yaml.safe_load(stream) or {}).get("releases"))


def test_no_new_content_entries():
    repeated = [
        f"{name}: {entry.split(' - ')[0]}"
        for name, fragment in _fragments().items()
        for section, entries in fragment.items()
        if isinstance(entries, list) and not section.startswith("add ")
        for entry in entries
        if isinstance(entry, str) and NEW_CONTENT.match(entry)
    ]
    assert repeated == [], "antsibull-changelog lists new modules, plugins and roles from their version_added"


def test_nothing_fixed_before_the_first_release():
    # Once a release exists, fixes of it are welcome: the rule holds only before the first one.
    unreleased = (
        [] if _released() else [f"{name}: {section}" for name, fragment in _fragments().items() for section in fragment if section in NOT_BEFORE_FIRST_RELEASE]
    )
    assert unreleased == [], (
        "nothing is released yet, so nothing can be fixed, broken, deprecated or removed for a user: "
        "describe the behaviour under major_changes or minor_changes, or leave the fragment out"
    )


def test_one_release_summary():
    summaries = [name for name, fragment in _fragments().items() if "release_summary" in fragment]
    assert len(summaries) <= 1, summaries
    if not _released():
        assert len(summaries) == 1, "the first release needs a release_summary"
