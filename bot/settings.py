"""Settings: one class, built once at start-up and passed down.

The variables and defaults are the ones in the README (and ``interface.md``). AI Core
credentials come from the first source that has any: ``AICORE_SERVICE_KEY`` (JSON text or a
path to the JSON file), then the separate ``AICORE_*`` values, then ``VCAP_SERVICES``.
Errors name the variable, never its value, because the value may be a secret.

``DATABASE_URL``, when not set, comes from a PostgreSQL binding in ``VCAP_SERVICES`` (Cloud
Foundry on SAP BTP), and only then from the SQLite default.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url

from bot.errors import ConfigError


@dataclass(frozen=True)
class AICoreCredentials:
    """What the AI Core client needs; ``source`` says which setting supplied it."""

    client_id: str
    client_secret: SecretStr
    auth_url: str  # ends in /oauth/token
    base_url: str  # ends in /v2
    source: str

    def __repr__(self) -> str:  # keeps the secret out of any accidental log line
        return f"AICoreCredentials(client_id={self.client_id!r}, source={self.source!r}, ...)"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    port: int = Field(default=3000, ge=0, le=65535)
    public_url: str | None = None
    database_url: str = "sqlite:///./chatops.db"

    aicore_service_key: SecretStr | None = None
    aicore_client_id: str | None = None
    aicore_client_secret: SecretStr | None = None
    aicore_auth_url: str | None = None
    aicore_base_url: str | None = None
    vcap_services: SecretStr | None = None
    aicore_resource_group: str = "default"

    poll_interval_seconds: float = Field(default=30.0, gt=0)
    pending_alert_seconds: float = Field(default=900.0, gt=0)
    # A RUNNING run that writes no log line for this long is announced once as silent.
    stuck_alert_seconds: float = Field(default=1800.0, gt=0)
    # The DEAD alert also goes to whoever started the run, in their DM with the bot.
    dm_on_dead: bool = True

    bria_api_token: SecretStr | None = None
    bria_base_url: str = "https://engine.prod.bria-api.com/v1"

    access_policy: str | None = None
    audit_retention_days: int = Field(default=365, ge=1)

    log_level: Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"] = "INFO"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else None

    @model_validator(mode="after")
    def _database_from_binding(self) -> Settings:
        if "database_url" not in self.model_fields_set and self.vcap_services is not None:
            bound = database_from_vcap(self.vcap_services.get_secret_value())
            if bound is not None:
                self.database_url = bound
        return self

    @property
    def has_slack_credentials(self) -> bool:
        return self.slack_bot_token is not None and (
            self.slack_signing_secret is not None or self.slack_app_token is not None
        )

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    def aicore_credentials(self) -> AICoreCredentials | None:
        """Resolve AI Core credentials in the documented order; None when none is set."""
        if self.aicore_service_key is not None:
            return _from_service_key(self.aicore_service_key.get_secret_value())
        if any(
            (
                self.aicore_client_id,
                self.aicore_client_secret,
                self.aicore_auth_url,
                self.aicore_base_url,
            )
        ):
            return self._from_separate_values()
        if self.vcap_services is not None:
            return _from_vcap(self.vcap_services.get_secret_value())
        return None

    def _from_separate_values(self) -> AICoreCredentials:
        values = {
            "AICORE_CLIENT_ID": self.aicore_client_id,
            "AICORE_CLIENT_SECRET": self.aicore_client_secret,
            "AICORE_AUTH_URL": self.aicore_auth_url,
            "AICORE_BASE_URL": self.aicore_base_url,
        }
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise ConfigError(
                f"{missing[0]} is not set (the separate AICORE_* values need all four of "
                "AICORE_CLIENT_ID, AICORE_CLIENT_SECRET, AICORE_AUTH_URL, AICORE_BASE_URL)"
            )
        assert self.aicore_client_secret is not None  # checked just above; narrows the type
        return AICoreCredentials(
            client_id=str(self.aicore_client_id),
            client_secret=self.aicore_client_secret,
            auth_url=_with_suffix(
                _url("AICORE_AUTH_URL", str(self.aicore_auth_url)), "/oauth/token"
            ),
            base_url=_with_suffix(_url("AICORE_BASE_URL", str(self.aicore_base_url)), "/v2"),
            source="AICORE_* variables",
        )


def load_settings(**overrides: Any) -> Settings:
    """Build Settings from the environment (and .env), turning validation errors into one line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "a setting"
        raise ConfigError(f"{name} is malformed: {first['msg']}") from None


