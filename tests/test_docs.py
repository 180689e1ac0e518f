"""The documents: every relative link resolves, the README stays a front door, nothing cites a document elsewhere.

Links are read from README.md, docs/*.md and deploy/README.md: inline links ``[text](target)`` and reference
definitions ``[label]: target``, outside fenced code blocks and code spans. A link with a scheme (``https:``,
``mailto:``) is not checked. A relative link must name an existing file or directory inside the repository, and its
``#anchor`` a heading of the target Markdown file, slugged as GitHub does (lower case, punctuation dropped, each
space a hyphen, ``-1``, ``-2`` ... on repeated headings). Each failure names the file, the line and the link.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_MAX_LINES = 250  # the README is the front door; the manual lives in docs/
# Documents outside the repository that earlier texts cited; built up so that this file does not cite them itself.
FOREIGN = ("DESIGN" + ".md", "NOTES" + ".md", ".." + "/shared")

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)
INLINE_LINK = re.compile(r"\]\(\s*(<[^>\n]*>|[^)\s]+)(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]\n]+\]:\s*(<[^>\n]*>|\S+)", re.M)
ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:|^//")
LINE_ANCHOR = re.compile(r"^L\d+(-L\d+)?$")  # GitHub's anchors into a source file's lines


def documents() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "deploy" / "README.md"]


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def prose(text: str) -> str:
    """``text`` with fenced code blocks and code spans blanked out, line breaks kept (so offsets keep their line)."""
    lines, fence = [], None
    for line in text.split("\n"):
        opening = FENCE.match(line)
        if fence is None and opening:
            fence = opening.group(1)[0] * len(opening.group(1))
            lines.append("")
        elif fence is not None:
            if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                fence = None
            lines.append("")
        else:
            lines.append(line)
    return CODE_SPAN.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), "\n".join(lines))


def heading_texts(text: str) -> list[str]:
    """The text of each heading (ATX ``#`` and setext underlined), in order, code blocks excluded."""
    lines, fence, headings = text.split("\n"), None, []
    for i, line in enumerate(lines):
        opening = FENCE.match(line)
        if fence is None and opening:
            fence = opening.group(1)[0] * len(opening.group(1))
            continue
        if fence is not None:
            if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                fence = None
            continue
        atx = ATX.match(line)
        if atx:
            headings.append(atx.group(2) or "")
        elif (
            SETEXT.match(line)
            and i > 0
            and lines[i - 1].strip()
            and not ATX.match(lines[i - 1])
            and not FENCE.match(lines[i - 1])
            and "|" not in lines[i - 1]
        ):
            headings.append(lines[i - 1].strip())
    return headings


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its rendered text, lower case, without punctuation, spaces as hyphens."""
    parts = re.split(r"(`+[^`]*?`+)", heading)
    text = ""
    for part in parts:
        if part.startswith("`"):
            text += part.strip("`").strip()
        else:
            part = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", part)  # a link or image: its text
            part = re.sub(r"<[^>]+>", "", part)  # inline HTML
            part = re.sub(r"\*+|(?<!\w)_+|_+(?!\w)", "", part)  # emphasis marks
            text += part
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> list[str]:
    seen: dict[str, int] = {}
    result = []
    for heading in heading_texts(path.read_text(encoding="utf-8")):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        result.append(base if n == 0 else f"{base}-{n}")
    return result


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every link in ``path`` outside code."""
    text = prose(path.read_text(encoding="utf-8"))
    found = [(m.start(1), m.group(1)) for m in INLINE_LINK.finditer(text)]
    found += [(m.start(1), m.group(1)) for m in REFERENCE.finditer(text)]
    return [(text.count("\n", 0, offset) + 1, target.strip("<>")) for offset, target in sorted(found)]


def link_problem(document: Path, target: str) -> str | None:
    """Why ``target``, a link in ``document``, does not resolve; None when it does or is not relative."""
    if SCHEME.match(target):
        return None
    path_part, _, anchor = target.partition("#")
    resolved = (document.parent / unquote(path_part)).resolve() if path_part else document
    if resolved != ROOT and ROOT not in resolved.parents:
        return f"{rel(document)} links outside the repository"
    if not resolved.exists():
        return f"no such file: {rel(resolved)}"
    if not anchor:
        return None
    anchor = unquote(anchor)
    if resolved.is_file() and resolved.suffix.lower() == ".md":
        known = anchors(resolved)
        if anchor not in known:
            return f"no heading #{anchor} in {rel(resolved)} (its anchors: {', '.join(known) or 'none'})"
        return None
    if resolved.is_file() and LINE_ANCHOR.match(anchor):
        return None
    return f"#{anchor}: {rel(resolved)} is not a Markdown file, so the anchor cannot be checked"


@pytest.mark.parametrize("document", documents(), ids=rel)
def test_every_relative_link_resolves(document: Path) -> None:
    assert document.is_file(), f"{rel(document)} is missing"
    problems = [
        f"{rel(document)}:{line}: ({target}) -> {problem}"
        for line, target in links(document)
        if (problem := link_problem(document, target)) is not None
    ]
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_readme_is_a_front_door_under_250_lines_linking_every_document() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) < README_MAX_LINES, (
        f"README.md has {len(lines)} lines, at most {README_MAX_LINES - 1} allowed: move the manual into docs/"
    )
    linked = {(README.parent / target.partition("#")[0]).resolve() for _line, target in links(README)}
    unlinked = [rel(doc) for doc in sorted((ROOT / "docs").glob("*.md")) if doc.resolve() not in linked]
    assert not unlinked, f"README.md does not link {', '.join(unlinked)}"


