#!/bin/bash
# The mysql:8.4 image's entrypoint contract on MariaDB 10.11 (see Containerfile): initialise an
# empty data directory on first start, then exec the server.
set -eo pipefail
shopt -s nullglob

mysql_log() {
	local type="$1"
	shift
	printf '%s [%s] [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$type" "$*"
}
mysql_note() { mysql_log Note "$@"; }
mysql_warn() { mysql_log Warn "$@" >&2; }
mysql_error() {
	mysql_log ERROR "$@" >&2
	exit 1
}

# file_env VAR [DEFAULT]: VAR from the environment or from the file named by VAR_FILE.
file_env() {
	local var="$1" file_var="${1}_FILE" def="${2:-}" val
	if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
		mysql_error "both $var and $file_var are set (but are exclusive)"
	fi
	val="$def"
	if [ -n "${!var:-}" ]; then
		val="${!var}"
	elif [ -n "${!file_var:-}" ]; then
		[ -r "${!file_var}" ] || mysql_error "$file_var=${!file_var}: cannot read it"
		val="$(<"${!file_var}")"
	fi
	export "$var"="$val"
	unset "$file_var"
}

SERVER_CNF=/var/run/mysqld/server.cnf

# The server's option file: the image defaults, then every /etc/mysql/conf.d/*.cnf with the
# MySQL-only settings MariaDB refuses translated (listed in the Containerfile).
compose_server_config() {
	local f tmp="$SERVER_CNF.$$"
	{
		printf '# Composed by docker-entrypoint.sh from defaults.cnf and /etc/mysql/conf.d/*.cnf.\n'
		cat /etc/mysql/stand-in/defaults.cnf
		for f in /etc/mysql/conf.d/*.cnf; do
			printf '\n# --- %s ---\n' "$f"
			sed -E \
				-e 's/^([[:space:]]*)(mysqlx([-_][[:alnum:]_-]*)?)([[:space:]]*(=|$))/\1loose-\2\4/' \
				-e 's/utf8mb4_0900_(ai_ci|as_ci|as_cs)/utf8mb4_uca1400_nopad_\1/g' \
				-e 's/utf8mb4_0900_bin/utf8mb4_nopad_bin/g' \
				-e 's/^([[:space:]]*secure[-_]file[-_]priv[[:space:]]*=[[:space:]]*)"?[Nn][Uu][Ll][Ll]"?[[:space:]]*$/\1\/var\/lib\/mysql-files/' \
				"$f"
			printf '\n'
		done
	} >"$tmp"
	mv -f "$tmp" "$SERVER_CNF"
}

# server_option NAME: the value the server will use (the last one given).
server_option() { my_print_defaults --defaults-file="$SERVER_CNF" mysqld | sed -n "s/^--$1=//p" | tail -n 1; }

check_config() {
	local out
	if ! out="$(mysqld --defaults-file="$SERVER_CNF" --verbose --help 2>&1 >/dev/null)"; then
		mysql_error $'mysqld failed while attempting to check config\n\tcommand was: mysqld --defaults-file='"$SERVER_CNF"$' --verbose --help\n\t'"$out"
	fi
}

# sql_escape TEXT: TEXT inside '...' in SQL.
sql_escape() {
	local s="${1//\\/\\\\}"
	printf '%s' "${s//\'/\\\'}"
}

# PASSFILE: root's password as a client option file (never on a command line), for the
# initialisation only. A file in /var/run/mysqld, not <(...) as upstream: in the container
# MariaDB's client fails on /dev/fd/N ("Could not open required defaults file").
PASSFILE=""
write_passfile() {
	local p="${MYSQL_ROOT_PASSWORD:-}"
	p="${p//\\/\\\\}"
	PASSFILE="$(dirname "$SOCKET")/.init-client.cnf"
	(umask 077 && printf '[client]\npassword="%s"\n' "${p//\"/\\\"}" >"$PASSFILE")
	trap 'rm -f "$PASSFILE"' EXIT
}

# process_sql [--dont-use-mysql-root-password] [mysql args]: SQL on stdin, over the socket.
process_sql() {
	local passfile=(--defaults-extra-file="$PASSFILE")
	if [ "${1:-}" = --dont-use-mysql-root-password ]; then
		passfile=()
		shift
	fi
	mysql "${passfile[@]}" --protocol=socket --socket="$SOCKET" -uroot -hlocalhost --comments "$@"
}

temp_server_start() {
	mysqld --defaults-file="$SERVER_CNF" --skip-networking --default-time-zone=SYSTEM \
		--socket="$SOCKET" --wsrep-on=OFF --loose-innodb-buffer-pool-load-at-startup=0 "$@" &
	MYSQLD_PID=$!
	local i
	for i in $(seq 60); do
		if mysqladmin --protocol=socket --socket="$SOCKET" -uroot ping >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$MYSQLD_PID" 2>/dev/null || mysql_error "the temporary server exited during initialisation (its log is above)"
		sleep 0.5
		[ "$i" -lt 60 ] || mysql_error "unable to start the temporary server within 30 s"
	done
}

temp_server_stop() {
	mysqladmin --defaults-extra-file="$PASSFILE" --protocol=socket --socket="$SOCKET" -uroot shutdown ||
		mysql_error "unable to shut down the temporary server"
	wait "$MYSQLD_PID" || true
}

verify_minimum_env() {
	if [ -z "${MYSQL_ROOT_PASSWORD:-}" ] && [ -z "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" ] && [ -z "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]; then
		mysql_error $'Database is uninitialized and password option is not specified\n\tYou need to specify one of the following as an environment variable:\n\t- MYSQL_ROOT_PASSWORD\n\t- MYSQL_ALLOW_EMPTY_PASSWORD\n\t- MYSQL_RANDOM_ROOT_PASSWORD'
	fi
	if [ "${MYSQL_USER:-}" = root ]; then
		mysql_error $'MYSQL_USER="root", MYSQL_USER and MYSQL_PASSWORD are for configuring a regular user and cannot be used for the root user\n\tRemove MYSQL_USER="root" and use one of the following to control the root user password:\n\t- MYSQL_ROOT_PASSWORD\n\t- MYSQL_ALLOW_EMPTY_PASSWORD\n\t- MYSQL_RANDOM_ROOT_PASSWORD'
	fi
	if [ -n "${MYSQL_USER:-}" ] && [ -z "${MYSQL_PASSWORD:-}" ]; then
		mysql_warn "MYSQL_USER specified, but missing MYSQL_PASSWORD; MYSQL_USER will not be created"
	elif [ -z "${MYSQL_USER:-}" ] && [ -n "${MYSQL_PASSWORD:-}" ]; then
		mysql_warn "MYSQL_PASSWORD specified, but missing MYSQL_USER; MYSQL_PASSWORD will be ignored"
	fi
}

init_database_dir() {
	mysql_note "Initializing database files"
	# --auth-root-authentication-method=normal: root@localhost starts without a password, as
	# after mysqld --initialize-insecure; the setup below sets it. --rpm: no host name lookup
	# (the pod's name does not resolve), as MariaDB's own image runs it.
	mariadb-install-db --defaults-file="$SERVER_CNF" --rpm --auth-root-authentication-method=normal \
		--skip-test-db --skip-name-resolve --default-time-zone=SYSTEM --skip-log-bin \
		--loose-innodb-buffer-pool-dump-at-shutdown=0 >/dev/null ||
		mysql_error "mariadb-install-db failed for $DATADIR"
	mysql_note "Database files initialized"
}

process_init_files() {
	local f
	for f in "$@"; do
		case "$f" in
		*.sh)
			if [ -x "$f" ]; then
				mysql_note "$0: running $f"
				"$f"
			else
				mysql_note "$0: sourcing $f"
				# shellcheck disable=SC1090
				. "$f"
			fi
			;;
		*.sql)
			mysql_note "$0: running $f"
			process_sql --database="$MYSQL_DATABASE" <"$f"
			;;
		*.sql.gz)
			mysql_note "$0: running $f"
			gunzip -c "$f" | process_sql --database="$MYSQL_DATABASE"
			;;
		*) mysql_warn "$0: ignoring $f" ;;
		esac
	done
}

setup_db() {
	if [ -z "${MYSQL_INITDB_SKIP_TZINFO:-}" ]; then
		mysql_note "Loading time zones"
		mariadb-tzinfo-to-sql /usr/share/zoneinfo 2>/dev/null | process_sql --dont-use-mysql-root-password --database=mysql
	fi
	if [ -n "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]; then
		MYSQL_ROOT_PASSWORD="$(head -c 24 /dev/urandom | base64 | tr -d '\n')"
		export MYSQL_ROOT_PASSWORD
		mysql_note "GENERATED ROOT PASSWORD: $MYSQL_ROOT_PASSWORD"
	fi
	write_passfile
	local root_host="${MYSQL_ROOT_HOST:-%}" root_create=""
	if [ "$root_host" != localhost ]; then
		root_create="CREATE USER 'root'@'$(sql_escape "$root_host")' IDENTIFIED BY '$(sql_escape "${MYSQL_ROOT_PASSWORD:-}")';
			GRANT ALL ON *.* TO 'root'@'$(sql_escape "$root_host")' WITH GRANT OPTION;"
	fi
	# The users mariadb-install-db adds besides root@localhost (root@127.0.0.1, root@::1,
	# root@<hostname>, mysql@localhost) have no mysql:8.4 counterpart.
	process_sql --dont-use-mysql-root-password --database=mysql <<-EOSQL
		SET @@SESSION.SQL_LOG_BIN=0;
		DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1', 'mysql'@'localhost';
		EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS root@\'', @@hostname, '\'');
		ALTER USER 'root'@'localhost' IDENTIFIED BY '$(sql_escape "${MYSQL_ROOT_PASSWORD:-}")';
		${root_create}
		DROP DATABASE IF EXISTS test;
	EOSQL
	if [ -n "${MYSQL_DATABASE:-}" ]; then
		mysql_note "Creating database ${MYSQL_DATABASE}"
		process_sql --database=mysql <<<"CREATE DATABASE IF NOT EXISTS \`${MYSQL_DATABASE//\`/\`\`}\`;"
	fi
	if [ -n "${MYSQL_USER:-}" ] && [ -n "${MYSQL_PASSWORD:-}" ]; then
		mysql_note "Creating user ${MYSQL_USER}"
		process_sql --database=mysql <<<"CREATE USER '$(sql_escape "$MYSQL_USER")'@'%' IDENTIFIED BY '$(sql_escape "$MYSQL_PASSWORD")';"
		if [ -n "${MYSQL_DATABASE:-}" ]; then
			mysql_note "Giving user ${MYSQL_USER} access to schema ${MYSQL_DATABASE}"
			process_sql --database=mysql <<<"GRANT ALL ON \`${MYSQL_DATABASE//\`/\`\`}\`.* TO '$(sql_escape "$MYSQL_USER")'@'%';"
		fi
	fi
}

_main() {
	# mysqld options given as the first arguments: prepend mysqld, as the official image does.
	if [ "${1:0:1}" = - ]; then
		set -- mysqld "$@"
	fi
	case "${1:-}" in mysqld | mariadbd) ;; *) exec "$@" ;; esac
	local arg
	for arg in "$@"; do
		case "$arg" in -'?' | --help | --print-defaults | -V | --version) exec "$@" ;; esac
	done
	shift
	mysql_note "Entrypoint script for the mysql:8.4 stand-in (MariaDB $(mysqld --no-defaults --version | sed -n 's/.*Ver \([^ ]*\).*/\1/p')) started."
	compose_server_config
	check_config
	DATADIR="$(server_option datadir)"
	SOCKET="$(server_option socket)"
	file_env MYSQL_ROOT_HOST %
	file_env MYSQL_DATABASE
	file_env MYSQL_USER
	file_env MYSQL_PASSWORD
	file_env MYSQL_ROOT_PASSWORD
	if [ ! -d "$DATADIR/mysql" ]; then
		verify_minimum_env
		mkdir -p "$DATADIR"
		init_database_dir
		mysql_note "Starting temporary server"
		temp_server_start "$@"
		mysql_note "Temporary server started."
		setup_db
		process_init_files /docker-entrypoint-initdb.d/*
		mysql_note "Stopping temporary server"
		temp_server_stop
		rm -f "$PASSFILE"
		mysql_note "Temporary server stopped"
		echo
		mysql_note "MySQL init process done. Ready for start up."
		echo
	else
		mysql_note "Database directory $DATADIR already initialized: skipping initialisation"
	fi
	exec mysqld --defaults-file="$SERVER_CNF" "$@"
}

_main "$@"
