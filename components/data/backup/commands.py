"""The backup jobs' shell scripts: snapshot a server into one file, then restic puts it off-site.

Pure functions returning shell text (no Pulumi), so the CronJobs and
tests/components/data/backup/test_commands.py run the very same scripts; the tests run them against
real MariaDB, Redis, restic and an S3 server. `python -m recovery.restore` reads the snapshots back.

- `mysql_dump_script`: bash, in the MySQL image (mysqldump).
- `redis_snapshot_script`: POSIX sh, in the Redis image (redis-cli).
- `restic_backup_script`: POSIX sh for busybox, in the restic image (restic >= 0.17: it relies
  on `--retry-lock` and on exit codes 10 "no repository" and 12 "wrong password").

Each snapshot is written to `<output>.partial` and renamed only once complete, so a failed run
leaves no file for restic to take; restic refuses to run without one. Credentials only ever come
from mounted files, read inside the script: none is on a command line, in the pod spec or printed.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from components.config import Retention  # what `restic forget` keeps: the newest of each of the last N days, weeks, months

# What restic's --tag and --host take without surprises (a comma would split a tag in two).
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_DATABASE = re.compile(r"\w{1,64}")
# mysqldump's last line when it finished (--skip-dump-date drops the date after it).
DUMP_TRAILER = "-- Dump completed"
# restic waits this long at most for another restic's lock (a prune of the other server's job
# in the same repository, an operator's `restic check`), within the job's budget.
MAX_LOCK_WAIT_SECONDS = 300
# After the INT that ends a restic call over budget, KILL follows this much later.
KILL_AFTER_SECONDS = 30


@dataclass(frozen=True)
class ResticTarget:
    """Where a backup container finds the repository and the files holding its secrets."""

    repository: str  # "s3:https://host[:port]/bucket/path" or a local path ("/backups/restic")
    password_file: str  # file holding the repository password
    s3_access_key_id: str | None = None
    s3_secret_key_file: str | None = None  # file holding the S3 secret access key
    s3_region: str | None = None
    cache_dir: str = "/tmp/restic-cache"  # noqa: S108 - the pod's root is read-only; /tmp is an emptyDir

    @property
    def is_s3(self) -> bool:
        return self.repository.startswith("s3:")


def mysql_dump_script(*, defaults_file: str, host: str, port: int, database: str, output: str) -> str:
    """Bash: a consistent dump of `database` to `output`, atomically.

    --single-transaction reads one InnoDB snapshot without locking the app out. Plain SQL, no
    gzip: restic compresses, and a gzip stream would change throughout after any edit, defeating
    restic's deduplication; --skip-dump-date keeps an unchanged database's dump byte-identical.
    No --databases: the dump carries no CREATE DATABASE/USE, so it restores into any database
    (a scratch one first). The dump counts as written only when mysqldump succeeded and its
    last line is the trailer it writes on completion; then the partial file is renamed.
    """
    if not _DATABASE.fullmatch(database):
        raise ValueError(f"not a plain database name: {database!r}")
    connection = [
        # --defaults-extra-file must come first; it carries user and password, so neither is on argv.
        f"--defaults-extra-file={defaults_file}",
        f"--host={host}",
        f"--port={port}",
        "--default-character-set=utf8mb4",
    ]
    options = ["--single-transaction", "--skip-dump-date", "--routines", "--triggers", "--events", "--no-tablespaces", "--hex-blob"]
    return f"""\
# mysqldump of one database: one consistent snapshot, plain SQL, written atomically.
set -euo pipefail
umask 077
database={database}
output={shlex.quote(output)}
partial="$output.partial"
trap 'rm -f -- "$partial"' EXIT
rm -f -- "$output" "$partial"
mysqldump {shlex.join(connection)} \\
	{shlex.join(options)} \\
	--result-file="$partial" -- "$database"
if [ "$(tail -n 1 -- "$partial")" != {shlex.quote(DUMP_TRAILER)} ]; then
	echo "mysql-dump: FAILED: the dump of $database lacks mysqldump's closing line: incomplete" >&2
	exit 1
