"""The local sandbox: what ``python -m bot`` runs when no Slack credentials are set.

Everything is served by the bot's own web process on 127.0.0.1 only:

- a Slack workspace (:mod:`bot.sandbox.slack`, the same Web API the tests use) that the bot
  reaches through ``SLACK_API_URL``, and that sends commands and clicks to ``/slack/events``
  signed with a secret generated at start (:mod:`bot.sandbox.workspace`);
- the AI Core and Bria simulators with a demo story (:mod:`bot.sandbox.demo`), unless real
  credentials are set for them;
- a page at ``/`` that looks and behaves like a small Slack workspace (:mod:`bot.sandbox.page`).

Nothing in the bot knows it is in the sandbox except its wiring (:mod:`bot.sandbox.wiring`).
"""
