"""Logging that cannot leak secrets: every line written is scrubbed, traceback and stack included.

What is scrubbed: the configured secret values (:func:`secret_values`), every secret the bot
learns at run time and registers with :func:`redact` (the AI Core client's access tokens),
and anything that looks like a bearer credential or a Slack token, by pattern.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Iterable
from typing import IO

from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.errors import ConfigError
from bot.settings import Settings

REDACTED = "[redacted]"
# Shorter values would blank out ordinary words; a secret is never that short.
MIN_SECRET_LENGTH = 6
# Tokens learned at run time are kept this many at a time, newest kept: a process that runs
# for months refreshes its token thousands of times, and an expired token opens nothing.
MAX_RUNTIME_SECRETS = 64
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_B64TOKEN = r"A-Za-z0-9\-._~+/"  # RFC 6750's characters of a bearer token
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # An Authorization header or its value anywhere. A token has a digit or 16 characters
    # at least: "invalid bearer token" stays as it is.
    (
        re.compile(
            rf"(?i)\b(bearer)(\s+)(?=[{_B64TOKEN}]*[0-9]|[{_B64TOKEN}]{{16}})[{_B64TOKEN}]+=*"
        ),
        rf"\1\2{REDACTED}",
    ),
    # Slack's bot, user, app-configuration, refresh (xoxe) and legacy tokens; app tokens.
    (re.compile(r"\bxox[abeposr]-[A-Za-z0-9-]+"), REDACTED),
    (re.compile(r"\bxapp-[A-Za-z0-9-]+"), REDACTED),
)

_runtime_lock = threading.Lock()
_runtime_order: dict[str, None] = {}  # insertion order: the oldest goes first
# Read without the lock by every log call: one tuple, replaced whole under the lock.
_runtime_secrets: tuple[str, ...] = ()


def redact(value: str) -> None:
    """Scrub ``value`` from every log line of this process from now on.

    For secrets learned at run time (an OAuth access token as it arrives); callable from any
    thread. Values shorter than MIN_SECRET_LENGTH are ignored.
    """
    global _runtime_secrets
    if len(value) < MIN_SECRET_LENGTH:
        return
    with _runtime_lock:
        _runtime_order.pop(value, None)
        _runtime_order[value] = None
        while len(_runtime_order) > MAX_RUNTIME_SECRETS:
            del _runtime_order[next(iter(_runtime_order))]
        _runtime_secrets = tuple(_runtime_order)


class Redactor:
    """Scrubs text of the given secrets, of those registered with :func:`redact`, and of
    whatever the patterns recognise."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = frozenset(_usable(secrets))

    def scrub(self, text: str) -> str:
        # Longest first, so that a secret containing another one is replaced whole.
        for secret in sorted(self._secrets.union(_usable(_runtime_secrets)), key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


def _usable(secrets: Iterable[str]) -> set[str]:
    # A value inside REDACTED itself would be "found" again in every scrubbed line.
    return {s for s in secrets if len(s) >= MIN_SECRET_LENGTH and s not in REDACTED}


class RedactSecrets(logging.Filter):
    """Scrubs the record itself: its message, its traceback (rendered here if the handler's
    formatter has not yet) and its stack, so every handler after this one gets it clean."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._redactor = Redactor(secrets)
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        scrub = self._redactor.scrub
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            # Arguments that do not fit the format string: the handler's own formatting
            # reports it, and RedactingFormatter scrubs what it writes.
            message = None
        if message is not None:
            cleaned = scrub(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # What Formatter.format would render and cache on the record: rendered here once,
            # so that the cached text is the scrubbed one.
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


class RedactingFormatter(logging.Formatter):
    """Scrubs the finished line: message, traceback, stack and whatever else the format adds."""

    def __init__(self, fmt: str, secrets: Iterable[str]) -> None:
        super().__init__(fmt)
        self._redactor = Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return self._redactor.scrub(super().format(record))


def redacting_handler(secrets: list[str], stream: IO[str] | None = None) -> logging.Handler:
    """The bot's log handler (stderr unless ``stream``): scrubbed as the record is taken, and
    again as the line is written."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter(LOG_FORMAT, secrets))
    handler.addFilter(RedactSecrets(secrets))
    return handler


def secret_values(settings: Settings) -> list[str]:
    values = [v.get_secret_value() for v in settings.__dict__.values() if isinstance(v, SecretStr)]
    credentials = None
    try:
        credentials = settings.aicore_credentials()
    except ConfigError:  # a malformed setting is reported at start-up, not here
        credentials = None
    if credentials is not None:
        client_secret = credentials.client_secret.get_secret_value()
        values.append(client_secret)
        # The token request's Basic header carries id and secret together, base64-encoded.
        pair = f"{credentials.client_id}:{client_secret}".encode()
        values.append(base64.b64encode(pair).decode())
    password = _database_password(settings.database_url)
    if password:
        values.append(password)
    return values


def _database_password(database_url: str) -> str | None:
    try:
        return make_url(database_url).password
    except (ArgumentError, ValueError):
        return None


def configure_logging(settings: Settings) -> None:
    root = logging.getLogger()
    root.handlers[:] = [redacting_handler(secret_values(settings))]
    root.setLevel(settings.log_level)
    # httpx logs every request URL at INFO; useful at DEBUG only.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
    # Alembic narrates every plugin and migration at INFO; a start-up needs none of it.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
    # APScheduler logs each run of each job (every poll interval) at INFO.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))
