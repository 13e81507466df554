"""/aicore through Bolt's dispatch: acks, refusals without AI Core calls, and the answers."""

from __future__ import annotations

import pytest

from bot.blocks import ACTION_BULK_CANCEL, ACTION_BULK_CONFIRM, ACTION_DELETE, ACTION_STOP
from tests.support.bolt import Slack, buttons, flatten


@pytest.fixture
def slack(wired, fake_slack, sim) -> Slack:
    fake, served = fake_slack
    return Slack(wired, fake, served, sim)


def mutating_calls(sim) -> list:
    return [r for r in sim.requests if r.method in ("POST", "PATCH", "DELETE")]


async def test_help_is_acked_privately_with_usage_and_no_ai_core_call(slack: Slack, sim) -> None:
    ack = await slack.command("")
    assert ack.status == 200
    assert ack.body["response_type"] == "ephemeral"
    assert "/aicore start <configuration name or ID>" in ack.text
    assert "`/aicore start` — pick a configuration in a form" in ack.text
    assert sim.requests == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("strat cfg-train", "Did you mean `/aicore start`?"),
        ("stop", "Give at least one execution ID"),
        ("delete " + " ".join(f"exec{i:04d}" for i in range(101)), "at most 100"),
        ("status no", "not a valid execution ID"),
        ("logs abcd1234 lines=-3", "from 1 to 1000"),
    ],
)
async def test_malformed_commands_get_a_clear_answer_and_zero_ai_core_calls(
    slack: Slack, sim, text: str, expected: str
) -> None:
    ack = await slack.command(text)
    assert ack.status == 200
    assert expected in ack.text
    assert ack.body["response_type"] == "ephemeral"
    assert sim.requests == []
    assert slack.fake.calls_to("chat.postMessage") == []


async def test_start_acks_at_once_then_posts_a_card_with_stop(slack: Slack, sim) -> None:
    ack = await slack.command("start cfg-train")
    assert "Starting configuration `cfg-train`" in ack.text
    await slack.fake.wait_for(lambda: slack.fake.messages("C123"))
    card = slack.fake.messages("C123")[0]
    assert "PENDING" in card.text
    assert set(buttons(card.blocks)) == {"run_stop", "run_logs", "run_refresh"}
    assert buttons(card.blocks)["run_stop"]["confirm"]["confirm"]["text"] == "Stop it"
    assert "<@U123>" in flatten(card.blocks)
    assert "Started execution" in await slack.reply_text()
    assert len(sim.calls("POST", "/lm/executions")) == 1


async def test_start_of_an_unknown_configuration_shows_ai_cores_message_and_request_id(
    slack: Slack, sim
) -> None:
    await slack.command("start cfg-nope")
    text = await slack.reply_text()
    assert ":warning:" in text and "requestId" in text and "cfg-nope" in text
    assert slack.fake.messages("C123") == []
    assert sim.calls("POST", "/lm/executions") == []


async def test_status_answers_privately_with_the_card(slack: Slack, sim) -> None:
    run_id = sim.add_execution(configuration_id="cfg-train")
    sim.set_status(run_id, "COMPLETED")
    await slack.command(f"status {run_id}")
    answer = (await slack.replies())[0]
    assert answer["response_type"] == "ephemeral"
    assert "COMPLETED" in flatten(answer)
    assert set(buttons(answer["blocks"])) == {
        "run_delete",
        "run_logs",
        "run_refresh",
        "run_rerun",
        "run_rerun_changes",
    }


async def test_status_of_an_unknown_id_says_not_found_with_request_id(slack: Slack) -> None:
    await slack.command("status abcd0000")
    text = await slack.reply_text()
    assert "requestId" in text and "HTTP 404" in text


async def test_stopping_one_running_execution_needs_no_confirmation(slack: Slack, sim) -> None:
    run_id = sim.add_execution(configuration_id="cfg-train", status="RUNNING")
    await slack.command(f"stop {run_id}")
    assert "1 accepted" in await slack.reply_text()
    assert len(sim.calls("PATCH", f"/lm/executions/{run_id}")) == 1


async def test_stopping_a_finished_run_is_refused_without_a_change(slack: Slack, sim) -> None:
    run_id = sim.add_execution(configuration_id="cfg-train", status="COMPLETED")
    await slack.command(f"stop {run_id}")
    text = await slack.reply_text()
    assert "is *COMPLETED*" in text and "Nothing was changed" in text
    assert mutating_calls(sim) == []


async def test_deleting_a_running_run_is_refused_and_nothing_is_asked(slack: Slack, sim) -> None:
    run_id = sim.add_execution(configuration_id="cfg-train", status="RUNNING")
    await slack.command(f"delete {run_id}")
    text = await slack.reply_text()
    assert "stop it first" in text
    assert ACTION_BULK_CONFIRM not in str((await slack.replies())[0])
    assert mutating_calls(sim) == []


