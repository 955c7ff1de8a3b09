"""Real, throwaway servers and tools for the tests, the bench and the backup drill: MariaDB and
Redis (Debian's), an S3 server (SeaweedFS) and restic (both built from Go modules, cached).

Each server lives in a directory of its own and listens on a free 127.0.0.1 port; it can be
stopped and started again (outage tests), and every wait is bounded. The standard library only
(no pytest, no drivers), so the infra tests (the repository's venv), the app's tests and bench
(app/.venv) and the operator's drill share this one launcher. A missing binary raises
MissingBinaryError naming the package to install; `make test` installs them first.

- `process`: ports, binaries, the server process    - `mariadb`, `redis`: the servers
- `s3`, `restic`: the backup tests' S3 server, restic and the restic image's shell
- `backup`: the backup jobs' steps as the pods run them     - `app_data`: the app's schema and data
"""

from testservers.mariadb import MariaDB, mariadb_server
from testservers.process import MissingBinaryError, ServerProcess, find_binary, free_port
from testservers.redis import RedisClient, RedisReplyError, RedisServer, RespValue, redis_server

__all__ = [
    "MariaDB",
    "MissingBinaryError",
    "RedisClient",
    "RedisReplyError",
    "RedisServer",
    "RespValue",
    "ServerProcess",
    "find_binary",
    "free_port",
    "mariadb_server",
    "redis_server",
]
