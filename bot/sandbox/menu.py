"""The slash-command menu the sandbox page suggests, as Slack does for an app's commands."""

from __future__ import annotations

from typing import Any

COMMANDS: list[dict[str, Any]] = [
    {
        "command": "/aicore",
        "description": "SAP AI Core executions",
        "subcommands": [
            {"usage": "start", "description": "pick a configuration in a form, then start it"},
            {"usage": "start <name or ID>", "description": "start a run, post its card"},
            {"usage": "stop <executionId>...", "description": "stop 1 to 100 runs"},
            {"usage": "delete <executionId>...", "description": "delete 1 to 100 runs"},
            {"usage": "status <executionId>", "description": "the card, privately"},
            {"usage": "list [STATUS]", "description": "recent runs with counts"},
            {"usage": "logs <executionId> [lines=N]", "description": "the last log lines"},
            {"usage": "watch <executionId>", "description": "follow a run here"},
            {"usage": "subscribe [only=DEAD,PENDING]", "description": "follow every run here"},
            {"usage": "unsubscribe", "description": "stop following the group here"},
            {"usage": "subscriptions", "description": "what this channel follows"},
            {"usage": "help", "description": "usage"},
        ],
        "examples": ["start demo-train", "start demo-fail", "start demo-queue", "list"],
    },
    {
        "command": "/bria",
        "description": "Bria tailored-generation training",
        "subcommands": [
            {"usage": "train <modelId or name> [steps=N ...]", "description": "start training"},
            {"usage": "stop <modelId>", "description": "stop training"},
            {"usage": "delete <modelId>", "description": "delete a model"},
            {"usage": "status <modelId>", "description": "the card, privately"},
            {"usage": "list [Status]", "description": "the models"},
            {"usage": "help", "description": "usage"},
        ],
        "examples": ["list"],
    },
]
