"""Logging that cannot leak secrets: every record is scrubbed of the configured secret values."""

from __future__ import annotations

import logging

from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.errors import ConfigError
from bot.settings import Settings

REDACTED = "[redacted]"


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        cleaned = message
        for secret in self._secrets:
            cleaned = cleaned.replace(secret, REDACTED)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def secret_values(settings: Settings) -> list[str]:
    values = [v.get_secret_value() for v in settings.__dict__.values() if isinstance(v, SecretStr)]
    credentials = None
    try:
        credentials = settings.aicore_credentials()
    except ConfigError:  # a malformed setting is reported at start-up, not here
        credentials = None
    if credentials is not None:
        values.append(credentials.client_secret.get_secret_value())
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
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secret_values(settings)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # httpx logs every request URL at INFO; useful at DEBUG only.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
    # Alembic narrates every plugin and migration at INFO; a start-up needs none of it.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
    # APScheduler logs each run of each job (every poll interval) at INFO.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))
