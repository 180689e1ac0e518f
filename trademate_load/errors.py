"""The error text of a sample: why a request failed, on one line, without per-request detail or secrets.

The text names the exception and its message, not the URL (a URL's query string varies per request and may carry
a token): a timeout is ``TimeoutError: timed out``, a refused connection ``ConnectionRefusedError: [Errno 111]
Connection refused``, a bad status ``BadStatusCode(code=503)``. Whatever is left passes :func:`scrub_secrets`, so
no token, API key or password reaches a sample, a report or a log. Nothing here imports locust.
"""

from __future__ import annotations

import re

MAX_ERROR_CHARS = 300
# What an exception's text may carry that must never reach a sample: the credentials after an auth scheme or an
# Authorization header, a URL's user:password@, and query parameters named like secrets: each becomes [redacted].
SECRETS = re.compile(
    r"(?i)(?P<keep>\bauthorization\s*[:=]\s*(?:(?:bearer|basic)\s+)?|\b(?:bearer|basic)\s+|\btoken\s*[:=]\s*"
    r"|[?&](?:access_token|token|api_?key|key|password|secret|auth|signature|sig)=)[^\s'\",;&#)]+"
    r"|(?P<userinfo>://)[^/\s@]+@"
)


def _redact(match: re.Match) -> str:
    return f"{match['keep']}[redacted]" if match["keep"] is not None else "://[redacted]@"


def scrub_secrets(text: str) -> str:
    """``text`` with bearer tokens, URL credentials and secret query parameters replaced by ``[redacted]``."""
    return SECRETS.sub(_redact, text)


def describe_error(exception: BaseException | None) -> str | None:
    """A short, single-line description of why a request failed, free of per-request detail such as the URL."""
    if exception is None:
        return None
    original = getattr(exception, "original", None)
    if isinstance(original, BaseException):  # geventhttpclient's RetriesExceeded: name the timeout or reset inside
        exception = original
    code = getattr(exception, "code", None)
    if isinstance(code, int):  # geventhttpclient's BadStatusCode: its text repeats the URL, query string and all
        return f"{type(exception).__name__}(code={code})"
    detail = exception.text if isinstance(getattr(exception, "text", None), str) else exception  # without the URL
    text = f"{type(exception).__name__}: {detail}".replace("\n", " ")
    return scrub_secrets(text)[:MAX_ERROR_CHARS]  # a header or URL in the text must not carry a token
