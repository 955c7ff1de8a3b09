"""The private MariaDB and Redis launcher, imported here and nowhere else in the bench.

The bench uses only what any launcher of these servers offers: start, stop, running, the port,
the credentials, MariaDB's root socket, setup_user and create_database. Its own driver
connections are in harness/datastores.py.
"""

from testservers import MariaDB, RedisServer, free_port

__all__ = ["MariaDB", "RedisServer", "free_port"]
