#!/usr/bin/env bash
# Smoke check of a node started by up.sh, from where a user stands: kubectl on the host with the
# printed kubeconfig, traffic between pods. Checks, each printed as PASS or FAIL:
#   - a restricted pod (runAsNonRoot uid 10001, readOnlyRootFilesystem, drop ALL, seccomp
#     RuntimeDefault) in a namespace with pod-security enforce=restricted, its image pulled from
#     the node's registry by digest (imagePullPolicy Always);
#   - a PVC Bound through the provisioner (StorageClass standard, the default) and written by
#     uid 10001; a Secret volume's file readable;
#   - DNS: kubernetes.default and a Service of the namespace; the API through 10.96.0.1;
#   - NetworkPolicy enforced: default-deny ingress blocks a client pod, an allow rule lets it
#     in, a pod the rule does not name stays out;
#   - the MySQL stand-in starts with the component's server.cnf, as uid 10001 on a read-only
#     root, answers `mysqladmin ping`, created the app user and database and keeps them over a
#     restart on the same volume; the Redis stand-in answers PING with requirepass from an
#     included file (and refuses without it).
# The namespace is deleted at the end (its volumes with it: reclaim policy Delete).
#
# Usage: scripts/node/smoke.sh RUN_DIR        exit 0 when every check passed
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2016 # the single-quoted scripts run in the pods' shells
set -euo pipefail
{

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# shellcheck source=../lib/common.sh
. "$REPO/scripts/lib/common.sh"
LOG_PREFIX=node-smoke
if [ $# -ne 1 ]; then die "usage: $0 RUN_DIR"; fi
RUN="$(cd "$1" && pwd -P)"
[ -f "$RUN/node.env" ] || die "$RUN/node.env not found: start the node with scripts/node/up.sh $RUN"
# shellcheck disable=SC1091
. "$RUN/node.env"
# shellcheck disable=SC1090,SC1091
. "$NODE_IMAGES_ENV"
export KUBECONFIG
NS=node-smoke
T0=$EPOCHREALTIME
k() { "$CLUSTER_BIN_DIR/kubectl" "$@"; }
kn() { k -n "$NS" "$@"; }

FAILED=0
check() { # check WHAT CMD...: PASS or FAIL, with the command's output on failure
	local what="$1" out
	shift
	if out="$("$@" 2>&1)"; then
		printf 'PASS  %s\n' "$what"
	else
		printf 'FAIL  %s\n' "$what"
		printf '%s\n' "$out" | tail -n 15 | sed 's/^/      /'
		FAILED=$((FAILED + 1))
	fi
}
refused() { ! "$@"; }
# timed_out POD: POD's request to the server hangs until `timeout` ends it (busybox timeout
# exits 143): the policy engine drops the packets; a refusal or any other failure is not what
# is being checked. (busybox wget's own -T crashes in Debian's busybox-static 1.35.)
timed_out() { [ "$(kn exec "$1" -- sh -c 'timeout 4 wget -q -O /dev/null http://server/index.html 2>/dev/null; echo $?')" = 143 ]; }

# SMOKE_KEEP=1 keeps the namespace when a check failed, to look at it.
cleanup() {
	if [ "$FAILED" != 0 ] && [ "${SMOKE_KEEP:-0}" = 1 ]; then
		log "kept namespace $NS (SMOKE_KEEP=1)"
		return 0
	fi
	k delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
}
k delete namespace "$NS" --ignore-not-found --wait=true --timeout=120s >/dev/null

# The securityContext the stacks use (components/kube/conventions.py), for every pod here.
POD_SECURITY='{"runAsNonRoot": true, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"}}'
CONTAINER_SECURITY='{"allowPrivilegeEscalation": false, "privileged": false, "readOnlyRootFilesystem": true, "runAsNonRoot": true, "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}'

# The dev stack's rendered server.cnf and redis.conf (`make render STACK=dev`,
# build/render/dev/16-configmap-mysql-config.yaml and 17-configmap-redis-config.yaml).
MYSQL_SERVER_CNF='[mysqld]
datadir = /var/lib/mysql/data
character-set-server = utf8mb4
collation-server = utf8mb4_0900_ai_ci
skip-name-resolve
skip-log-bin
secure-file-priv = NULL
mysqlx = OFF
tmpdir = /tmp
innodb_buffer_pool_size = 384M
max_connections = 96
performance_schema = OFF
'
REDIS_CONF='port 6379
bind * -::*
protected-mode yes
dir /data
maxmemory 50331648
maxmemory-policy allkeys-lru
appendonly no
appendfsync everysec
save 3600 1 300 100 60 10000
include /etc/redis/secret/auth.conf
'
MYSQL_ROOT_PASSWORD="root-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
MYSQL_APP_PASSWORD="app-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
REDIS_PASSWORD="redis-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"

python3 - "$NS" "$LOCAL_PATH_HELPER_IMAGE" "$MYSQL_IMAGE" "$REDIS_IMAGE" "$APP_IMAGE" "$POD_SECURITY" "$CONTAINER_SECURITY" \
	"$MYSQL_SERVER_CNF" "$REDIS_CONF" "$MYSQL_ROOT_PASSWORD" "$MYSQL_APP_PASSWORD" "$REDIS_PASSWORD" >"$RUN/logs/smoke.json" <<'PY'
import json, sys
ns, busybox, mysql, redis, app, pod_sec, ctr_sec, server_cnf, redis_conf, root_pw, app_pw, redis_pw = sys.argv[1:]
pod_sec, ctr_sec = json.loads(pod_sec), json.loads(ctr_sec)

def quote(p):
    return '"' + p.replace("\\", "\\\\").replace('"', '\\"') + '"'

def pod(name, labels, containers, volumes=(), **spec):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"securityContext": pod_sec, "automountServiceAccountToken": False, "enableServiceLinks": False,
                     "terminationGracePeriodSeconds": 1, "containers": containers, "volumes": list(volumes), **spec}}