fi
mv -f -- "$partial" "$output"
echo "mysql-dump: $database dumped, $(wc -c <"$output") bytes in $output" >&2
"""


def redis_snapshot_script(*, password_file: str, host: str, port: int, output: str) -> str:
    """POSIX sh: an RDB snapshot of the Redis at `host:port` to `output`, atomically.

    `redis-cli --rdb` asks the server for a fresh RDB over an authenticated connection (the
    password goes from its file to REDISCLI_AUTH inside this shell: not on argv, not in the pod
    spec). The file is checked with redis-check-rdb (in the Redis image) before it is renamed.
    """
    return f"""\
# RDB snapshot of a Redis server, written atomically.
set -eu
umask 077
password_file={shlex.quote(password_file)}
output={shlex.quote(output)}
partial="$output.partial"
trap 'rm -f -- "$partial" "$partial.check"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
rm -f -- "$output" "$partial"
if [ ! -s "$password_file" ]; then
	echo "redis-snapshot: FAILED: the password file $password_file is missing or empty" >&2
	exit 1
fi
REDISCLI_AUTH="$(cat -- "$password_file")"
export REDISCLI_AUTH
redis-cli -h {shlex.quote(host)} -p {port} --rdb "$partial" >&2
if command -v redis-check-rdb >/dev/null 2>&1; then
	if ! redis-check-rdb "$partial" >"$partial.check" 2>&1; then
		tail -n 5 -- "$partial.check" >&2
		echo "redis-snapshot: FAILED: redis-check-rdb rejects the snapshot" >&2
		exit 1
	fi
fi
mv -f -- "$partial" "$output"
echo "redis-snapshot: $(wc -c <"$output") bytes in $output" >&2
"""


def restic_backup_script(
    *,
    target: ResticTarget,
    source: str,
    tag: str,
    hostname: str,
    retention: Retention,
    timeout_seconds: int,
    initialise: bool = True,
) -> str:
    """POSIX sh (busybox): back `source` up into the repository, then apply the retention.

    - The repository is created on first use: `restic cat config` exiting 10 ("does not exist")
      leads to `restic init`; any other failure, a wrong password (12) above all, stops the job.
      Only one job per repository may pass `initialise=True`: two `restic init` at once both
      "succeed", the second overwriting the first's config with another master key, and the
      repository no longer opens (measured on S3: every time). A job with `initialise=False`
      that finds no repository fails, and its Job retries.
    - One snapshot of the single file, `--tag` and `--host` fixed, so retention groups one
      server's snapshots whatever pod took them; then `forget --prune` on exactly that group.
    - `timeout_seconds` bounds all restic calls together: each gets what is left, then INT (restic
      removes its lock and exits), and KILL if that is ignored. Give the Job a deadline above it.
    - stdout carries one line, restic's JSON summary of the backup (`data_added` and the snapshot
      id); everything else, restic's output included, goes to stderr.
    """
    for name, value in (("tag", tag), ("hostname", hostname)):
        if not _LABEL.fullmatch(value):
            raise ValueError(f"restic {name} must be letters, digits, '.', '_' or '-': {value!r}")
    if timeout_seconds < 1:
        raise ValueError(f"timeout_seconds must be positive: {timeout_seconds}")
    lock_wait = f"{max(1, min(MAX_LOCK_WAIT_SECONDS, timeout_seconds // 4))}s"
    keep = ["--keep-daily", str(retention.daily), "--keep-weekly", str(retention.weekly), "--keep-monthly", str(retention.monthly)]
    group = ["--tag", tag, "--host", hostname]
    return f"""\
