"""No secret reaches the log: every command, button and alert once, at DEBUG, then a search of
every line the bot wrote for each configured secret and each access token AI Core issued.

Failures are provoked on the way (a Slack call that fails, an AI Core error) so that the
tracebacks and error paths are searched too, not only the happy ones.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

from bot.blocks import (
    ACTION_BULK_CANCEL,
    ACTION_BULK_CONFIRM,
    ACTION_DELETE,
    ACTION_LOGS,
    ACTION_REFRESH,
    ACTION_STOP,
    ACTION_STOP_THEN_DELETE,
)
from bot.providers.aicore.simulator import AICoreSimulator, ManualClock
from bot.providers.bria.simulator import BriaSimulator
from tests.support.bolt import buttons, flatten
from tests.support.fake_slack import FakeSlack
from tests.support.process import BotProcess, SignedSlackClient, bot_env
from tests.support.servers import ServedApp, free_port

CHANNEL = "CSECRETS"


def test_every_command_button_and_alert_logs_no_secret(tmp_path: Path) -> None:
    bot_token = "xoxb-" + secrets.token_hex(20)
    signing_secret = secrets.token_hex(16)
    client_secret = "aicore-" + secrets.token_hex(16)
    bria_token = "bria-" + secrets.token_hex(16)
    database_password = None  # SQLite: no password to leak
    sim = AICoreSimulator(
        clock=ManualClock(datetime.now(UTC)),
        client_secret=client_secret,
        pending_seconds=1,
        running_seconds=60,
        stopping_seconds=1,
    )
    sim.add_configuration("cfg-train", name="resnet-train", scenario_id="training")
    sim.add_configuration("cfg-dies", name="will-die", scenario_id="training", outcome="DEAD")
    sim.add_configuration("cfg-stuck", name="stuck", outcome="PENDING_FOREVER")
    bria = BriaSimulator(api_token=bria_token, training_seconds=3600)
    model = bria.add_model(bria.add_dataset(bria.add_project("brand")), name="brand-style")
    fake = FakeSlack(bot_token=bot_token)
    port = free_port()
    with (
        ServedApp(sim.app) as sim_server,
        ServedApp(fake.app) as slack_server,
        ServedApp(bria.app) as bria_server,
    ):
        env = bot_env(
            slack_url=slack_server.url,
            aicore_url=sim_server.url,
            database_url=f"sqlite:///{tmp_path / 'chatops.db'}",
            bot_token=bot_token,
            signing_secret=signing_secret,
            client_secret=client_secret,
            BRIA_API_TOKEN=bria_token,
            BRIA_BASE_URL=f"{bria_server.url}/v1",
            POLL_INTERVAL_SECONDS="0.3",
            PENDING_ALERT_SECONDS="1",
            PORT=str(port),
            PUBLIC_URL=f"http://127.0.0.1:{port}",
            LOG_LEVEL="DEBUG",
        )
        bot = BotProcess(env).start()
        slack = SignedSlackClient(
            bot.url, signing_secret, lambda: fake.response_url(slack_server.url)
        )
        try:

            def answered(url: str, count: int = 1) -> str:
                fake.wait_for_sync(lambda: len(fake.responses_for(url)) >= count, timeout=20)
                return flatten(fake.responses_for(url)[count - 1])

            def command(text: str, *, name: str = "/aicore") -> tuple[dict | str, str]:
                response, url = slack.command(text, channel=CHANNEL, command=name)
                assert response.status_code == 200, response.text
                return (response.json() if response.content else ""), url

            def seen(words: str) -> bool:
                return any(words in flatten(m.blocks or []) for m in fake.messages(CHANNEL))

            def click(action: str, value: str, ts: str | None = None) -> str:
                response, url = slack.click(action, value, channel=CHANNEL, message_ts=ts)
                assert response.status_code == 200
                return url

            # Commands, each once (answers awaited where there is one).
            command("help")
            command("stpo abcd1234")
            _, url = command("start cfg-train")
            answered(url)
            fake.wait_for_sync(lambda: fake.messages(CHANNEL, include_replies=False))
            card = fake.messages(CHANNEL, include_replies=False)[0]
            run_id = card.text.split()[2]
            for text in (
                f"status {run_id}",
                "list",
                f"logs {run_id} lines=5",
                "subscriptions",
                f"audit {run_id}",
            ):
                answered(command(text)[1])
            command(f"watch {run_id}")
            answered(command("subscribe only=DEAD")[1])
            answered(command("unsubscribe")[1])

            # Buttons on the card, each once.
            values = buttons(card.blocks)
            click(ACTION_REFRESH, values[ACTION_REFRESH]["value"], card.ts)
            click(ACTION_LOGS, values[ACTION_LOGS]["value"], card.ts)
            fake.wait_for_sync(lambda: bool(fake.views))
            sim.clock.advance(2)
            answered(click(ACTION_STOP, values[ACTION_STOP]["value"], card.ts))
            answered(click(ACTION_STOP_THEN_DELETE, values[ACTION_STOP]["value"], card.ts))
            done = sim.add_execution(configuration_id="cfg-train", status="COMPLETED")
            _, url = command(f"delete {done}")
            answered(url)
            token = buttons(fake.responses_for(url)[0]["blocks"])[ACTION_BULK_CONFIRM]["value"]
            answered(click(ACTION_BULK_CONFIRM, token))
            other = sim.add_execution(configuration_id="cfg-train", status="DEAD")
            _, url = command(f"delete {other}")
            answered(url)
            token = buttons(fake.responses_for(url)[0]["blocks"])[ACTION_BULK_CANCEL]["value"]
            answered(click(ACTION_BULK_CANCEL, token))
            answered(click(ACTION_DELETE, '{"p":"aicore","s":"default","r":"' + other + '"}'))

            # Alerts: a run that dies, one that stays PENDING; and failures on the way.
            _, url = command("start cfg-dies")
            answered(url)
            _, url = command("start cfg-stuck")
            answered(url)
            fake.fail("chat.update", status=500, times=2)
            sim.clock.advance(120)
            fake.wait_for_sync(lambda: seen(":rotating_light:"), timeout=30)
            fake.wait_for_sync(lambda: seen("has been PENDING for"), timeout=30)

            # Bria, each command once.
            _, url = command(f"train {model}", name="/bria")
            answered(url)
            for text in (f"status {model}", "list", f"stop {model}", "audit"):
                answered(command(text, name="/bria")[1])

            # A service that echoes credentials in an error (some do): the bot logs the
            # provider's message, and the scrubber must catch the tokens in it.
            echoed = f"token {sim.issued_tokens[-1]} rejected; also not {bot_token}"
            sim.inject_fault(
                status=403, method="GET", path_prefix="/lm/executions/", message=echoed
            )
            _, url = command("status abcd1234")
            answered(url)
        finally:
            slack.close()
            bot.stop()

    log = bot.log()
    assert " DEBUG " in log and "audit {" in log  # the search covers a detailed log
    assert "token [redacted] rejected; also not [redacted]" in log  # logged, and scrubbed
    issued = list(sim.issued_tokens)
    assert issued, "the bot never fetched an access token"
    for name, secret in {
        "SLACK_BOT_TOKEN": bot_token,
        "SLACK_SIGNING_SECRET": signing_secret,
        "AICORE_CLIENT_SECRET": client_secret,
        "BRIA_API_TOKEN": bria_token,
        **{f"access token {n}": token for n, token in enumerate(issued)},
    }.items():
        assert secret not in log, f"{name} is in the log"
    assert database_password is None