def container(name, image, command, mounts=(), **extra):
    spec = {"name": name, "image": image, "imagePullPolicy": "Always", "securityContext": ctr_sec,
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}, "volumeMounts": list(mounts), **extra}
    if command:  # None: the image's entrypoint, as the MySQL component relies on
        spec["command"] = command
    return spec

def exec_probe(command, period=2, failures=60):
    return {"exec": {"command": command}, "periodSeconds": period, "timeoutSeconds": 5, "failureThreshold": failures}

tmp = {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}
objects = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {
        "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}}},
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "smoke-secret", "namespace": ns},
     "stringData": {"token": "smoke-secret-value"}},
    {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "smoke-data", "namespace": ns},
     "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "64Mi"}}}},
    # The server: writes a page onto its volume as uid 10001, copies the Secret's file next to it,
    # and serves both (busybox httpd on 8080).
    pod("server", {"app": "server"}, [container(
        "httpd", busybox,
        ["sh", "-c", "set -e; echo hello-from-pvc > /data/index.html; cat /etc/smoke/token > /data/token.txt; "
                     "id -u > /data/uid.txt; exec httpd -f -p 8080 -h /data"],
        [{"name": "data", "mountPath": "/data"}, {"name": "secret", "mountPath": "/etc/smoke", "readOnly": True}],
        ports=[{"containerPort": 8080, "name": "http"}],
        readinessProbe={"tcpSocket": {"port": 8080}, "periodSeconds": 1})],
        [{"name": "data", "persistentVolumeClaim": {"claimName": "smoke-data"}},
         {"name": "secret", "secret": {"secretName": "smoke-secret", "defaultMode": 0o440}}]),
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "server", "namespace": ns},
     "spec": {"selector": {"app": "server"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
    pod("client", {"role": "client"}, [container("sh", busybox, ["sleep", "3600"])]),
    pod("stranger", {"role": "stranger"}, [container("sh", busybox, ["sleep", "3600"])]),
    # The app image (its python) as a client of the API.
    pod("api-client", {"role": "api-client"}, [container("python", app, ["sleep", "3600"])]),
    # MySQL as components/data/mysql.py runs it: env, *_FILE secrets, conf.d, writable spots.
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "mysql-config", "namespace": ns},
     "data": {"server.cnf": server_cnf}},
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "mysql-auth", "namespace": ns},
     "stringData": {"root-password": root_pw, "password": app_pw,
                    "client.cnf": f"[client]\nuser = root\npassword = {quote(root_pw)}\n"}},
    {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "mysql-data", "namespace": ns},
     "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}},
    pod("mysql", {"app": "mysql"}, [container(
        "mysql", mysql, None,
        [{"name": "data", "mountPath": "/var/lib/mysql"}, {"name": "config", "mountPath": "/etc/mysql/conf.d", "readOnly": True},
         {"name": "secrets", "mountPath": "/etc/mysql/secrets", "readOnly": True},
         {"name": "run", "mountPath": "/var/run/mysqld"}, {"name": "tmp", "mountPath": "/tmp"}],
        env=[{"name": "MYSQL_DATABASE", "value": "app"}, {"name": "MYSQL_USER", "value": "app"},
             {"name": "MYSQL_ROOT_PASSWORD_FILE", "value": "/etc/mysql/secrets/root-password"},
             {"name": "MYSQL_PASSWORD_FILE", "value": "/etc/mysql/secrets/password"}],
        startupProbe=exec_probe(["mysql", "--defaults-extra-file=/etc/mysql/secrets/client.cnf", "--protocol=TCP",
                                 "--host=127.0.0.1", "--port=3306", "--connect-timeout=3", "--execute=SELECT 1"]),
        readinessProbe=exec_probe(["mysql", "--defaults-extra-file=/etc/mysql/secrets/client.cnf", "--protocol=TCP",
                                   "--host=127.0.0.1", "--port=3306", "--connect-timeout=3", "--execute=SELECT 1"], 5, 3))],
        [{"name": "data", "persistentVolumeClaim": {"claimName": "mysql-data"}},
         {"name": "config", "configMap": {"name": "mysql-config"}},
         {"name": "secrets", "secret": {"secretName": "mysql-auth", "defaultMode": 0o440}},
         {"name": "run", "emptyDir": {"sizeLimit": "16Mi"}}, tmp]),
    # Redis as components/data/redis.py runs it: the command, the included auth file, /data.
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "redis-config", "namespace": ns},
     "data": {"redis.conf": redis_conf}},
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "redis-auth", "namespace": ns},
     "stringData": {"password": redis_pw, "auth.conf": f"requirepass {quote(redis_pw)}\nmasterauth {quote(redis_pw)}\n"}},
    pod("redis", {"app": "redis"}, [container(
        "redis", redis, ["redis-server", "/etc/redis/conf/redis.conf"],
        [{"name": "data", "mountPath": "/data"}, {"name": "config", "mountPath": "/etc/redis/conf", "readOnly": True},
         {"name": "secret", "mountPath": "/etc/redis/secret", "readOnly": True}, {"name": "tmp", "mountPath": "/tmp"}],
        readinessProbe=exec_probe(["sh", "-c", 'REDISCLI_AUTH="$(cat /etc/redis/secret/password)" redis-cli -h 127.0.0.1 -p 6379 ping | grep -Eq "^PONG$"'], 2, 30))],
        [{"name": "data", "emptyDir": {"sizeLimit": "64Mi"}}, {"name": "config", "configMap": {"name": "redis-config"}},
         {"name": "secret", "secret": {"secretName": "redis-auth", "defaultMode": 0o440}}, tmp]),
]
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
PY
log "applying the smoke objects in namespace $NS"
k apply -f "$RUN/logs/smoke.json" >/dev/null
trap cleanup EXIT

