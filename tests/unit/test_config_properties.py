"""Property tests of reading a configuration file (``trademate_load.config``): any damaged file is one ConfigError
line naming the file and the field.

Hypothesis builds files that are no YAML mapping (non-UTF-8 bytes, any bytes or text, YAML syntax damage, empty
files, tags the parser cannot build); every one must give :class:`ConfigError` whose text is one line naming the
file and the field, never another exception. A few bad files also go through the real command line (exit 2, one
stderr line, no traceback).
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.config_cases import BASE, PROPERTY, SLA, outcome, refused, with_value, write

ROOT = Path(__file__).resolve().parents[2]


@PROPERTY
@given(
    st.sampled_from(["p.yaml", "sla.yaml"]),
    st.integers(min_value=0),
    st.sampled_from([b"\xff", b"\xc3\x28", b"\x80", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xe2\x82"]),
)
def test_non_utf8_bytes_are_refused(which, position, junk):
    profile, sla = yaml.safe_dump(BASE).encode(), yaml.safe_dump(SLA).encode()
    text = profile if which == "p.yaml" else sla
    text = text[: position % len(text)] + junk + text[position % len(text) :]
    exc = refused(*((text, sla) if which == "p.yaml" else (profile, text)))
    assert Path(exc.path).name == which and exc.field == "(file)" and "UTF-8" in exc.message, str(exc)


@PROPERTY
@given(st.binary(max_size=64))
def test_any_bytes_are_refused_cleanly(content):
    refused(content)


@PROPERTY
@given(st.text(max_size=64))
def test_any_text_is_refused_cleanly(content):
    refused(content.encode())


@PROPERTY
@given(st.integers(min_value=0), st.text(alphabet=":{}[],&*!|>'\"%@`#?-\t\x00\x85\u2028 \n", min_size=1, max_size=3))
def test_yaml_damage_loads_or_is_refused_cleanly(position, junk):
    text = yaml.safe_dump(BASE, default_flow_style=False)
    outcome((text[: position % len(text)] + junk + text[position % len(text) :]).encode())


@pytest.mark.parametrize("content", [b"", b"   \n", b"# only a comment\n", b"---\n", b"~\n"])
def test_an_empty_file_is_refused(content):
    exc = refused(content)
    assert exc.field == "(file)" and "empty" in exc.message, str(exc)


@pytest.mark.parametrize(
    ("content", "field", "words"),
    [
        (b"run_time: !!int soon\n", "(file)", "not valid YAML"),
        (b"run_time: !!timestamp x\n", "(file)", "not valid YAML"),
        (b"run_time: !!float x\n", "(file)", "not valid YAML"),
        (b"run_time: !!python/object:os.system 1\n", "line 1", "not valid YAML"),
        (b"a: \x00\n", "(file)", "not valid YAML"),
        (b"[" * 2000, "(file)", "nested too deeply"),
        (b"name: t\n\tbad: 1\n", "line 2", "not valid YAML"),
        (b"--- 1\n--- 2\n", "line 2", "not valid YAML"),
    ],
)
def test_yaml_the_parser_chokes_on_is_refused(content, field, words):
    exc = refused(content)
    assert exc.field == field and words in exc.message, str(exc)


# Through the real command line: exit 2, one line on stderr naming file and field, no traceback.
CLI_CASES = {
    "not-utf8": (yaml.safe_dump(BASE).encode() + b"\xff\xfe\n", "p.yaml: (file): not UTF-8"),
    "syntax": (b"name: t\ntiers: {premium: [\n", "p.yaml: line 3: not valid YAML"),
    "typo": (yaml.safe_dump({**BASE, "spawnrate": 1}).encode(), "p.yaml: spawnrate: unknown key; did you mean"),
    "nan": (yaml.safe_dump(with_value(BASE, ("tiers", "premium", "rps"), math.nan)).encode(), "tiers.premium.rps"),
    "sla-negative": (
        yaml.safe_dump({**BASE, "sla": "bad_sla.yaml"}).encode(),
        "bad_sla.yaml: tiers.premium.p95_ms: must not be negative",
    ),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_validate_on_the_command_line_exits_2_with_one_line(tmp_path, case):
    content, expected = CLI_CASES[case]
    write(tmp_path, "sla.yaml", SLA)
    write(tmp_path, "bad_sla.yaml", with_value(SLA, ("tiers", "premium", "p95_ms"), -5))
    path = write(tmp_path, "p.yaml", content)
    done = subprocess.run(
        [sys.executable, "-m", "trademate_load", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: {tmp_path}") and expected in lines[0], lines[0]
