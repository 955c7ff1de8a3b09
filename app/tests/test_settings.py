from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from service.config import ConfigError, Settings, available_cpus, load_settings
from tests.cli import run_service, service_env

STRONG = "x" * 40


def test_settings_module_and_app_import_with_no_environment() -> None:
    code = "import service.config, service.main; print(sorted(service.config.Settings.model_fields)[:1])"
    result = subprocess.run(
        [sys.executable, "-c", code], env={}, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


def test_settings_has_every_variable_of_the_infra_contract() -> None:
    contract = [
        "APP_ENV",
        "DEBUG",
        "LOG_LEVEL",
        "SERVICE_HOST",
        "SERVICE_PORT",
        "WORKERS",
        "GRACEFUL_SHUTDOWN_TIMEOUT",
        "CORS_ORIGINS",
        "DB_HOST",
        "DB_PORT",
        "DB_NAME",
        "DB_USER",
        "DB_PASSWORD",
        "DB_POOL_SIZE",
        "DB_MAX_OVERFLOW",
        "DB_POOL_TIMEOUT",
        "DB_POOL_RECYCLE",
        "DB_POOL_PRE_PING",
        "REDIS_HOST",
        "REDIS_PORT",
        "REDIS_DB",
        "REDIS_PASSWORD",
        "CACHE_TTL_SECONDS",
        "API_KEYS",
        "SECRET_KEY",
        "SECRETS_DIR",
    ]
    assert {name.lower() for name in contract} <= set(Settings.model_fields)


def test_secret_files_are_read_with_trailing_newline_stripped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DB_PASSWORD", raising=False)
    (tmp_path / "db_password").write_text("from-file\n")
    (tmp_path / "api_keys").write_text("k1\nk2\n")
    settings = load_settings(secrets_dir=str(tmp_path))
    assert settings.db_password.get_secret_value() == "from-file"
    assert settings.api_key_list == ["k1", "k2"]


def test_env_var_wins_over_secret_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "db_password").write_text("from-file\n")
    monkeypatch.setenv("DB_PASSWORD", "from-env")
    settings = load_settings(secrets_dir=str(tmp_path), api_keys="k")
    assert settings.db_password.get_secret_value() == "from-env"


def test_missing_secrets_dir_is_not_an_error(tmp_path: Path) -> None:
    settings = load_settings(secrets_dir=str(tmp_path / "absent"), api_keys="k")
    assert settings.api_key_list == ["k"]


def test_cors_origins_are_comma_separated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    settings = load_settings(secrets_dir=str(tmp_path), api_keys="k")
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


def test_zero_workers_derives_from_available_cpus(tmp_path: Path) -> None:
    settings = load_settings(secrets_dir=str(tmp_path), api_keys="k", workers=0)
    assert settings.effective_workers() == available_cpus() >= 1


def test_prod_refuses_changethis_secret_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^SECRET_KEY: is a known default value"):
        load_settings(
            secrets_dir=str(tmp_path), app_env="prod", api_keys=STRONG, db_password=STRONG, secret_key="changethis"
        )


def test_prod_refuses_short_api_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^API_KEYS: is shorter than 32"):
        load_settings(
            secrets_dir=str(tmp_path), app_env="prod", api_keys=f"{STRONG},short", db_password=STRONG, secret_key=STRONG
        )


def test_prod_refuses_empty_db_password(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^DB_PASSWORD: is empty"):
        load_settings(secrets_dir=str(tmp_path), app_env="prod", api_keys=STRONG, secret_key=STRONG, db_password="")


def test_prod_accepts_strong_secrets(tmp_path: Path) -> None:
    settings = load_settings(
        secrets_dir=str(tmp_path), app_env="prod", api_keys=STRONG, db_password=STRONG, secret_key=STRONG
    )
    assert settings.docs_enabled is False


def test_cli_exits_2_naming_a_malformed_port(tmp_path: Path) -> None:
    result = run_service([], service_env(tmp_path, api_keys="k", service_port="eighty"))
    assert result.returncode == 2
    assert result.stderr.strip().startswith("configuration error: SERVICE_PORT:")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr and "eighty" not in result.stderr


def test_cli_exits_2_when_no_api_key_is_configured(tmp_path: Path) -> None:
    result = run_service([], service_env(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip() == "configuration error: API_KEYS: at least one API key is required"


def test_cli_prod_refusal_does_not_echo_the_secret(tmp_path: Path) -> None:
    weak = "hunter2-weak-pw"
    (tmp_path / "db_password").write_text(weak + "\n")
    env = service_env(tmp_path, app_env="prod", api_keys=STRONG, secret_key=STRONG)
    result = run_service(["migrate"], env)
    assert result.returncode == 2
    assert "DB_PASSWORD" in result.stderr
    assert weak not in result.stderr + result.stdout


def test_cli_rejects_unknown_command(tmp_path: Path) -> None:
    result = run_service(["frobnicate"], service_env(tmp_path, api_keys="k"))
    assert (result.returncode, result.stderr.strip()) == (2, "usage: python -m service [serve|migrate]")