async def test_bulk_delete_asks_then_deletes_only_eligible_runs_once(slack: Slack, sim) -> None:
    dead = sim.add_execution(configuration_id="cfg-train", status="DEAD")
    done = sim.add_execution(configuration_id="cfg-train", status="COMPLETED")
    running = sim.add_execution(configuration_id="cfg-train", status="RUNNING")
    await slack.command(f"delete {dead} {done} {running} {dead} zzzz9999")
    question = (await slack.replies())[0]
    text = flatten(question)
    assert "Delete 2 AI Core runs?" in text
    assert f"`{running}` RUNNING" in text and "zzzz9999" in text and "counted once" in text
    assert mutating_calls(sim) == []

    confirm = buttons(question["blocks"])[ACTION_BULK_CONFIRM]
    await slack.click(ACTION_BULK_CONFIRM, confirm["value"], ephemeral=True)
    summary = flatten((await slack.replies())[0])
    assert "2 accepted, 0 refused" in summary
    assert sim.execution_status(dead) is None and sim.execution_status(done) is None
    assert sim.execution_status(running) == "RUNNING"

    await slack.click(ACTION_BULK_CONFIRM, confirm["value"], ephemeral=True)
    assert "already handled" in flatten((await slack.replies())[0])
    # One bulk PATCH (the simulator reports bulkUpdates), and nothing for the second click.
    assert [(r.method, r.path) for r in mutating_calls(sim)] == [("PATCH", "/lm/executions")]


async def test_only_the_requester_can_confirm(slack: Slack, sim) -> None:
    a = sim.add_execution(configuration_id="cfg-train", status="RUNNING")
    b = sim.add_execution(configuration_id="cfg-train", status="RUNNING")
    await slack.command(f"stop {a} {b}")
    question = (await slack.replies())[0]
    token = buttons(question["blocks"])[ACTION_BULK_CONFIRM]["value"]
    await slack.click(ACTION_BULK_CONFIRM, token, user="U999", ephemeral=True)
    assert "Only <@U123>" in flatten((await slack.replies())[0])
    assert mutating_calls(sim) == []


async def test_cancel_changes_nothing(slack: Slack, sim) -> None:
    a = sim.add_execution(configuration_id="cfg-train", status="RUNNING")
    b = sim.add_execution(configuration_id="cfg-train", status="PENDING")
    await slack.command(f"stop {a} {b}")
    token = buttons((await slack.replies())[0]["blocks"])[ACTION_BULK_CANCEL]["value"]
    await slack.click(ACTION_BULK_CANCEL, token, ephemeral=True)
    assert "nothing was stopped" in flatten((await slack.replies())[0])
    assert mutating_calls(sim) == []


async def test_confirm_rechecks_status_and_leaves_runs_that_moved(slack: Slack, sim) -> None:
    a = sim.add_execution(configuration_id="cfg-train", status="RUNNING")
    b = sim.add_execution(configuration_id="cfg-train", status="RUNNING")
    await slack.command(f"stop {a} {b}")
    token = buttons((await slack.replies())[0]["blocks"])[ACTION_BULK_CONFIRM]["value"]
    sim.set_status(b, "COMPLETED")  # finished while the user was reading
    await slack.click(ACTION_BULK_CONFIRM, token, ephemeral=True)
    summary = flatten((await slack.replies())[0])
    assert "1 accepted" in summary and f"`{b}` COMPLETED" in summary
    assert sim.execution_status(b) == "COMPLETED"


async def test_list_counts_by_status(slack: Slack, sim) -> None:
    for status in ("RUNNING", "RUNNING", "DEAD"):
        sim.add_execution(configuration_id="cfg-train", status=status)
    await slack.command("list")
    text = await slack.reply_text()
    assert "RUNNING: *2*" in text and "DEAD: *1*" in text


async def test_logs_shows_the_last_lines(slack: Slack, sim) -> None:
    run_id = sim.add_execution(configuration_id="cfg-train", status="RUNNING")
    sim.add_logs(run_id, [f"epoch {i} loss={1 / (i + 1):.3f}" for i in range(30)])
    await slack.command(f"logs {run_id} lines=5")
    text = await slack.reply_text()
    assert "epoch 29" in text and "epoch 25" in text and "epoch 24 " not in text


async def test_card_stop_button_on_a_finished_run_answers_out_of_date(slack: Slack, sim) -> None:
    await slack.command("start cfg-train")
    await slack.fake.wait_for(lambda: slack.fake.messages("C123"))
    card = slack.fake.messages("C123")[0]
    run_id = card.text.split()[2]
    sim.set_status(run_id, "COMPLETED")
    value = buttons(card.blocks)[ACTION_STOP]["value"]
    await slack.click(ACTION_STOP, value, message_ts=card.ts)
    assert "out of date" in await slack.reply_text()
    await slack.fake.wait_for(lambda: "COMPLETED" in slack.fake.messages("C123")[0].text)
    assert ACTION_DELETE in buttons(slack.fake.messages("C123")[0].blocks)
    assert mutating_calls(sim) == [r for r in mutating_calls(sim) if r.method == "POST"]


async def test_card_logs_button_opens_a_modal_then_fills_it(slack: Slack, sim) -> None:
    run_id = sim.add_execution(configuration_id="cfg-train", status="RUNNING")
    sim.add_logs(run_id, ["hello from the trainer"])
    value = f'{{"p":"aicore","s":"default","r":"{run_id}"}}'
    await slack.click("run_logs", value, message_ts="1700000000.000100")
    await slack.fake.wait_for(lambda: slack.fake.calls_to("views.update"))
    view = next(iter(slack.fake.views.values()))
    assert "hello from the trainer" in flatten(view["blocks"])


async def test_runs_left_alone_by_a_stop_are_in_the_audit_trail(slack: Slack, sim, wired) -> None:
    done = sim.add_execution(configuration_id="cfg-train", status="COMPLETED")
    running = sim.add_execution(configuration_id="cfg-train", status="RUNNING")
    await slack.command(f"stop {done} {running} gone1234")
    await slack.replies()
    trail = {
        (shown.entry.target, shown.entry.result.value, shown.entry.user)
        for shown in await wired.deps.audit.latest(scope="default")
    }
    assert trail == {(done, "refused_status", "U123"), ("gone1234", "failed", "U123")}