# restic backup of one snapshot file (tag {tag}, host {hostname}), then the retention.
set -eu
log() {{ printf 'restic-backup: %s\\n' "$*" >&2; }}
fail() {{
	log "FAILED: $*"
	exit 1
}}
export RESTIC_REPOSITORY={shlex.quote(target.repository)}
export RESTIC_PASSWORD_FILE={shlex.quote(target.password_file)}
export RESTIC_CACHE_DIR={shlex.quote(target.cache_dir)}
[ -s "$RESTIC_PASSWORD_FILE" ] || fail "the repository password file $RESTIC_PASSWORD_FILE is missing or empty"
{_s3_credentials(target)}source_file={shlex.quote(source)}
budget={timeout_seconds}
deadline=$(($(date +%s) + budget))

# restic_call WHAT ARG...: restic ARG... within what is left of the budget.
restic_call() {{
	what="$1"
	shift
	left=$((deadline - $(date +%s)))
	[ "$left" -gt 0 ] || fail "$what: no time left of the ${{budget}} s budget"
	status=0
	timeout -s INT -k {KILL_AFTER_SECONDS} "$left" restic {_global_options(target)}"$@" || status=$?
	if [ "$status" -ne 0 ] && [ "$(date +%s)" -ge "$deadline" ]; then
		log "$what: timed out: restic's budget is ${{budget}} s"
	fi
	return "$status"
}}

if [ ! -f "$source_file" ] || [ ! -s "$source_file" ]; then
	fail "no snapshot at $source_file: nothing to back up (the snapshot step failed?)"
fi

status=0
restic_call "opening the repository" cat config >/dev/null || status=$?
case "$status" in
0) ;;
10)
{_initialise() if initialise else _await_initialisation()}	;;
12) fail "wrong password for the repository at $RESTIC_REPOSITORY (check the password Secret; nothing was initialised or written)" ;;
*) fail "cannot open the repository at $RESTIC_REPOSITORY (restic exit $status; its message is above)" ;;
esac

log "backing up $source_file ($(wc -c <"$source_file") bytes) as tag {tag}, host {hostname}"
restic_call "backup" backup --json --quiet --retry-lock {lock_wait} {shlex.join(group)} -- "$source_file" ||
	fail "backup of $source_file failed (restic's message is above)"
log "applying retention: {shlex.join(keep)}"
restic_call "retention" forget --retry-lock {lock_wait} {shlex.join(group)} --group-by host,tags {shlex.join(keep)} --prune >&2 ||
	fail "forget --prune failed: the snapshot is saved, the retention was not applied"
log "done"
"""


def _initialise() -> str:
    return """\
	log "no repository at $RESTIC_REPOSITORY: initialising it"
	restic_call "initialising the repository" init >&2 || fail "could not initialise the repository at $RESTIC_REPOSITORY"
"""


def _await_initialisation() -> str:
    return """\
	fail "no repository at $RESTIC_REPOSITORY yet: another backup job creates it, and has not run yet (this Job is retried)"
"""


def _s3_credentials(target: ResticTarget) -> str:
    """Exports for an S3 repository: the key id is plain config, the secret key is read from its file."""
    fields = (target.s3_access_key_id, target.s3_secret_key_file)
    if not target.is_s3:
        if any(field is not None for field in (*fields, target.s3_region)):
            raise ValueError(f"S3 credentials given for a repository that is not on S3: {target.repository}")
        return ""
    if target.s3_access_key_id is None or target.s3_secret_key_file is None:
        raise ValueError(f"an S3 repository needs s3_access_key_id and s3_secret_key_file: {target.repository}")
    return (
        f"export AWS_ACCESS_KEY_ID={shlex.quote(target.s3_access_key_id)}\n"
        f"secret_key_file={shlex.quote(target.s3_secret_key_file)}\n"
        '[ -s "$secret_key_file" ] || fail "the S3 secret key file $secret_key_file is missing or empty"\n'
        'AWS_SECRET_ACCESS_KEY="$(cat -- "$secret_key_file")"\n'
        "export AWS_SECRET_ACCESS_KEY\n"
    )


def _global_options(target: ResticTarget) -> str:
    """restic options for every call, with a trailing space when there are any."""
    if target.is_s3 and target.s3_region:
        return shlex.join(["-o", f"s3.region={target.s3_region}"]) + " "
    return ""
