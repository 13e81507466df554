"""An acknowledged request stays acknowledged whatever its after-ack work does.

Found with hostile requests: a failed ``views.open`` (an expired trigger) or a missing
``response_url`` raised in the work after the acknowledgement. Here each is sent through Bolt's
dispatch: the acknowledgement is a 200, the user hears what happened where they can, and the
job is not logged as a bug.
"""

from __future__ import annotations

import json
import logging

import pytest
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.blocks import ACTION_LOGS, ACTION_STOP
from tests.support.bolt import SIGNING_SECRET, Slack, flatten
from tests.support.slack_signing import button_click_body, sign, slash_command_body


@pytest.fixture
def slack(wired, fake_slack, sim) -> Slack:
    fake, served = fake_slack
    return Slack(wired, fake, served, sim)


def ref(run_id: str) -> str:
    return json.dumps({"p": "aicore", "s": "default", "r": run_id})


async def test_a_logs_click_whose_modal_cannot_open_is_still_acked_and_answered(
    slack: Slack, sim, caplog: pytest.LogCaptureFixture
) -> None:
    run = sim.add_execution(configuration_id="cfg-train", status="RUNNING")
    slack.fake.fail("views.open", status=200, error="expired_trigger_id")
    with caplog.at_level(logging.INFO):
        ack = await slack.click(ACTION_LOGS, ref(run))
    assert ack.status == 200
    assert "could not be opened in time" in await slack.reply_text()
    assert f"/aicore logs {run}" in await slack.reply_text()
    assert "setting it aside" not in caplog.text


async def test_a_click_without_a_response_url_is_acked_and_not_a_bug(
    slack: Slack, sim, wired, caplog: pytest.LogCaptureFixture
) -> None:
    run = sim.add_execution(configuration_id="cfg-train", status="RUNNING")
    body = button_click_body(
        action_id=ACTION_STOP,
        value=ref(run),
        user_id="U123",
        channel_id="C123",
        message_ts=None,
        response_url="",
    )
    with caplog.at_level(logging.INFO):
        response = await wired.bolt.async_dispatch(
            AsyncBoltRequest(body=body.decode(), headers=sign(SIGNING_SECRET, body))
        )
        await slack.settle()
    assert response.status == 200
    assert "setting it aside" not in caplog.text


async def test_a_command_without_a_channel_is_refused_in_words_not_a_500(wired) -> None:
    fields = dict(x.split("=", 1) for x in slash_command_body(text="list").decode().split("&"))
    fields.pop("channel_id")
    body = "&".join(f"{k}={v}" for k, v in fields.items()).encode()
    response = await wired.bolt.async_dispatch(
        AsyncBoltRequest(body=body.decode(), headers=sign(SIGNING_SECRET, body))
    )
    assert response.status == 200
    assert "incomplete" in flatten(json.loads(response.body))
    assert wired.db is not None


async def test_a_listener_that_raises_still_answers_slack_and_logs_the_bug(
    wired, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(ack, command) -> None:  # a bug a future listener might have
        raise KeyError("boom")

    wired.bolt.command("/broken")(broken)
    body = slash_command_body(command="/broken", text="")
    with caplog.at_level(logging.ERROR):
        response = await wired.bolt.async_dispatch(
            AsyncBoltRequest(body=body.decode(), headers=sign(SIGNING_SECRET, body))
        )
    assert response.status == 200  # a 5xx makes Slack retry and show a generic failure
    answer = json.loads(response.body)
    assert answer["response_type"] == "ephemeral" and "nothing was done" in answer["text"]
    assert "listener failed" in caplog.text and "KeyError" in caplog.text
