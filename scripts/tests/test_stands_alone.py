"""The repository stands alone: no file of it points outside it.

Users get a checkout and nothing else, so a README or comment that sends them to a document
beside the repository (a design or algorithm briefing, a paper's text file) sends them nowhere.
What they need is under docs/. This test reads every file git tracks (and new files not yet
added, unless ignored) and fails, naming file and line, on a path that climbs out of the
checkout into a sibling folder or on one of the briefing's file names.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Spelled in pieces so that this file does not match itself.
_BRIEFING_FILES = "|".join(name + r"\.md" for name in ("DESIGN", "TRAC", "STYLE", "USERS"))
FORBIDDEN = [
    (re.compile(r"\.\./(?:\.\./)*" + "shared"), "a path into a folder beside the repository"),
    (re.compile("shared" + r"/(?:docs|seeds)\b"), "a path into the briefing folder"),
    (re.compile(r"(?<![\w.-])(?:" + _BRIEFING_FILES + r")(?![\w-])"), "a briefing document as a file"),
    (re.compile("trac-paper" + r"\.txt"), "the paper's text file beside the repository"),
]


def repository_files() -> list[Path]:
    try:
        listed = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        pytest.skip(f"not a git checkout ({error})")
    paths = [ROOT / name for name in listed.decode().split("\0") if name]
    return [path for path in paths if path.is_file() and not path.is_symlink()]


def test_no_file_refers_outside_the_repository():
    files = repository_files()
    assert any(path.name == "README.md" for path in files), "git listed no README.md: wrong root?"
    problems = []
    for path in files:
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary
        text = data.decode("utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            for pattern, what in FORBIDDEN:
                match = pattern.search(line)
                if match:
                    problems.append(f"{path.relative_to(ROOT)}:{number}: {what}: {match.group(0)!r}")
    assert not problems, "files that refer outside the repository:\n" + "\n".join(problems)


def test_the_patterns_catch_what_they_are_for():
    """A test that cannot fail is a bug: each pattern matches its case and spares the docs."""
    up, beside = "..", "shared"
    bad = [
        f"The design is in `{up}/{beside}/docs/DESIGN" + ".md`.",
        f"see {up}/{up}/{beside}/seeds/trac-paper" + ".txt",
        f"{up}/{beside}/notes.md",
        "(TRAC" + ".md section 3)",
        "the algorithm (" + "DESIGN" + ".md section 4)",
        "USERS" + ".md complaint H",
    ]
    good = [
        "The grid format is in docs/GRID.md and the algorithm in docs/ALGORITHM.md.",
        "Sources/TracTrainer/Training/TrainingRun.swift writes run.json",
        "a shared BC stage; results are shared" + "/cached by run id",
    ]
    for line in bad:
        assert any(pattern.search(line) for pattern, _ in FORBIDDEN), line
    for line in good:
        assert not any(pattern.search(line) for pattern, _ in FORBIDDEN), line


def test_readme_links_to_docs_that_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"docs/[A-Za-z0-9_./-]+\.(?:md|json)", readme))
    for required in ("docs/GRID.md", "docs/ALGORITHM.md", "docs/FORMATS.md"):
        assert required in linked, f"README.md does not point to {required}"
    missing = sorted(name for name in linked if not (ROOT / name).is_file())
    assert not missing, f"README.md points to files that do not exist: {missing}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_between_docs_resolve():
    """Every `[text](FILE.md#anchor)` under docs/ names a file there and one of its headings."""
    docs = ROOT / "docs"
    problems = []
    for page in sorted(docs.glob("*.md")):
        for target, anchor in re.findall(r"\]\(([\w.-]+\.(?:md|json))(?:#([\w-]+))?\)", page.read_text()):
            file = docs / target
            if not file.is_file():
                problems.append(f"{page.name}: {target} does not exist")
                continue
            if anchor:
                headings = {_slug(line.lstrip("#")) for line in file.read_text().splitlines()
                            if line.startswith("#")}
                if anchor not in headings:
                    problems.append(f"{page.name}: {target}#{anchor} is no heading of {target}")
    assert not problems, "\n".join(problems)
