"""``python -m service`` serves; ``python -m service migrate`` upgrades the schema.

Exit codes: 0 ok, 1 runtime failure (e.g. database unreachable during a
migration), 2 bad usage or bad settings (one line on stderr, no traceback),
3 the server did not start (the lifespan failed), and after SIGTERM 143
(uvicorn re-raises it once the shutdown is done; with WORKERS > 1 the
supervisor exits 0).
"""

from __future__ import annotations

import logging
import sys

USAGE = "usage: python -m service [serve|migrate]"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "serve"
    if command in ("-h", "--help"):
        print(USAGE)
        return 0
    if command not in ("serve", "migrate") or len(args) > 1:
        print(USAGE, file=sys.stderr)
        return 2

    from service.config import ConfigError, get_settings
    from service.logs import configure_logging, logging_config

    try:
        settings = get_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.secret_values())

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


if __name__ == "__main__":
    sys.exit(main())
