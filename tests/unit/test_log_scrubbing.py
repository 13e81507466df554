"""The bot's log handler writes no secret: not in a message, a traceback or a stack, and not the
access tokens it obtains at run time either."""

from __future__ import annotations

import base64
import io
import logging
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from pydantic import SecretStr

from bot import logging_setup
from bot.logging_setup import (
    MAX_RUNTIME_SECRETS,
    REDACTED,
    RedactSecrets,
    redact,
    redacting_handler,
    secret_values,
)
from bot.providers.aicore.client import AICoreClient
from bot.providers.aicore.simulator import AICoreSimulator
from bot.settings import AICoreCredentials, Settings

SECRET = "s3cr3t-configured-value"


@dataclass
class Log:
    logger: logging.Logger
    stream: io.StringIO

    @property
    def text(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def log() -> Iterator[Log]:
    """A logger of its own with the bot's handler on a string: nothing else writes there,
    and nothing of it reaches the root logger."""
    stream = io.StringIO()
    handler = redacting_handler([SECRET], stream)
    logger = logging.getLogger(f"test.scrubbing.{uuid.uuid4().hex}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield Log(logger, stream)
    finally:
        logger.removeHandler(handler)


def test_a_configured_secret_in_a_message_is_redacted(log: Log) -> None:
    log.logger.warning("connecting with %s", SECRET)
    assert SECRET not in log.text and f"connecting with {REDACTED}" in log.text


def fail_with(secret: str) -> None:
    raise RuntimeError(f"the service refused {secret}")


def test_a_secret_in_a_logged_exception_is_redacted(log: Log) -> None:
    try:
        fail_with(SECRET)
    except RuntimeError:
        log.logger.exception("call failed")
    assert "Traceback (most recent call last)" in log.text
    assert f"RuntimeError: the service refused {REDACTED}" in log.text
    assert SECRET not in log.text


def test_a_secret_in_the_cause_of_an_exception_is_redacted(log: Log) -> None:
    try:
        try:
            fail_with(SECRET)
        except RuntimeError as exc:
            raise ValueError("wrapped") from exc
    except ValueError as exc:
        log.logger.error("call failed", exc_info=exc)
    assert "The above exception was the direct cause" in log.text
    assert SECRET not in log.text


def checkpoint(log: Log, *, note: str) -> None:
    log.logger.info("checkpoint", stack_info=True)


def test_a_secret_in_stack_info_is_redacted(log: Log) -> None:
    # The stack shows the caller's source line, and this one holds the secret.
    checkpoint(log, note="s3cr3t-configured-value")
    assert "Stack (most recent call last)" in log.text and "checkpoint(log, note=" in log.text
    assert SECRET not in log.text


def test_a_record_made_elsewhere_is_scrubbed_in_every_field(log: Log) -> None:
    try:
        fail_with(SECRET)
    except RuntimeError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "elsewhere", logging.ERROR, __file__, 1, "a %s", (SECRET,), exc_info, sinfo=SECRET
    )
    for handler in log.logger.handlers:
        handler.handle(record)
    assert log.text.count(REDACTED) >= 3 and SECRET not in log.text
    # The record itself is clean too, for any handler after this one (it keeps the traceback).
    assert SECRET not in record.getMessage()
    assert record.exc_text is not None and SECRET not in record.exc_text
    assert record.stack_info is not None and SECRET not in record.stack_info


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("headers={'Authorization': 'Bearer eyJhbGciOi.J9-x_y~z+/ab=='}", f"'Bearer {REDACTED}'"),
        ("authorization: bearer abc123", f"bearer {REDACTED}"),
        ("Authorization: Bearer opaqueTokenWithoutDigits", f"Bearer {REDACTED}"),
        ("bot token xoxb-fake-test-token in use", f"bot token {REDACTED} in use"),
        ("user token xoxp-fake-test", f"user token {REDACTED}"),
        ("rotating xoxe.xoxp-fake-refresh", f"rotating xoxe.{REDACTED}"),
        ("app token xapp-fake-test", f"app token {REDACTED}"),
    ],
)
def test_bearer_credentials_and_slack_tokens_are_redacted_by_pattern(
    log: Log, line: str, shown: str
) -> None:
    log.logger.info(line)
    assert shown in log.text
    for token_part in ("eyJ", "abc123", "opaque", "AbCd", "Mi0y", "-ff", "A0TEST"):
        assert token_part not in log.text


def test_words_near_the_patterns_are_left_alone(log: Log) -> None:
    line = 'token_type "bearer"; expired bearer token; xoxz-not-a-token; xapp without a dash'
    log.logger.info(line)
    assert line in log.text


def test_a_secret_registered_at_run_time_is_redacted_from_then_on(log: Log) -> None:
    learned = f"learned-{uuid.uuid4().hex}"
    log.logger.info("before: %s", learned)
    redact(learned)
    log.logger.info("after: %s", learned)
    assert f"before: {learned}" in log.text  # nothing could know it yet
    assert f"after: {REDACTED}" in log.text


def test_short_values_are_not_registered_and_old_ones_are_forgotten(log: Log) -> None:
    redact("abc")
    first = f"oldest-{uuid.uuid4().hex}"
    redact(first)
    for _ in range(MAX_RUNTIME_SECRETS):
        redact(f"newer-{uuid.uuid4().hex}")
    log.logger.info("abc %s", first)
    assert f"abc {first}" in log.text
    assert len(logging_setup._runtime_secrets) == MAX_RUNTIME_SECRETS


async def test_an_access_token_from_the_ai_core_simulator_is_redacted(log: Log) -> None:
    sim = AICoreSimulator()
    credentials = AICoreCredentials(
        client_id=sim.client_id,
        client_secret=SecretStr(sim.client_secret),
        auth_url="http://aicore.sim/oauth/token",
        base_url="http://aicore.sim/v2",
        source="test",
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as http:
        client = AICoreClient(credentials=credentials, http=http)
        await client.list_executions("default")
    (token,) = sim.issued_tokens
    # A careless line: a request's headers, and the token on its own.
    log.logger.info("sent %s", {"Authorization": f"Bearer {token}"})
    log.logger.warning("token %s was refused", token)
    assert token not in log.text
    assert f"token {REDACTED} was refused" in log.text


def test_the_basic_credentials_of_the_token_request_are_secret_values() -> None:
    settings = Settings(
        _env_file=None,
        aicore_client_id="cid-1",
        aicore_client_secret="csecret-1",
        aicore_auth_url="http://aicore.test/oauth/token",
        aicore_base_url="http://aicore.test/v2",
    )
    values = secret_values(settings)
    assert "csecret-1" in values
    assert base64.b64encode(b"cid-1:csecret-1").decode() in values


def test_the_filter_alone_still_takes_a_list_of_secrets() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s", (SECRET,), None)
    assert RedactSecrets([SECRET]).filter(record)
    assert record.getMessage() == REDACTED
