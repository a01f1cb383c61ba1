"""API_TOKENS, READ_TOKENS and CORS_ORIGINS: parsed, checked, and never echoed."""

from __future__ import annotations

import pytest

from execution_service.app import Settings, SettingsError

TOKEN = "s3cret-0123456789abcdef"
ORIGINS = {"CORS_ORIGINS": "https://app.example.com"}


def test_unset_means_no_tokens_and_any_origin() -> None:
    settings = Settings.from_env({})
    assert settings.api_tokens == () and settings.read_tokens == ()
    assert settings.cors_origins == ("*",)


def test_comma_separated_tokens() -> None:
    settings = Settings.from_env(
        ORIGINS | {"API_TOKENS": f" {TOKEN} , {TOKEN}x,", "READ_TOKENS": f"{TOKEN}r"}
    )
    assert settings.api_tokens == (TOKEN, f"{TOKEN}x") and settings.read_tokens == (f"{TOKEN}r",)


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"API_TOKENS": f"{TOKEN},bad token-0123456789"}, "API_TOKENS: token 2 holds characters"),
        ({"API_TOKENS": "short"}, "API_TOKENS: token 1 is shorter than 16"),
        ({"READ_TOKENS": TOKEN}, "READ_TOKENS is set but API_TOKENS is not"),
        ({"API_TOKENS": TOKEN, "CORS_ORIGINS": ""}, "CORS_ORIGINS must list"),
        ({"API_TOKENS": TOKEN, "CORS_ORIGINS": "https://a.example,*"}, "CORS_ORIGINS must list"),
    ],
)
def test_bad_token_settings_stop_start_up_without_naming_the_token(
    env: dict[str, str], says: str
) -> None:
    full = ORIGINS | env
    with pytest.raises(SettingsError, match=says) as error:
        Settings.from_env(full)
    assert "0123456789" not in str(error.value)