check "pods admitted under pod-security enforce=restricted (all 6 exist)" sh -c "[ \$('$CLUSTER_BIN_DIR/kubectl' -n $NS get pods -o name | wc -l) = 6 ]"
check "a privileged pod is refused by pod-security restricted" refused k -n "$NS" run bad --image="$LOCAL_PATH_HELPER_IMAGE" --restart=Never \
	--overrides='{"spec": {"containers": [{"name": "bad", "image": "'"$LOCAL_PATH_HELPER_IMAGE"'", "securityContext": {"privileged": true}}]}}'
check "server, client, stranger, api-client pods Ready" kn wait --for=condition=Ready pod/server pod/client pod/stranger pod/api-client --timeout=180s
check "PVC smoke-data Bound through the provisioner (StorageClass standard, the default)" \
	sh -c "[ \"\$('$CLUSTER_BIN_DIR/kubectl' -n $NS get pvc smoke-data -o jsonpath='{.status.phase} {.spec.storageClassName}')\" = 'Bound standard' ]"
pv="$(kn get pvc smoke-data -o jsonpath='{.spec.volumeName}')"
check "its volume ($pv) is a directory under RUN_DIR/volumes" sh -c "ls -d '$RUN'/volumes/${pv}_* >/dev/null"
check "the volume was written by uid 10001 (file owner on the node)" sh -c "[ \"\$(stat -c %u '$RUN'/volumes/${pv}_*/index.html)\" = 10001 ]"
check "the pod pulled its image by digest (status.imageID = the registry's digest)" sh -c \
	"[ \"\$('$CLUSTER_BIN_DIR/kubectl' -n $NS get pod server -o jsonpath='{.status.containerStatuses[0].imageID}')\" = '$LOCAL_PATH_HELPER_IMAGE' ]"
check "the container runs as 10001 with a read-only root and no capabilities" kn exec client -- sh -c \
	'[ "$(id -u)" = 10001 ] && ! touch /probe 2>/dev/null && grep -q "^CapEff:[[:space:]]*0000000000000000$" /proc/self/status && grep -q "^Seccomp:[[:space:]]*2$" /proc/self/status'
