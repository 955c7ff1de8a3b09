"""The service's data: MySQL and Redis in the cluster (`MySql`, `Redis`) or outside it (an
endpoint only, `endpoints`), and their scheduled, encrypted, off-site backups (`backup/`).

- `mysql`, `redis`: the servers, each a single-instance StatefulSet (components.kube.statefulset)
- `mysql_client`: how MySQL clients in the stack log in (an option file in a Secret)
- `backup/`: the repository (`BackupRepository`), the jobs (`MySqlBackup`, `RedisBackup`) and
  the shell scripts they run (`commands`, run for real by the tests and `python -m recovery.drill`)

No re-exports here: the operator's restore tool imports `mysql_client` without Pulumi installed.
"""