def test_the_slugs_are_githubs() -> None:
    assert slug("Early decisions: `abort_on_fail` and `stop_when_decided`") == (
        "early-decisions-abort_on_fail-and-stop_when_decided"
    )
    assert slug("Live SLA figures: the web UI's SLA tab and Prometheus") == (
        "live-sla-figures-the-web-uis-sla-tab-and-prometheus"
    )
    assert slug("`samples.parquet`: the sample columns") == "samplesparquet-the-sample-columns"
    assert slug("Fault injection (testing the suite itself)") == "fault-injection-testing-the-suite-itself"
    assert slug("The *run* [directory](x.md)") == "the-run-directory"


def test_the_link_check_names_file_line_and_link(tmp_path: Path) -> None:
    """The checker itself: a broken file, a broken anchor and a link in code are told apart."""
    docs = ROOT / "docs"
    sample = "# Title\n\nSee [a](architecture.md#no-such-heading), [b](missing.md), [c](#title).\n\n`[d](nowhere.md)`\n"
    document = docs / "architecture.md"  # resolved against docs/, read from a scratch copy
    scratch = tmp_path / "doc.md"
    scratch.write_text(sample, encoding="utf-8")
    found = links(scratch)
    assert found == [(3, "architecture.md#no-such-heading"), (3, "missing.md"), (3, "#title")]
    assert "no heading #no-such-heading in docs/architecture.md" in (link_problem(document, found[0][1]) or "")
    assert link_problem(document, found[1][1]) == "no such file: docs/missing.md"
    assert link_problem(document, "https://example.com/x.md#y") is None


def tracked_files() -> list[Path]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
        ).stdout.decode()
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"no git checkout to list the tracked files ({exc})")
    return [ROOT / name for name in listed.split("\0") if name]


def test_no_tracked_file_cites_a_document_outside_the_repository() -> None:
    files = {*tracked_files(), *documents()}
    found = []
    for path in sorted(files):
        if not path.is_file():
            continue  # deleted in the work tree
        data = path.read_bytes()
        for name in FOREIGN:
            if name.encode() not in data:
                continue
            for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
                if name in line:
                    found.append(f"{rel(path)}:{number}: cites {name}: {line.strip()[:120]}")
    assert not found, "documents outside the repository cited:\n" + "\n".join(found)
