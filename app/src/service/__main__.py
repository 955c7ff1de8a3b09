"""``python -m service`` serves; ``migrate`` upgrades the schema; ``worker`` runs the background
worker; ``worker-alive`` and ``worker-ready`` are its probes.

Exit codes: 0 ok, 1 runtime failure (e.g. database unreachable during a
migration; a probe that fails), 2 bad usage or bad settings (one line on stderr, no traceback),
3 the server did not start (the lifespan failed), and after SIGTERM 143
(uvicorn re-raises it once the shutdown is done; with WORKERS > 1 the
supervisor exits 0). The worker exits 0 after its warm shutdown on SIGTERM.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from service.config import Settings

USAGE = "usage: python -m service [serve|migrate|worker [celery worker options...]|worker-alive|worker-ready]"
# Commands that take no arguments; `worker` passes its arguments on to `celery worker`.
_PLAIN_COMMANDS = ("serve", "migrate", "worker-alive", "worker-ready")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "serve"
    if command in ("-h", "--help"):
        print(USAGE)
        return 0
    if not (command == "worker" or (command in _PLAIN_COMMANDS and len(args) <= 1)):
        print(USAGE, file=sys.stderr)
        return 2

    from service.config import ConfigError, get_settings
    from service.logs import configure_logging, logging_config

    try:
        settings = get_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2

    if command in ("worker-alive", "worker-ready"):
        from service.jobs.probes import broker_ready, worker_alive

        # No logging set up: a probe answers in one line, on failure only (the kubelet shows it).
        problem = (worker_alive if command == "worker-alive" else broker_ready)(settings)
        if problem:
            print(f"{command}: {problem}", file=sys.stderr)
            return 1
        return 0

    configure_logging(settings.log_level, settings.secret_values())

    if command == "worker":
        return _worker(settings, args[1:])

    if command == "migrate":
        from service.migrate import upgrade_head

        try:
            upgrade_head(settings)
        except Exception as exc:
            # One line for the Job's log; the message could quote the DSN, so name the class only.
            logging.getLogger("service.migrate").error("migration failed", extra={"error": type(exc).__name__})
            print(f"migration failed: {type(exc).__name__}", file=sys.stderr)
            return 1
        logging.getLogger("service.migrate").info("migrations at head")
        return 0

    import uvicorn

    from service.server import DrainingHttpToolsProtocol, GracefulServer, serve

    drain = settings.graceful_drain
    serve(
        uvicorn.Config(
            "service.main:app",
            host=settings.service_host,
            port=settings.service_port,
            workers=settings.effective_workers(),
            loop="uvloop",
            http=DrainingHttpToolsProtocol if drain else "httptools",
            lifespan="on",
            proxy_headers=True,
            forwarded_allow_ips=settings.forwarded_allow_ips,
            timeout_graceful_shutdown=settings.graceful_shutdown_timeout,
            log_config=logging_config(settings.log_level),
            access_log=False,  # the service writes its own, with the request id
            server_header=False,
        ),
        GracefulServer if drain else uvicorn.Server,
    )
    return 0


def _worker(settings: Settings, extra_args: list[str]) -> int:
    # Task metrics are counted in the pool's processes and served by the main one: prometheus-client's
    # multiprocess mode, which it chooses at import from this variable. A directory of this run's own
    # unless one is given; removed at exit (its counts end with the process).
    own_dir = None
    given_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given_dir:
        os.makedirs(given_dir, exist_ok=True)  # e.g. a path under the pod's fresh /tmp
    else:
        own_dir = tempfile.mkdtemp(prefix="service-worker-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = own_dir
    try:
        from service.jobs.worker import run_worker

        return run_worker(settings, extra_args)
    finally:
        if own_dir is not None:
            shutil.rmtree(own_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
