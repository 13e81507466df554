"""Settings and the three AI Core credential sources, in their order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import Settings, load_settings

KEY = {
    "clientid": "sb-client",
    "clientsecret": "s3cr3t-value",
    "url": "https://tenant.authentication.eu10.hana.ondemand.com",
    "serviceurls": {"AI_API_URL": "https://api.ai.prod.eu-central-1.aws.ml.hana.ondemand.com"},
}


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_defaults_match_the_interface() -> None:
    s = settings()
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.port == 3000
    assert s.database_url == "sqlite:///./chatops.db"
    assert s.aicore_resource_group == "default"
    assert s.poll_interval_seconds == 30
    assert s.pending_alert_seconds == 900
    assert s.bria_base_url == "https://engine.prod.bria-api.com/v1"
    assert s.log_level == "INFO"
    assert s.aicore_credentials() is None


def test_service_key_as_json_text_appends_token_path_and_v2() -> None:
    creds = settings(aicore_service_key=json.dumps(KEY)).aicore_credentials()
    assert creds is not None
    assert creds.auth_url == KEY["url"] + "/oauth/token"
    assert creds.base_url.endswith("ml.hana.ondemand.com/v2")
    assert creds.client_secret.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t" not in repr(creds)


def test_service_key_as_a_file_path(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    path.write_text(json.dumps(KEY))
    creds = settings(aicore_service_key=str(path)).aicore_credentials()
    assert creds is not None and creds.client_id == "sb-client"


def test_service_key_wins_over_separate_values_and_vcap() -> None:
    vcap = {"aicore": [{"label": "aicore", "credentials": {**KEY, "clientid": "from-vcap"}}]}
    creds = settings(
        aicore_service_key=json.dumps(KEY),
        aicore_client_id="from-separate",
        vcap_services=json.dumps(vcap),
    ).aicore_credentials()
    assert creds is not None and creds.client_id == "sb-client"


def test_separate_values_win_over_vcap_and_keep_existing_suffixes() -> None:
    vcap = {"aicore": [{"label": "aicore", "credentials": KEY}]}
    creds = settings(
        aicore_client_id="cid",
        aicore_client_secret="csecret",
        aicore_auth_url="https://auth.example/oauth/token/",
        aicore_base_url="https://ai.example/v2",
        vcap_services=json.dumps(vcap),
    ).aicore_credentials()
    assert creds is not None
    assert (creds.client_id, creds.auth_url, creds.base_url) == (
        "cid",
        "https://auth.example/oauth/token",
        "https://ai.example/v2",
    )


def test_vcap_takes_the_first_aicore_binding() -> None:
    vcap = {
        "xsuaa": [{"label": "xsuaa", "credentials": {}}],
        "aicore": [{"label": "aicore", "credentials": KEY}],
    }
    creds = settings(vcap_services=json.dumps(vcap)).aicore_credentials()
    assert creds is not None and creds.source.startswith("VCAP_SERVICES")


@pytest.mark.parametrize(
    ("values", "names"),
    [
        ({"aicore_service_key": "{not json"}, "AICORE_SERVICE_KEY is not valid JSON"),
        ({"aicore_service_key": "/no/such/file.json"}, "AICORE_SERVICE_KEY is neither"),
        ({"aicore_service_key": json.dumps({"clientid": "x"})}, "AICORE_SERVICE_KEY has no"),
        ({"aicore_client_id": "x"}, "AICORE_CLIENT_SECRET is not set"),
        ({"vcap_services": "[]"}, "VCAP_SERVICES must be a JSON object"),
        ({"vcap_services": "{}"}, "VCAP_SERVICES has no service with label 'aicore'"),
        ({"aicore_service_key": json.dumps({**KEY, "url": "ftp://x"})}, "must be an http(s) URL"),
    ],
)
def test_malformed_credentials_name_the_variable_never_the_secret(values, names) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(**values).aicore_credentials()
    assert names in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


def test_malformed_plain_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLL_INTERVAL_SECONDS", "soon")
    with pytest.raises(ConfigError, match="POLL_INTERVAL_SECONDS is malformed"):
        load_settings(_env_file=None)


def test_fractional_poll_interval_and_trailing_slash() -> None:
    s = settings(poll_interval_seconds="0.25", slack_api_url="http://127.0.0.1:9/api")
    assert s.poll_interval_seconds == 0.25
    assert s.slack_api_url == "http://127.0.0.1:9/api/"


def _vcap(*bindings: dict[str, object]) -> str:
    return json.dumps(
        {"aicore": [{"label": "aicore", "credentials": KEY}], "other": list(bindings)}
    )


def test_a_postgresql_binding_becomes_the_database_when_database_url_is_not_set() -> None:
    uri = "postgres://u7:pw-xyz@pg.example.internal:5432/chatops"
    s = settings(vcap_services=_vcap({"label": "postgresql-db", "credentials": {"uri": uri}}))
    assert (
        s.database_url
        == "postgresql+psycopg://u7:pw-xyz@pg.example.internal:5432/chatops?sslmode=require"
    )


def test_a_binding_without_uri_is_assembled_from_its_parts_and_found_by_tag() -> None:
    parts = {"username": "u", "password": "p", "hostname": "h", "port": 6543, "dbname": "d"}
    binding = {"label": "user-provided", "tags": ["PostgreSQL"], "credentials": parts}
    assert settings(vcap_services=_vcap(binding)).database_url == (
        "postgresql+psycopg://u:p@h:6543/d?sslmode=require"
    )


def test_database_url_wins_over_the_binding() -> None:
    binding = {"label": "postgresql-db", "credentials": {"uri": "postgres://a:b@c/d"}}
    s = settings(database_url="sqlite:///x.db", vcap_services=_vcap(binding))
    assert s.database_url == "sqlite:///x.db"
    assert settings(vcap_services=_vcap()).database_url == "sqlite:///./chatops.db"


def test_the_database_password_is_one_of_the_secrets_the_log_never_shows() -> None:
    from bot.logging_setup import secret_values

    s = settings(database_url="postgresql+psycopg://bot:hunter2-db-pass@pg/chatops")
    assert "hunter2-db-pass" in secret_values(s)


def test_a_password_with_url_characters_survives_assembly_from_parts() -> None:
    from sqlalchemy.engine import make_url

    parts = {"username": "u", "password": "p@ss/w:rd?#", "hostname": "h", "dbname": "d"}
    binding = {"label": "postgresql-db", "credentials": parts}
    url = make_url(settings(vcap_services=_vcap(binding)).database_url)
    assert (url.password, url.host, url.port, url.database) == ("p@ss/w:rd?#", "h", 5432, "d")
