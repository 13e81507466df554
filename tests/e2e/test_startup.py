"""Start-up refusals of ``python -m bot``: one clear line naming what to set, no secret."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_bot(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "AICORE_", "BRIA_", "VCAP_", "DATABASE_"))
    }
    clean["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("role", ["web", "worker"])
def test_a_single_role_without_slack_credentials_says_what_to_set(
    tmp_path: Path, role: str
) -> None:
    # Without credentials only `python -m bot` runs, as the sandbox (tests/e2e/test_sandbox.py).
    done = run_bot({}, tmp_path, "--role", role)
    assert done.returncode == 2
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1
    assert "SLACK_BOT_TOKEN" in lines[0] and "SLACK_SIGNING_SECRET" in lines[0]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        (
            {"AICORE_SERVICE_KEY": '{"clientid": "x", "clientsecret": "hunter2-secret"'},
            "AICORE_SERVICE_KEY is not valid JSON",
        ),
        (
            {"AICORE_CLIENT_ID": "x", "AICORE_CLIENT_SECRET": "hunter2-secret"},
            "AICORE_AUTH_URL is not set",
        ),
        ({"POLL_INTERVAL_SECONDS": "-1"}, "POLL_INTERVAL_SECONDS is malformed"),
        ({}, "No provider credentials: set AICORE_SERVICE_KEY"),
    ],
)
def test_a_bad_setting_stops_start_up_naming_it_and_nothing_else(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    done = run_bot(
        {"SLACK_BOT_TOKEN": "xoxb-1-test", "SLACK_SIGNING_SECRET": "sig-secret-1", **env}, tmp_path
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2
    assert named in output
    assert "hunter2" not in output and "sig-secret-1" not in output
    assert not (tmp_path / "chatops.db").exists()  # refused before touching the database


def test_a_taken_port_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_bot(
            {
                "SLACK_BOT_TOKEN": "xoxb-1-test",
                "SLACK_SIGNING_SECRET": "sig-secret-1",
                "AICORE_CLIENT_ID": "id",
                "AICORE_CLIENT_SECRET": "hunter2-secret",
                "AICORE_AUTH_URL": "http://127.0.0.1:9",
                "AICORE_BASE_URL": "http://127.0.0.1:9",
                "PORT": str(port),
            },
            tmp_path,
        )
    assert done.returncode == 2
    assert f"cannot listen on PORT {port}" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
