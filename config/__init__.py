"""Encore's settings: one typed object read from the environment, `.env`, then defaults."""

from config.settings import (
    ENV_FILE_VAR,
    FIELDS,
    PROJECT_ROOT,
    Settings,
    SettingsError,
    get_settings,
    load_settings,
    parse_users,
    process_env,
    set_process_env,
    subprocess_env,
    tool_env,
    whole_environ,
)

__all__ = [
    "ENV_FILE_VAR",
    "FIELDS",
    "PROJECT_ROOT",
    "Settings",
    "SettingsError",
    "get_settings",
    "load_settings",
    "parse_users",
    "process_env",
    "set_process_env",
    "subprocess_env",
    "tool_env",
    "whole_environ",
]
