"""The sandbox page in a real browser (headless chromium), driving ``python -m bot``.

What a newcomer does on the page: the slash-command menu and help, ``demo-train`` to
COMPLETED, ``demo-fail`` to its DEAD alert and log page, a stop behind the confirm dialog, a
bulk delete with its confirmation, the Logs modal, and switching the acting user. The card, the
alert and the confirm dialog are also saved under ``docs/`` for the README.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import browser, wait_for  # noqa: F401 - the fixture
from tests.support.process import BotProcess
from tests.support.sandbox import running_sandbox

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[BotProcess]:
    with running_sandbox() as bot:
        yield bot


@pytest.fixture
def page(browser: Any, sandbox: BotProcess) -> Any:  # noqa: F811
    browser.get(f"{sandbox.url}/")
    browser.execute_script("localStorage.clear()")
    browser.get(f"{sandbox.url}/")
    wait_for(browser, lambda: browser.execute_script("return document.body.dataset.ready"))
    return browser


def by_css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def type_command(driver: Any, text: str) -> None:
    from selenium.webdriver.common.keys import Keys

    box = by_css(driver, "#composer-input")[0]
    box.clear()
    box.send_keys(text)
    box.send_keys(Keys.ENTER)


def message_with(driver: Any, words: str, *, root: str = "#messages") -> Any:
    """The newest message under ``root`` whose text has ``words``, once there is one."""
    script = """
        const [root, words] = arguments;
        const found = [...document.querySelectorAll(root + ' article.message')]
            .filter((m) => m.textContent.replace(/\\s+/g, ' ').includes(words));
        return found[found.length - 1] || null;
    """
    return wait_for(driver, lambda: driver.execute_script(script, root, words), timeout=30)


def card_of(driver: Any, run_id: str, status: str) -> Any:
    """The run's status card (the message with fields) once it shows ``status``."""
    script = """
        const [runId, status] = arguments;
        return [...document.querySelectorAll('#messages article.message')].find((m) =>
            m.querySelector('.bk-fields') && m.textContent.includes(runId)
            && m.querySelector('.bk-text b')?.textContent === status) || null;
    """
    return wait_for(driver, lambda: driver.execute_script(script, run_id, status), timeout=30)


def on_card(driver: Any, run_id: str, status: str, act: Any) -> Any:
    """``act(card)`` on the run's card, found again if the page redrew it meanwhile."""
    from selenium.common.exceptions import StaleElementReferenceException

    for _ in range(20):
        card = card_of(driver, run_id, status)
        try:
            return act(card)
        except StaleElementReferenceException:
            continue  # a thread reply arrived and the card was drawn anew
    raise AssertionError(f"the card of {run_id} kept changing")


def started_run(driver: Any, configuration: str) -> str:
    """Start ``configuration`` from the composer; the new run's ID, from the bot's answer."""
    count = """
        return [...document.querySelectorAll('#messages article.message')]
            .filter((m) => m.textContent.includes('Started execution')).length;
    """
    before = driver.execute_script(count)
    type_command(driver, f"/aicore start {configuration}")
    wait_for(driver, lambda: driver.execute_script(count) > before, timeout=30)
    started = message_with(driver, "Started execution")
    found = re.search(r"Started execution ([\w.-]+)", started.text)
    assert found, started.text
    return found.group(1)


def button(element: Any, label: str) -> Any:
    """The button ``label`` of ``element``; a redrawn element raises (the caller finds it
    again: see :func:`on_card`) instead of being waited on in vain."""
    from selenium.common.exceptions import StaleElementReferenceException

    def find() -> Any:
        try:
            buttons = element.find_elements("css selector", "button")
            return next((b for b in buttons if b.text == label), None)
        except StaleElementReferenceException as exc:
            return exc

    found = wait_for(element.parent, find)
    if isinstance(found, StaleElementReferenceException):
        raise found
    return found


def test_the_command_menu_suggests_subcommands_and_help_answers_privately(page: Any) -> None:
    box = by_css(page, "#composer-input")[0]
    box.send_keys("/aic")
    menu = wait_for(page, lambda: by_css(page, "#suggestions li"))
    assert menu[0].text.startswith("/aicore")
    box.send_keys("ore st")
    wait_for(
        page,
        lambda: any("start <name or ID>" in li.text for li in by_css(page, "#suggestions li")),
    )
    type_command(page, "/aicore help")
    answer = message_with(page, "SAP AI Core executions")
    assert "Only visible to you" in answer.text