check "DNS resolves kubernetes.default" kn exec client -- nslookup kubernetes.default.svc.cluster.local
check "DNS resolves the Service server.$NS" kn exec client -- nslookup "server.$NS.svc.cluster.local"
check "the app image's python reaches the API through the kubernetes Service (https://10.96.0.1/version)" kn exec api-client -- python3 -c \
	'import json, ssl, urllib.request; print(json.load(urllib.request.urlopen("https://10.96.0.1/version", context=ssl._create_unverified_context(), timeout=5))["gitVersion"])'
check "client reads the page from the volume through the Service, before any policy" kn exec client -- sh -c \
	'[ "$(timeout 5 wget -q -O - http://server/index.html)" = hello-from-pvc ]'
check "the Secret volume's file was readable (served back from the volume)" kn exec client -- sh -c \
	'[ "$(timeout 5 wget -q -O - http://server/token.txt)" = smoke-secret-value ]'

k apply -f - >/dev/null <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny-ingress, namespace: $NS}
spec:
  podSelector: {}
  policyTypes: [Ingress]
EOF
sleep 2
check "default-deny ingress: the client times out on the server" timed_out client
k apply -f - >/dev/null <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: server-from-client, namespace: $NS}
spec:
  podSelector: {matchLabels: {app: server}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {role: client}}}]
    ports: [{port: 8080, protocol: TCP}]
EOF
sleep 2
check "allow rule: the client gets in" kn exec client -- sh -c '[ "$(timeout 5 wget -q -O - http://server/index.html)" = hello-from-pvc ]'
check "allow rule: a pod it does not name stays out" timed_out stranger
check "DNS still resolves under default-deny ingress" kn exec client -- nslookup "server.$NS.svc.cluster.local"

check "MySQL stand-in Ready (startup and readiness probes: the component's mysql commands)" kn wait --for=condition=Ready pod/mysql --timeout=300s
check "mysqladmin ping (the liveness probe's command)" kn exec mysql -- mysqladmin --defaults-extra-file=/etc/mysql/secrets/client.cnf \
	--protocol=TCP --host=127.0.0.1 --port=3306 --connect-timeout=3 ping
check "the entrypoint created database app and user app (MYSQL_PASSWORD_FILE)" kn exec mysql -- sh -c \
	'mysql -uapp -p"$(cat /etc/mysql/secrets/password)" --protocol=TCP -h127.0.0.1 app -e "CREATE TABLE smoke (id INT PRIMARY KEY); INSERT INTO smoke VALUES (1); SELECT COUNT(*) FROM smoke" | grep -qx 1'
check "mysqld runs as uid 10001" kn exec mysql -- sh -c '[ "$(stat -c %u /proc/1)" = 10001 ]'
check "mysqldump of app ends with the trailer the backup job checks" kn exec mysql -- bash -c \
	'mysqldump --defaults-extra-file=/etc/mysql/secrets/client.cnf --host=127.0.0.1 --skip-dump-date --single-transaction app | tail -n 1 | grep -qx -- "-- Dump completed"'
kn delete pod mysql --wait=true --timeout=120s >/dev/null
k apply -f "$RUN/logs/smoke.json" >/dev/null
check "MySQL stand-in Ready again on the same volume (a restart)" kn wait --for=condition=Ready pod/mysql --timeout=300s
check "the restart skipped initialisation and kept the data" kn exec mysql -- sh -c \
	'mysql -uapp -p"$(cat /etc/mysql/secrets/password)" --protocol=TCP -h127.0.0.1 app -e "SELECT COUNT(*) FROM smoke" | grep -qx 1'
check "the restart's log says the data directory was already initialised" sh -c \
	"'$CLUSTER_BIN_DIR/kubectl' -n $NS logs mysql | grep -q 'already initialized'"
check "Redis stand-in Ready (its PING probe)" kn wait --for=condition=Ready pod/redis --timeout=120s
check "redis PING with the password from the included auth.conf" kn exec redis -- sh -c \
	'[ "$(REDISCLI_AUTH="$(cat /etc/redis/secret/password)" redis-cli -h 127.0.0.1 ping)" = PONG ]'
check "redis refuses a client without the password (NOAUTH)" kn exec redis -- sh -c 'redis-cli -h 127.0.0.1 ping 2>&1 | grep -q NOAUTH'

trap - EXIT
if [ "$FAILED" != 0 ] && [ "${SMOKE_KEEP:-0}" = 1 ]; then
	log "kept namespace $NS (SMOKE_KEEP=1)"
else
	log "deleting namespace $NS (its volumes go with it)"
	k delete namespace "$NS" --wait=true --timeout=180s >/dev/null
	check "the provisioner removed the volume directory" sh -c "! ls -d '$RUN'/volumes/${pv}_* 2>/dev/null"
fi
log "$FAILED check(s) failed, in $(seconds_since "$T0") s"
[ "$FAILED" = 0 ]
}
