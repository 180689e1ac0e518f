"""deploy/Dockerfile and .dockerignore read without a container engine: the Dockerfile parsed into instructions,
.dockerignore's rules as Docker applies them, and the image's file system rebuilt by replaying the COPY instructions
from the repository (tests/deploy/test_dockerfile.py and test_suite_image.py check them)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
JOB = ROOT / "deploy" / "performance-validation.yaml"
SUITE = ROOT / "deploy" / "load-suite.yaml"
ENTRYPOINT = ["locust", "-f", "locustfiles/trademate.py"]
APP_UID = 10001


# Parsing


@dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str

    def words(self) -> list[str]:
        """The arguments: a JSON array (exec form) or shell words."""
        if self.value.startswith("["):
            return json.loads(self.value)
        return shlex.split(self.value)


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions in order; comments dropped, backslash continuations joined."""
    instructions, pending = [], ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, _, value = (pending + line).strip().partition(" ")
        instructions.append(Instruction(keyword.upper(), value.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return instructions


INSTRUCTIONS = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def of(keyword: str) -> list[Instruction]:
    return [ins for ins in INSTRUCTIONS if ins.keyword == keyword]


class DockerIgnore:
    """.dockerignore as Docker applies it: the last matching pattern wins, and a pattern that matches a
    directory matches everything under it; ``!`` re-includes, ``**`` spans directories."""

    def __init__(self, text: str):
        self.rules: list[tuple[re.Pattern, bool]] = []
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            include = line.startswith("!")
            pattern = str(PurePosixPath(line.lstrip("!").strip().lstrip("/")))
            self.rules.append((self._compile(pattern), include))

    @staticmethod
    def _compile(pattern: str) -> re.Pattern:
        out, i = [], 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                out.append("(?:.*/)?")
                i += 3
            elif pattern.startswith("**", i):
                out.append(".*")
                i += 2
            elif pattern[i] == "*":
                out.append("[^/]*")
                i += 1
            elif pattern[i] == "?":
                out.append("[^/]")
                i += 1
            else:
                out.append(re.escape(pattern[i]))
                i += 1
        return re.compile("".join(out) + r"\Z")

    def excluded(self, path: str) -> bool:
        parts = PurePosixPath(path).parts
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        verdict = False
        for rule, include in self.rules:
            if any(rule.match(candidate) for candidate in candidates):
                verdict = not include
        return verdict


IGNORE = DockerIgnore(DOCKERIGNORE.read_text(encoding="utf-8"))


def copies() -> list[tuple[list[str], str, str]]:
    """(sources, destination, workdir in force) of every COPY, in order."""
    workdir, found = "/", []
    for ins in INSTRUCTIONS:
        if ins.keyword == "WORKDIR":
            workdir = str(PurePosixPath(workdir, ins.value))
        elif ins.keyword == "COPY":
            words = [word for word in ins.words() if not word.startswith("--")]
            found.append((words[:-1], words[-1], workdir))
    return found


def build_tree(image_root: Path) -> None:
    """Replay every COPY from the repository into ``image_root``, through .dockerignore."""
    for sources, destination, workdir in copies():
        target = image_root / PurePosixPath(workdir, destination).relative_to("/")
        for source in sources:
            path = ROOT / source
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            for file in files:
                relative = file.relative_to(ROOT).as_posix()
                if IGNORE.excluded(relative):
                    continue
                inside = file.relative_to(path) if path.is_dir() else Path(file.name)
                out = target / inside if (path.is_dir() or destination.endswith("/")) else target
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, out)


def workdir_at_end() -> str:
    return str(PurePosixPath("/", *(ins.value for ins in of("WORKDIR"))))


def pins(name: str) -> dict[str, tuple[str, set[str]]]:
    """A requirements file's pins by normalised name: (version, extras); ``-r`` lines are not followed."""
    found = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-r"):
            requirement = Requirement(line)
            found[canonicalize_name(requirement.name)] = (str(requirement.specifier), set(requirement.extras))
    return found
