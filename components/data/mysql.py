"""MySQL for the service, in the cluster (an external server is only an endpoint: components/data/endpoints.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.config import MySqlConfig
from components.config.quantity import mebibytes
from components.data.backup.mysql import MySqlBackup, MySqlBackupArgs
from components.data.backup.repository import BackupRepository
from components.data.endpoints import DatabaseEndpoint
from components.data.mysql_client import CLIENT_CONFIG, CLIENT_CONFIG_DIR, CLIENT_CONFIG_KEY, client_option_file
from components.kube.passwords import given_or_generated
from components.kube.statefulset import ServerFiles, StatefulServer, server_files, single_instance_statefulset
from components.kube.workloads import exec_probe
from components.network.peers import BackupPods, NetworkPeer, ServerAccess

MYSQL_PORT = 3306
DATA_DIR = "/var/lib/mysql"


@dataclass(frozen=True)
class MySqlArgs:
    config: MySqlConfig
    namespace: pulumi.Input[str]
    root_password: pulumi.Output[str] | None = None  # from secret config; else generated
    app_password: pulumi.Output[str] | None = None
    protect: bool = False  # prod: a destroy or a replacing change stops at the data (see Storage.lock)
    backup_repository: BackupRepository | None = None  # where backups go, when mysql.backup is enabled


class MySql(pulumi.ComponentResource):
    """The service's database in the cluster: a hardened single-instance StatefulSet, and its backups."""

    endpoint: DatabaseEndpoint  # how the app connects
    access: ServerAccess  # the server's pods and port, and its backup pods, for the network policies

    def __init__(self, name: str, args: MySqlArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fastapi-service:data:MySql", name, None, opts)
        config = args.config
        child = pulumi.ResourceOptions(parent=self)
        labels = kube.labels(name="mysql", instance=name, component="database")
        selector = kube.selector(name="mysql", instance=name)
        # The server keeps the passwords it was initialised with: generated ones are protected in prod.
        root_password = given_or_generated(f"{name}-root-password", args.root_password, parent=self, length=32, protect=args.protect)
        app_password = given_or_generated(f"{name}-app-password", args.app_password, parent=self, length=32, protect=args.protect)

        server_config = server_settings(config)
        files = server_files(
            name,
            namespace=args.namespace,
            labels=labels,
            credentials={
                "root-password": root_password,
                "password": app_password,
                # For probes and the backup job: credentials in a file, never on a command line.
                CLIENT_CONFIG_KEY: root_password.apply(client_option_file),
            },
            config={"server.cnf": server_config},
            parent=self,
        )
        host = single_instance_statefulset(
            StatefulServer(
                name=name,
                namespace=args.namespace,
                labels=labels,
                selector=selector,
                port_name="mysql",
                pod_port=MYSQL_PORT,
                client_port=config.port,
                config_text=server_config,
                storage=config.storage,
                pod_spec=_pod_spec(config, files),
                protect=args.protect,
                # First start initialises the data directory and loads time zones: allow for it.
                start_timeout="15m",
            ),
            parent=self,
        )
        self.endpoint = DatabaseEndpoint(host, config.port, config.database, config.user, app_password)
        peer = NetworkPeer(pod_selector=selector, port=MYSQL_PORT)
        backup_pods: list[BackupPods] = []
        if config.backup.enabled and args.backup_repository is not None:
            backup = MySqlBackup(
                f"{name}-backup",
                MySqlBackupArgs(
                    config=config.backup,
                    repository=args.backup_repository,
                    image=config.image,
                    namespace=args.namespace,
                    host=host,
                    port=config.port,
                    database=config.database,
                    secret_name=files.secret,
                ),
                opts=child,
            )
            backup_pods = [BackupPods(backup.pod_selector, peer, args.backup_repository.s3_endpoint)]
        self.access = ServerAccess(peer, backup_pods)
        self.register_outputs({"host": host})


def server_settings(config: MySqlConfig) -> str:
    """my.cnf for the pod, sized from the container's memory limit."""
    memory = mebibytes(config.resources.limits.memory)
    # InnoDB's cache gets half the limit (MySQL rounds it to its chunk size); the rest covers
    # per-connection buffers and the server itself, so the kernel never OOM-kills mysqld.
    buffer_pool = max(128, memory // 2)
    connections = min(500, max(50, memory // 8))
    return "\n".join(
        [
            "[mysqld]",
            # A subdirectory: a fresh volume's root may hold lost+found, which --initialize refuses.
            f"datadir = {DATA_DIR}/data",
            "character-set-server = utf8mb4",
            "collation-server = utf8mb4_0900_ai_ci",
            "skip-name-resolve",
            # One server, logical backups: binary logs would only fill the volume.
            "skip-log-bin",
            "secure-file-priv = NULL",  # no SELECT ... INTO OUTFILE / LOAD DATA from the server's disk
            "mysqlx = OFF",  # the service speaks the classic protocol; one port to expose and police
            "tmpdir = /tmp",
            f"innodb_buffer_pool_size = {buffer_pool}M",
            f"max_connections = {connections}",
            # performance_schema reserves a few hundred MiB up front: too much for a small pod.
            f"performance_schema = {'ON' if memory >= 1024 else 'OFF'}",
            "",
        ]
    )


def _probes() -> dict[str, k8s.core.v1.ProbeArgsDict]:
    tcp = ["--protocol=TCP", "--host=127.0.0.1", f"--port={MYSQL_PORT}", "--connect-timeout=3"]
    # Over TCP: the entrypoint's initialisation server listens only on the socket, so the pod
    # is not ready before the real server is. Credentials come from the option file.
    query = ["mysql", f"--defaults-extra-file={CLIENT_CONFIG}", *tcp, "--execute=SELECT 1"]
    # Liveness asks "is mysqld answering?": mysqladmin ping succeeds even when the login is
    # refused, so a password mismatch shows as not-ready instead of a restart loop.
    ping = ["mysqladmin", f"--defaults-extra-file={CLIENT_CONFIG}", *tcp, "ping"]
    return {
        "startupProbe": exec_probe(query, period=10, failures=60, timeout=5),  # up to 10 minutes for first start
        "readinessProbe": exec_probe(query, period=10, failures=3, timeout=5),
        "livenessProbe": exec_probe(ping, period=20, failures=6, timeout=5),
    }


def _container(config: MySqlConfig) -> k8s.core.v1.ContainerArgsDict:
    return {
        "name": "mysql",
        "image": config.image,
        "imagePullPolicy": "Always",
        # The official entrypoint creates the database and user on first start; passwords come
        # from files (the Secret), not from env values.
        "env": [
            {"name": "MYSQL_DATABASE", "value": config.database},
            {"name": "MYSQL_USER", "value": config.user},
            {"name": "MYSQL_ROOT_PASSWORD_FILE", "value": f"{CLIENT_CONFIG_DIR}/root-password"},
            {"name": "MYSQL_PASSWORD_FILE", "value": f"{CLIENT_CONFIG_DIR}/password"},
        ],
        "ports": [{"name": "mysql", "containerPort": MYSQL_PORT, "protocol": "TCP"}],
        "resources": config.resources.model_dump(),
        "securityContext": kube.container_security(),
        **_probes(),
        "volumeMounts": [
            {"name": "data", "mountPath": DATA_DIR},
            {"name": "config", "mountPath": "/etc/mysql/conf.d", "readOnly": True},
            {"name": "secrets", "mountPath": CLIENT_CONFIG_DIR, "readOnly": True},
            # Writable spots on a read-only root: socket and pid file, temporary tables.
            {"name": "run", "mountPath": "/var/run/mysqld"},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - a private emptyDir, not the host's /tmp
        ],
    }


def _pod_spec(config: MySqlConfig, files: ServerFiles) -> k8s.core.v1.PodSpecArgsDict:
    volumes: list[k8s.core.v1.VolumeArgsDict] = [
        {"name": "config", "configMap": {"name": files.config}},
        {"name": "secrets", "secret": {"secretName": files.secret, "defaultMode": 0o440}},
        {"name": "run", "emptyDir": {"sizeLimit": "16Mi"}},
        kube.tmp_volume(size="1Gi"),
    ]
    return {
        "automountServiceAccountToken": False,  # mysqld never talks to the API server
        "enableServiceLinks": False,  # no MYSQL_PORT-style env vars for the entrypoint to trip over
        # uid 10001 with fsGroup: the volume is writable without the image's root-then-gosu step.
        "securityContext": kube.pod_security(),
        "terminationGracePeriodSeconds": 60,  # a clean InnoDB shutdown avoids crash recovery
        "containers": [_container(config)],
        "volumes": volumes,
    }
