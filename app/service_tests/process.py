"""``python -m service`` in a process of its own (uvicorn, real sockets) against the private
servers, its secrets as files in a directory, the way Kubernetes mounts them, its output in a file
(a pipe nobody reads while the test runs would fill up and stall the service)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from service_tests.cli import service_env
from service_tests.testbed import API_KEY, TEST_DB
from testservers import MariaDB, RedisServer, free_port

READY_TIMEOUT_SECONDS = 30.0


class ServiceProcess:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 30) -> tuple[int, str]:
        """SIGTERM, then the exit status and everything the service wrote."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout), self.output()


def write_secrets(mariadb: MariaDB, redis_server: RedisServer, directory: Path) -> Path:
    """`directory`/secrets with exactly the files the Kubernetes Secret carries."""
    secrets_dir = directory / "secrets"
    secrets_dir.mkdir(exist_ok=True)
    (secrets_dir / "db_password").write_text(mariadb.password + "\n")
    (secrets_dir / "redis_password").write_text(redis_server.password + "\n")
    (secrets_dir / "api_keys").write_text(API_KEY + "\n")
    return secrets_dir


def server_settings(mariadb: MariaDB, redis_server: RedisServer) -> dict[str, str]:
    """The settings that point a process of the service at the private servers, in dev mode."""
    return {
        "app_env": "dev",
        "db_host": "127.0.0.1",
        "db_port": str(mariadb.port),
        "db_name": TEST_DB,
        "db_user": mariadb.user,
        "redis_host": "127.0.0.1",
        "redis_port": str(redis_server.port),
    }


@contextmanager
def running_service(
    mariadb: MariaDB, redis_server: RedisServer, directory: Path, **settings: str
) -> Iterator[ServiceProcess]:
    """The service, ready (/readyz 200), in dev mode unless `settings` say otherwise; killed on exit if still up.

    Its secrets go to `directory`/secrets, its output to `directory`/service.log.
    """
    secrets_dir = write_secrets(mariadb, redis_server, directory)
    port = free_port()
    values = {
        **server_settings(mariadb, redis_server),
        "service_host": "127.0.0.1",
        "service_port": str(port),
        "workers": "1",
        "graceful_shutdown_timeout": "5",
    }
    env = service_env(secrets_dir, **{**values, **settings})
    log = directory / "service.log"
    with log.open("wb") as output:
        process = subprocess.Popen([sys.executable, "-m", "service"], env=env, stdout=output, stderr=subprocess.STDOUT)
    service = ServiceProcess(process, port, log)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(service.url + "/readyz", timeout=1).status_code == httpx.codes.OK:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            process.kill()
            process.wait(timeout=10)
            pytest.fail(f"service not ready: {service.output()}")
        yield service
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
