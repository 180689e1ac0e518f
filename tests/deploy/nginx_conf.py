"""deploy/nginx/trademate.conf as the nginx tests read it: a small nginx.conf reader, enough structure to find a
directive in its context."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = ROOT / "deploy" / "nginx" / "trademate.conf"
PERFORMANCE = ROOT / "deploy" / "performance-config.yaml"
STUB = Path(__file__).with_name("stub_upstream.py")
PLACEHOLDERS = {"shared": "127.0.0.1:8001", "premium": "127.0.0.1:8002"}
LISTEN = "listen 8080"
TIMEOUTS = ("proxy_connect_timeout", "proxy_send_timeout", "proxy_read_timeout")
START_TIMEOUT_S = 5.0

_TOKEN = re.compile(r"""\s+|#[^\n]*|"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([{};])|([^\s{};"']+)""")
_DURATION = re.compile(r"^(\d+)(ms|s|m|h)?$")
_SECONDS = {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}


# A small nginx.conf reader: enough structure to find a directive in its context.


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = None

    def find(self, name: str, *args: str) -> Directive:
        found = [d for d in self.block or [] if d.name == name and tuple(d.args[: len(args)]) == args]
        assert len(found) == 1, f"expected one `{name} {' '.join(args)}` in `{self.name}`, found {len(found)}"
        return found[0]

    def value(self, name: str) -> str:
        (value,) = self.find(name).args
        return value

    def all(self, name: str) -> list[Directive]:
        return [d for d in self.block or [] if d.name == name]


def parse_nginx(text: str) -> Directive:
    """The configuration as a tree of directives under a synthetic ``main`` block."""
    stack = [Directive("main", [], [])]
    words: list[str] = []
    for match in _TOKEN.finditer(text):
        double, single, punct, word = match.groups()
        if word is not None or double is not None or single is not None:
            words.append(next(part for part in (double, single, word) if part is not None))
        elif punct == ";":
            stack[-1].block.append(Directive(words[0], words[1:]))
            words = []
        elif punct == "{":
            child = Directive(words[0], words[1:], [])
            stack[-1].block.append(child)
            stack.append(child)
            words = []
        elif punct == "}":
            assert not words, f"unterminated directive {words}"
            stack.pop()
    assert len(stack) == 1 and not words, "unbalanced braces"
    return stack[0]


def seconds(duration: str) -> float:
    number, unit = _DURATION.match(duration).groups()
    return int(number) * _SECONDS[unit]


CONF = parse_nginx(NGINX_CONF.read_text(encoding="utf-8"))
HTTP = CONF.find("http")
SERVER = HTTP.find("server")
TIER_LOCATIONS = {"shared": SERVER.find("location", "/"), "premium": SERVER.find("location", "@premium")}
