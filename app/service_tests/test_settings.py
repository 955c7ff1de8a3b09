from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from service.__main__ import USAGE
from service.config import (
    KNOWN_WEAK_SECRETS,
    MIN_PROD_SECRET_LENGTH,
    ConfigError,
    Settings,
    available_cpus,
    load_settings,
)
from service_tests.cli import run_service, service_env

STRONG = "x" * MIN_PROD_SECRET_LENGTH
WEAK = sorted(KNOWN_WEAK_SECRETS)[0]


def test_settings_module_and_app_import_with_no_environment() -> None:
    code = "import service.config, service.main; print(sorted(service.config.Settings.model_fields)[:1])"
    result = subprocess.run(
        [sys.executable, "-c", code], env={}, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


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


def test_a_file_the_service_does_not_read_is_ignored_even_in_prod(tmp_path: Path) -> None:
    # A Secret mounted by an older deploy may still carry keys the service no longer has.
    (tmp_path / "secret_key").write_text("changethis\n")
    settings = load_settings(secrets_dir=str(tmp_path), app_env="prod", api_keys=STRONG, db_password=STRONG)
    assert "changethis" not in settings.secret_values()


def test_cors_origins_are_comma_separated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    settings = load_settings(secrets_dir=str(tmp_path), api_keys="k")
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


def test_zero_workers_derives_from_available_cpus(tmp_path: Path) -> None:
    settings = load_settings(secrets_dir=str(tmp_path), api_keys="k", workers=0)
    assert settings.effective_workers() == available_cpus() >= 1


@pytest.mark.parametrize(
    ("field", "secrets"),
    [
        ("api_keys", {"api_keys": f"{STRONG},{STRONG[1:]}", "db_password": STRONG}),
        ("api_keys", {"api_keys": WEAK, "db_password": STRONG}),
        ("db_password", {"api_keys": STRONG, "db_password": ""}),
        ("db_password", {"api_keys": STRONG, "db_password": STRONG[1:]}),
        ("redis_password", {"api_keys": STRONG, "db_password": STRONG, "redis_password": WEAK}),
    ],
    ids=["one-short-api-key", "known-default-api-key", "empty-db-password", "short-db-password", "weak-redis-password"],
)
def test_prod_refuses_a_weak_secret_naming_it_but_not_its_value(
    tmp_path: Path, field: str, secrets: dict[str, str]
) -> None:
    with pytest.raises(ConfigError, match=rf"^{field.upper()}:") as refused:
        load_settings(secrets_dir=str(tmp_path), app_env="prod", **secrets)
    assert all(value.strip() not in str(refused.value) for value in secrets.values() if value.strip())


def test_prod_accepts_strong_secrets_and_redis_without_a_password(tmp_path: Path) -> None:
    settings = load_settings(secrets_dir=str(tmp_path), app_env="prod", api_keys=STRONG, db_password=STRONG)
    assert settings.redis_password.get_secret_value() == ""


@pytest.mark.parametrize(("app_env", "served"), [("local", True), ("dev", True), ("test", True), ("prod", False)])
def test_api_docs_are_served_in_every_environment_but_prod(tmp_path: Path, app_env: str, served: bool) -> None:
    settings = load_settings(secrets_dir=str(tmp_path), app_env=app_env, api_keys=STRONG, db_password=STRONG)
    assert settings.docs_enabled is served


def test_cli_exits_2_naming_a_malformed_port(tmp_path: Path) -> None:
    result = run_service([], service_env(tmp_path, api_keys="k", service_port="eighty"))
    assert result.returncode == 2
    assert result.stderr.strip().startswith("configuration error: SERVICE_PORT:")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr and "eighty" not in result.stderr


def test_cli_exits_2_when_no_api_key_is_configured(tmp_path: Path) -> None:
    result = run_service([], service_env(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().startswith("configuration error: API_KEYS:")
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_prod_refusal_does_not_echo_the_secret(tmp_path: Path) -> None:
    weak = "hunter2-weak-pw"
    (tmp_path / "db_password").write_text(weak + "\n")
    env = service_env(tmp_path, app_env="prod", api_keys=STRONG)
    result = run_service(["migrate"], env)
    assert result.returncode == 2
    assert "DB_PASSWORD" in result.stderr
    assert weak not in result.stderr + result.stdout


def test_cli_rejects_unknown_command(tmp_path: Path) -> None:
    result = run_service(["frobnicate"], service_env(tmp_path, api_keys="k"))
    assert (result.returncode, result.stderr.strip()) == (2, USAGE)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"worker_pool": "gevent"}, "WORKER_POOL"),
        ({"worker_queues": " , "}, "WORKER_QUEUES"),
        ({"worker_queues": "default,with space"}, "WORKER_QUEUES"),
        ({"task_soft_time_limit_seconds": "360", "task_time_limit_seconds": "360"}, "TASK_SOFT_TIME_LIMIT_SECONDS"),
        (
            {"task_time_limit_seconds": "600", "broker_visibility_timeout_seconds": "600"},
            "BROKER_VISIBILITY_TIMEOUT_SECONDS",
        ),
        ({"celery_broker_db": "0"}, "CELERY_BROKER_DB"),
        ({"worker_metrics_port": "70000"}, "WORKER_METRICS_PORT"),
        ({"import_batch_size": "0"}, "IMPORT_BATCH_SIZE"),
    ],
    ids=[
        "unknown-pool",
        "no-queue",
        "queue-name-with-space",
        "soft-limit-not-below-hard",
        "visibility-not-above-time-limit",
        "broker-db-is-the-cache-db",
        "metrics-port-out-of-range",
        "empty-batches",
    ],
)
def test_a_bad_worker_setting_is_refused_naming_it(tmp_path: Path, settings: dict[str, str], field: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{field}:"):
        load_settings(secrets_dir=str(tmp_path), api_keys="k", **settings)


def test_worker_queues_are_comma_separated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WORKER_QUEUES", "imports, default")
    settings = load_settings(secrets_dir=str(tmp_path), api_keys="k")
    assert settings.worker_queues == ["imports", "default"]


def test_the_visibility_timeout_default_exceeds_the_task_time_limit_default() -> None:
    fields = Settings.model_fields
    assert fields["broker_visibility_timeout_seconds"].default > fields["task_time_limit_seconds"].default


@pytest.mark.parametrize("command", ["worker", "worker-alive", "worker-ready"])
def test_every_worker_command_exits_2_on_a_bad_setting_in_one_line(tmp_path: Path, command: str) -> None:
    env = service_env(tmp_path, api_keys="k", task_time_limit_seconds="600", broker_visibility_timeout_seconds="60")
    result = run_service([command], env)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("configuration error: BROKER_VISIBILITY_TIMEOUT_SECONDS:")
    assert len(result.stderr.strip().splitlines()) == 1


def test_worker_exits_2_on_an_option_celery_worker_does_not_take(tmp_path: Path) -> None:
    result = run_service(["worker", "--no-such-option"], service_env(tmp_path, api_keys="k"))
    assert result.returncode == 2
    assert "--no-such-option" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [["worker-alive", "extra"], ["worker-ready", "extra"]])
def test_probes_take_no_arguments(tmp_path: Path, args: list[str]) -> None:
    result = run_service(args, service_env(tmp_path, api_keys="k"))
    assert (result.returncode, result.stderr.strip()) == (2, USAGE)
