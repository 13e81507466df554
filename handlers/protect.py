"""Protected resource groups: a stop or delete there waits for the run's ID to be typed.

The request is written down as a pending action (with the response URL to answer on), and a
modal asks for the ID; its submission (:mod:`handlers.views.protected`) confirms the pending
action through the same work as the bulk Confirm button (the run and the policy are checked
again there), under an action ID of its own that no button carries: a Confirm button, or a
tampered click with the modal's token, cannot execute a protected request.
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from bot import blocks
from bot.audit import Actor
from bot.deps import Deps
from bot.direct import Respond
from bot.providers.base import Action
from handlers.common import private

log = logging.getLogger(__name__)

TRIGGER_EXPIRED = (
    ":lock: `{scope}` is a protected resource group, and the box asking for the run's ID could "
    "not be opened in time (Slack allows 3 seconds). Nothing was done; try again."
)


async def ask_for_id(
    deps: Deps,
    provider: str,
    scope: str,
    run_id: str,
    action: Action,
    *,
    actor: Actor,
    trigger_id: str | None,
    response_url: str | None,
    respond: Respond,
) -> None:
    """Write the request down and open the modal, before any call to the provider: the
    trigger expires 3 s after the click. The run's status is checked when the ID is typed."""
    token = await deps.store.create_pending_action(
        provider=provider,
        scope=scope,
        action=action,
        run_ids=[run_id],
        user_id=actor.user,
        channel=actor.channel or "",
        response_url=response_url,
    )
    label = deps.service.provider(provider).label
    modal = blocks.protected_modal(
        scope=scope, run_id=run_id, action=action, label=label, token=token
    )
    try:
        if not trigger_id:
            raise LookupError("no trigger_id")
        await deps.service.slack.views_open(trigger_id=trigger_id, view=modal)
    except (SlackApiError, LookupError) as exc:
        reason = exc.response.get("error") if isinstance(exc, SlackApiError) else str(exc)
        log.info("could not open the typed-ID confirmation (%s)", reason)
        await private(respond, TRIGGER_EXPIRED.format(scope=scope))