def test_demo_train_runs_to_completed_on_one_card(page: Any) -> None:
    run_id = started_run(page, "demo-train")
    card = card_of(page, run_id, "COMPLETED")
    # RUNNING, COMPLETED, and the chart of its metrics
    wait_for(page, lambda: "3 replies" in card_of(page, run_id, "COMPLETED").text)
    text = on_card(page, run_id, "COMPLETED", lambda c: c.text)
    assert "Train a small model" in text
    on_card(page, run_id, "COMPLETED", lambda c: c.screenshot(str(DOCS / "sandbox-card.png")))
    on_card(page, run_id, "COMPLETED", lambda c: c.find_element("css selector", ".replies").click())
    del card
    thread = wait_for(page, lambda: by_css(page, "#thread:not(.hidden) article.message"))
    assert any("is now *RUNNING*" in m.text or "is now RUNNING" in m.text for m in thread)
    loaded = """
        const image = document.querySelector('#thread:not(.hidden) figure.file img');
        return image && image.complete && image.naturalWidth > 0 ? image.naturalWidth : null;
    """
    assert wait_for(page, lambda: page.execute_script(loaded)) >= 500  # the PNG, drawn
    caption = text_with(page, "Metrics of", root="#thread")
    assert "loss" in caption and "accuracy" in caption
    message_with(page, "Metrics of", root="#thread").screenshot(str(DOCS / "sandbox-chart.png"))


def test_demo_fail_raises_the_dead_alert_with_its_log_page(page: Any) -> None:
    run_id = started_run(page, "demo-fail")
    alert = message_with(page, f"{run_id} is DEAD")
    assert "CUDA out of memory" in alert.text
    assert "Likely cause: The process ran out of memory" in alert.text  # the triage
    assert "replied to a thread" in alert.text  # broadcast to the channel
    alert.screenshot(str(DOCS / "sandbox-dead-alert.png"))
    link = wait_for(
        page,
        lambda: next(
            (a for a in alert.find_elements("css selector", "a") if "full logs" in a.text), None
        ),
    )
    page.get(link.get_attribute("href"))
    wait_for(page, lambda: "CUDA out of memory" in page.page_source)


def test_stop_asks_in_slacks_confirm_dialog_first(page: Any) -> None:
    run_id = started_run(page, "demo-queue")
    on_card(page, run_id, "PENDING", lambda c: button(c, "Stop").click())
    dialog = wait_for(page, lambda: by_css(page, "#confirm-layer:not(.hidden) .dialog"))[0]
    assert "Stop this run?" in dialog.text
    dialog.screenshot(str(DOCS / "sandbox-confirm.png"))
    button(dialog, "Stop it").click()
    card_of(page, run_id, "STOPPED")


def test_a_bulk_delete_is_confirmed_first_and_then_reported(page: Any) -> None:
    first, second = started_run(page, "demo-fail"), started_run(page, "demo-fail")
    message_with(page, f"{first} is DEAD")
    message_with(page, f"{second} is DEAD")
    type_command(page, f"/aicore delete {first} {second}")
    confirmation = message_with(page, "Delete 2 AI Core runs?")
    assert "Only visible to you" in confirmation.text
    button(confirmation, "Confirm: delete 2").click()
    report = message_with(page, "2 accepted")
    assert first in report.text and second in report.text


def test_the_logs_button_opens_a_modal(page: Any) -> None:
    run_id = started_run(page, "demo-queue")
    on_card(page, run_id, "PENDING", lambda c: button(c, "Logs").click())
    shown = "return document.querySelector('#modal-layer:not(.hidden) .dialog')?.textContent"
    # The modal opens at once ("Fetching…") and is updated with the lines: wait for them.
    text = wait_for(page, lambda: (t := page.execute_script(shown)) and "log lines" in t and t)
    assert run_id in text and "Pulling image" in text
    button(by_css(page, "#modal-layer .dialog")[0], "Close").click()
    wait_for(page, lambda: not by_css(page, "#modal-layer:not(.hidden)"))


def test_switching_the_acting_user_shows_what_that_user_sees(page: Any) -> None:
    from selenium.webdriver.support.ui import Select

    type_command(page, "/aicore list")
    message_with(page, "AI Core runs in")  # the list, not an earlier test's confirmation
    Select(by_css(page, "#act-as")[0]).select_by_value("U0SANDBOX2")
    wait_for(
        page,
        lambda: all(
            "AI Core runs in" not in m.text and "Only visible to you" not in m.text
            for m in by_css(page, "#messages article.message")
        ),
    )
    type_command(page, "/aicore help")
    answer = message_with(page, "SAP AI Core executions")
    assert "Only visible to you" in answer.text


# The page's requests for alice's view are held back, so that one is still on its way when the
# switch to bob has been drawn.
HOLD_BACK_ALICE = """
    const original = window.fetch;
    window.heldBack = { started: 0, answered: 0 };
    window.fetch = async (url, options) => {
        const response = await original(url, options);
        if (String(url).includes("/sandbox/api/state?user=U0SANDBOX1")) {
            window.heldBack.started += 1;
            await new Promise((resolve) => setTimeout(resolve, 1500));
            setTimeout(() => { window.heldBack.answered += 1; });
        }
        return response;
    };
"""


EPHEMERALS_OF_BOB = """
    const done = arguments[arguments.length - 1];
    fetch("/sandbox/api/state?user=U0SANDBOX2").then((r) => r.json()).then((state) => done(
        Object.values(state.messages).flat().filter((m) => m.ephemeral).map((m) => m.ts)));
"""