def _with_suffix(url: str, suffix: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith(suffix) else url + suffix


def _url(variable: str, value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ConfigError(f"{variable} must be an http(s) URL")
    return value


def _from_service_key(text: str) -> AICoreCredentials:
    """``AICORE_SERVICE_KEY`` holds the key's JSON, or the path of a file that does."""
    stripped = text.strip()
    if not stripped.startswith("{"):
        path = Path(stripped).expanduser()
        if not path.is_file():
            raise ConfigError(
                "AICORE_SERVICE_KEY is neither service-key JSON nor the path of a readable file"
            )
        stripped = path.read_text(encoding="utf-8")
    try:
        key = json.loads(stripped)
    except json.JSONDecodeError:
        raise ConfigError("AICORE_SERVICE_KEY is not valid JSON") from None
    if not isinstance(key, dict):
        raise ConfigError("AICORE_SERVICE_KEY must be a JSON object")
    return _from_key_fields(key, "AICORE_SERVICE_KEY")


def _from_key_fields(key: dict[str, Any], variable: str) -> AICoreCredentials:
    if "clientsecret" not in key and "certificate" in key:
        raise ConfigError(
            f"{variable} is an x509 service key; create a secret-based key "
            "(clientid/clientsecret) for this bot"
        )
    serviceurls = key.get("serviceurls") or {}
    fields = {
        "clientid": key.get("clientid"),
        "clientsecret": key.get("clientsecret"),
        "url": key.get("url"),
        "serviceurls.AI_API_URL": serviceurls.get("AI_API_URL")
        if isinstance(serviceurls, dict)
        else None,
    }
    missing = [name for name, value in fields.items() if not isinstance(value, str) or not value]
    if missing:
        raise ConfigError(f"{variable} has no '{missing[0]}' field")
    return AICoreCredentials(
        client_id=str(fields["clientid"]),
        client_secret=SecretStr(str(fields["clientsecret"])),
        auth_url=_with_suffix(_url(variable, str(fields["url"])), "/oauth/token"),
        base_url=_with_suffix(_url(variable, str(fields["serviceurls.AI_API_URL"])), "/v2"),
        source=variable,
    )


def _from_vcap(text: str) -> AICoreCredentials:
    try:
        vcap = json.loads(text)
    except json.JSONDecodeError:
        raise ConfigError("VCAP_SERVICES is not valid JSON") from None
    if not isinstance(vcap, dict):
        raise ConfigError("VCAP_SERVICES must be a JSON object")
    for bindings in vcap.values():
        for binding in bindings if isinstance(bindings, list) else []:
            if isinstance(binding, dict) and binding.get("label") == "aicore":
                credentials = binding.get("credentials")
                if not isinstance(credentials, dict):
                    raise ConfigError("VCAP_SERVICES: the aicore binding has no credentials")
                return _from_key_fields(credentials, "VCAP_SERVICES (aicore binding)")
    raise ConfigError("VCAP_SERVICES has no service with label 'aicore'")


def database_from_vcap(text: str) -> str | None:
    """The SQLAlchemy URL of the first PostgreSQL binding (by label or tag), if any.

    Bindings carry a ``uri`` (``postgres://user:password@host:port/db``) or its parts; SSL is
    required unless the binding says otherwise (BTP's PostgreSQL accepts only SSL).
    """
    try:
        vcap = json.loads(text)
    except json.JSONDecodeError:
        return None  # the AI Core credentials report a malformed VCAP_SERVICES
    for bindings in vcap.values() if isinstance(vcap, dict) else []:
        for binding in bindings if isinstance(bindings, list) else []:
            if not isinstance(binding, dict) or not _is_postgres(binding):
                continue
            credentials = binding.get("credentials") or {}
            if not isinstance(credentials, dict):
                credentials = {}
            return _postgres_url(credentials)
    return None


def _postgres_url(credentials: dict[str, Any]) -> str:
    query = {"sslmode": "require"}
    uri = credentials.get("uri")
    if isinstance(uri, str) and uri:
        parsed = make_url(f"postgresql+psycopg://{uri.split('://', 1)[-1]}")
        return parsed.update_query_dict({**query, **parsed.query}).render_as_string(
            hide_password=False
        )
    try:
        url = URL.create(
            "postgresql+psycopg",
            username=credentials["username"],
            password=credentials["password"],
            host=credentials["hostname"],
            port=int(credentials.get("port") or 5432),
            database=credentials["dbname"],
            query=query,
        )
    except (KeyError, TypeError, ValueError):
        raise ConfigError(
            "VCAP_SERVICES: the PostgreSQL binding has neither a uri nor "
            "username, password, hostname and dbname"
        ) from None
    return url.render_as_string(hide_password=False)


def _is_postgres(binding: dict[str, Any]) -> bool:
    words = [str(binding.get("label", "")), *map(str, binding.get("tags") or [])]
    return any("postgres" in word.lower() for word in words)
