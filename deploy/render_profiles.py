"""Render deploy/load-profiles.yaml: the ConfigMap holding profiles/*.yaml byte for byte, for the suite's pods.

    python deploy/render_profiles.py            # rewrite deploy/load-profiles.yaml from profiles/
    python deploy/render_profiles.py --check    # exit 1 when deploy/load-profiles.yaml is out of date

Each profile file becomes one key of the ConfigMap (its file name) holding the file's text as a YAML literal
block. The rendering is read back before it is written, so a file a literal block cannot carry exactly is
refused (exit 2) rather than deployed altered.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "profiles"
OUTPUT = ROOT / "deploy" / "load-profiles.yaml"
NAME = "trademate-load-profiles"
NAMESPACE = "trademate"
HEADER = f"""\
# GENERATED from profiles/*.yaml by deploy/render_profiles.py: do not edit, run `python deploy/render_profiles.py`.
# The suite's load profiles and SLA file, mounted at /app/profiles in its pods (master, workers and the
# performance-validation Job), so a profile can change without rebuilding the image. tests/deploy checks
# that the data equals profiles/ byte for byte.
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {NAME}
  namespace: {NAMESPACE}
  labels:
    app.kubernetes.io/name: trademate-load
    app.kubernetes.io/component: profiles
    app.kubernetes.io/part-of: trademate
data:
"""


def literal_block(text: str, indent: str = "    ") -> str:
    """``text`` as a YAML literal block scalar (the part after ``key: ``), chomping set by its trailing newlines."""
    body = text.rstrip("\n")
    trailing = len(text) - len(body)
    chomp = "-" if trailing == 0 else ("" if trailing == 1 else "+")
    lines = body.split("\n") + [""] * max(trailing - 1, 0)
    return f"|2{chomp}\n" + "".join(f"{indent}{line}\n" if line else "\n" for line in lines)


def profile_files(profiles: Path) -> dict[str, str]:
    """{file name: text} of every profiles/*.yaml, in name order; ValueError names a file that is not UTF-8."""
    files = {}
    for path in sorted(profiles.glob("*.yaml")):
        try:
            files[path.name] = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path.name}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    return files


def carried(name: str, content: str) -> str:
    """The ``  name: |...`` entry; ValueError when the YAML literal block would not give back ``content`` exactly."""
    entry = f"  {name}: {literal_block(content)}"
    try:
        back = yaml.safe_load(entry)
    except yaml.YAMLError as exc:
        raise ValueError(f"{name}: cannot be carried in a YAML literal block: {str(exc).splitlines()[0]}") from None
    if back != {name: content}:
        raise ValueError(f"{name}: its text does not survive a YAML literal block (CR line ends?)")
    return entry


def render(files: dict[str, str]) -> str:
    """The ConfigMap manifest; ValueError names a file a literal block would not reproduce exactly."""
    return HEADER + "".join(carried(name, content) for name, content in files.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=Path, default=PROFILES, help="directory of the profile files")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="the manifest to write or check")
    parser.add_argument("--check", action="store_true", help="only check that the manifest is up to date")
    args = parser.parse_args(argv)
    try:
        files = profile_files(args.profiles)
        if not files:
            raise ValueError("(directory): no *.yaml files")
        text = render(files)
    except ValueError as exc:
        print(f"{args.profiles}/{exc}", file=sys.stderr)
        return 2
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run python deploy/render_profiles.py", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({len(files)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