def test_a_late_answer_for_the_previous_user_does_not_come_back_after_a_switch(page: Any) -> None:
    from selenium.webdriver.support.ui import Select

    page.execute_script(HOLD_BACK_ALICE)
    type_command(page, "/aicore help")  # its answer redraws the page: a request as alice
    wait_for(page, lambda: page.execute_script("return window.heldBack.started") >= 1)
    Select(by_css(page, "#act-as")[0]).select_by_value("U0SANDBOX2")
    try:
        wait_for(
            page,
            lambda: page.execute_script(
                "return window.heldBack.answered === window.heldBack.started"
            ),
        )
        drawn = {m.get_attribute("data-ts") for m in by_css(page, "#messages .ephemeral")}
        assert drawn <= set(page.execute_async_script(EPHEMERALS_OF_BOB)), "alice's view is back"
    finally:
        Select(by_css(page, "#act-as")[0]).select_by_value("U0SANDBOX1")


def test_acting_as_the_guest_a_click_on_someone_elses_card_is_refused(page: Any) -> None:
    from selenium.webdriver.support.ui import Select

    run_id = started_run(page, "demo-queue")  # alice's run
    Select(by_css(page, "#act-as")[0]).select_by_value("U0SANDBOX3")  # carol, a guest
    try:
        on_card(page, run_id, "PENDING", lambda c: button(c, "Stop").click())
        dialog = wait_for(page, lambda: by_css(page, "#confirm-layer:not(.hidden) .dialog"))[0]
        button(dialog, "Stop it").click()
        refusal = message_with(page, "does not let you stop in resource group")
        assert "Only visible to you" in refusal.text
        card_of(page, run_id, "PENDING")  # nothing was done
    finally:
        Select(by_css(page, "#act-as")[0]).select_by_value("U0SANDBOX1")


def test_the_start_form_suggests_configurations_and_starts_a_changed_copy(page: Any) -> None:
    type_command(page, "/aicore start")
    box = wait_for(page, lambda: by_css(page, "#modal-layer:not(.hidden) .bk-external-input"))[0]
    box.click()
    box.send_keys("small")  # the options are the bot's answer to a block_suggestion
    click_found(
        page,
        lambda: next(
            (o for o in by_css(page, ".bk-external-option") if "Train a small model" in o.text),
            None,
        ),
    )
    rate = "#modal-layer [data-block-id$='.learning_rate'] input"
    field = wait_for(page, lambda: by_css(page, rate))[0]  # the pick's parameters follow
    assert field.get_attribute("value") == "0.001"
    by_css(page, "#modal-layer .dialog")[0].screenshot(str(DOCS / "sandbox-start-form.png"))
    field.clear()
    field.send_keys("0.01")
    button(by_css(page, "#modal-layer .dialog")[0], "Start").click()
    answer = message_with(page, "of the new configuration")
    run_id = re.search(r"Started execution ([\w.-]+)", answer.text)
    assert run_id, answer.text
    card = card_of(page, run_id.group(1), "PENDING")
    assert "changed in Slack: learning_rate; from demo-train" in card.text


def test_the_home_tab_lists_my_runs_with_their_buttons(page: Any) -> None:
    run_id = started_run(page, "demo-queue")
    click_found(page, lambda: by_css(page, "#nav-home")[0])  # app_home_opened, then a publish
    script = "return document.querySelector('.home')?.textContent || ''"
    text = wait_for(page, lambda: (t := page.execute_script(script)) and run_id in t and t)
    assert text.index("Your recent runs") < text.index(run_id) and "Start a run" in text


def test_the_starter_of_a_run_that_dies_hears_it_in_the_apps_dm(page: Any) -> None:
    run_id = started_run(page, "demo-fail")

    def direct_messages() -> Any:  # found afresh each time: the sidebar is redrawn often
        return next((b for b in by_css(page, "#channels .nav-item") if "✉" in b.text), None)

    wait_for(page, direct_messages, timeout=60)
    click_found(page, direct_messages)
    assert "A run you started has died" in text_with(page, f"{run_id} is DEAD")


def text_with(driver: Any, words: str, *, root: str = "#messages") -> str:
    """The text of the newest message under ``root`` that has ``words``, read in the page
    (no element is held, so a redraw cannot make it stale)."""
    script = """
        const [root, words] = arguments;
        const found = [...document.querySelectorAll(root + ' article.message')]
            .map((m) => m.textContent.replace(/\\s+/g, ' '))
            .filter((text) => text.includes(words));
        return found[found.length - 1] || null;
    """
    return str(wait_for(driver, lambda: driver.execute_script(script, root, words), timeout=30))


def click_found(driver: Any, find: Any) -> None:
    """Click what ``find`` finds, finding it again when the page redrew it meanwhile."""
    from selenium.common.exceptions import StaleElementReferenceException

    for _ in range(20):
        try:
            wait_for(driver, find).click()
            return
        except StaleElementReferenceException:
            continue
    raise AssertionError("the element kept being redrawn")
