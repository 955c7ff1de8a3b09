#!/bin/sh
# redis:7.4's entrypoint contract (see Containerfile), minus the root-only chown/gosu step.
set -e
# Options first, or a config file: run them with redis-server.
case "${1:-}" in
-* | *.conf) set -- redis-server "$@" ;;
esac
if [ "${1:-}" = redis-server ] && [ "$(umask)" = 0022 ]; then
	umask 0077
fi
exec "$@"
