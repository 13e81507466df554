"""The bot's exception tree.

Every error the bot raises on purpose derives from :class:`ChatOpsError`, so a listener can
catch exactly "our" failures and let programming errors surface with their traceback::

    ChatOpsError
    ├── ConfigError                 a setting is missing or malformed (start-up stops)
    ├── InputError                  a user typed something we refuse before any call
    └── ProviderError               a provider (AI Core, Bria) answered with an error
        ├── ProviderUnavailable     timeouts, connection errors, 5xx and 429 after retries
        ├── AuthError               401/403: credentials or plan
        ├── NotFoundError           404: no such run, configuration or model
        ├── ConflictError           409/412: the provider refused the transition
        └── BadRequestError         400/422: the provider rejected the request

``ProviderError`` carries what a user needs to report a problem to SAP or Bria support: the
HTTP status, the provider's error ``code`` and ``message`` and its ``request_id``.
"""

from __future__ import annotations


class ChatOpsError(Exception):
    """Base of every error the bot raises on purpose."""

    def user_text(self) -> str:
        """The sentence a user is shown."""
        return str(self)


class ConfigError(ChatOpsError):
    """A setting is missing or malformed; the message names the variable, never its value."""


class InputError(ChatOpsError):
    """The user's command or click cannot be acted on; the message is shown to them as is."""


class ProviderError(ChatOpsError):
    """A provider answered with an error (or could not be reached)."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        provider: str = "aicore",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.request_id = request_id
        self.provider = provider

    def user_text(self) -> str:
        """One line for Slack: the provider's message plus what support will ask for."""
        parts = [self.message]
        if self.code:
            parts.append(f"code {self.code}")
        if self.status_code:
            parts.append(f"HTTP {self.status_code}")
        if self.request_id:
            parts.append(f"requestId `{self.request_id}`")
        return " · ".join(parts)


class ProviderUnavailable(ProviderError):
    """Timeouts, connection errors, 5xx and 429 that survived our retries."""


class AuthError(ProviderError):
    """401/403: the credentials were refused or the plan does not allow the call."""


class NotFoundError(ProviderError):
    """404: the run, configuration or model does not exist (in this resource group)."""


class ConflictError(ProviderError):
    """409/412: the provider refused the transition for the run's current state."""


class BadRequestError(ProviderError):
    """400/415/422: the provider rejected the request itself."""


def error_for_status(status_code: int) -> type[ProviderError]:
    """The exception class for an HTTP error status."""
    if status_code in (401, 403):
        return AuthError
    if status_code == 404:
        return NotFoundError
    if status_code in (409, 412):
        return ConflictError
    if status_code in (400, 415, 422):
        return BadRequestError
    return ProviderUnavailable
