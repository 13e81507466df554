"""The tests' Slack is the sandbox's: one implementation (:mod:`bot.sandbox.slack`)."""

from bot.sandbox.slack import FakeSlack, Message, SlackCall

__all__ = ["FakeSlack", "Message", "SlackCall"]
