"""Redis for the service's cache, in the cluster (an external server is only an endpoint: components/data/endpoints.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.config import RedisConfig
from components.config.quantity import parse_quantity
from components.data.backup.redis import RedisBackup, RedisBackupArgs
from components.data.backup.repository import BackupRepository
from components.data.endpoints import CacheEndpoint
from components.kube.passwords import given_or_generated
from components.kube.statefulset import ServerFiles, StatefulServer, server_files, single_instance_statefulset
from components.kube.workloads import exec_probe
from components.network.peers import BackupPods, NetworkPeer, ServerAccess

REDIS_PORT = 6379
CONFIG_DIR = "/etc/redis/conf"
AUTH_DIR = "/etc/redis/secret"


@dataclass(frozen=True)
class RedisArgs:
    config: RedisConfig
    namespace: pulumi.Input[str]
    password: pulumi.Output[str] | None = None  # from secret config; else generated
    protect: bool = False  # prod: a destroy or a replacing change stops at the data (see Storage.lock)
    backup_repository: BackupRepository | None = None  # where backups go, when redis.backup is enabled


class Redis(pulumi.ComponentResource):
    """The service's cache in the cluster: a password-protected single-instance StatefulSet."""

    endpoint: CacheEndpoint  # how the app connects
    access: ServerAccess  # the server's pods and port, and its backup pods, for the network policies

    def __init__(self, name: str, args: RedisArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fastapi-service:data:Redis", name, None, opts)
        config = args.config
        child = pulumi.ResourceOptions(parent=self)
        labels = kube.labels(name="redis", instance=name, component="cache")
        selector = kube.selector(name="redis", instance=name)
        password = given_or_generated(f"{name}-password", args.password, parent=self, length=32, protect=args.protect)

        server_config = redis_config(config)
        files = server_files(
            name,
            namespace=args.namespace,
            labels=labels,
            # `include`d by redis.conf: the password is never on redis-server's command line.
            credentials={"password": password, "auth.conf": password.apply(_auth_config)},
            config={"redis.conf": server_config},
            parent=self,
        )
        host = single_instance_statefulset(
            StatefulServer(
                name=name,
                namespace=args.namespace,
                labels=labels,
                selector=selector,
                port_name="redis",
                pod_port=REDIS_PORT,
                client_port=config.port,
                config_text=server_config,
                storage=config.storage,
                pod_spec=_pod_spec(config, files),
                protect=args.protect,
            ),
            parent=self,
        )
        self.endpoint = CacheEndpoint(host, config.port, password)
        peer = NetworkPeer(pod_selector=selector, port=REDIS_PORT)
        backup_pods: list[BackupPods] = []
        if config.backup.enabled and args.backup_repository is not None:
            backup = RedisBackup(
                f"{name}-backup",
                RedisBackupArgs(
                    config=config.backup,
                    repository=args.backup_repository,
                    image=config.image,
                    namespace=args.namespace,
                    host=host,
                    port=config.port,
                    secret_name=files.secret,
                ),
                opts=child,
            )
            backup_pods = [BackupPods(backup.pod_selector, peer, args.backup_repository.s3_endpoint)]
        self.access = ServerAccess(peer, backup_pods)
        self.register_outputs({"host": host})


def maxmemory_bytes(config: RedisConfig) -> int:
    """maxmemory as `maxmemoryPercent` of the memory limit: headroom for fork (AOF rewrite) and buffers."""
    return int(parse_quantity(config.resources.limits.memory) * config.maxmemory_percent // 100)


def redis_config(config: RedisConfig) -> str:
    lines = [
        f"port {REDIS_PORT}",
        "bind * -::*",  # every IPv4 and (if present) IPv6 address: reached through the Service
        # With a password set, protected mode changes nothing; kept on as a second line of defence.
        "protected-mode yes",
        "dir /data",
        f"maxmemory {maxmemory_bytes(config)}",
        f"maxmemory-policy {config.maxmemory_policy}",
        f"appendonly {'yes' if config.append_only else 'no'}",
        # fsync once a second: at most a second of writes lost on a crash, at near-memory speed.
        "appendfsync everysec",
        "save 3600 1 300 100 60 10000",
        f"include {AUTH_DIR}/auth.conf",
        "",
    ]
    return "\n".join(lines)


def _auth_config(password: str) -> str:
    quoted = '"' + password.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"requirepass {quoted}\nmasterauth {quoted}\n"


def _probe(accept: str, period: int, failures: int) -> k8s.core.v1.ProbeArgsDict:
    # The password goes from the mounted file to REDISCLI_AUTH inside the probe's own shell:
    # not in the pod spec's env, not on redis-cli's argv.
    script = f'REDISCLI_AUTH="$(cat {AUTH_DIR}/password)" redis-cli -h 127.0.0.1 -p {REDIS_PORT} ping | grep -Eq "^({accept})$"'
    return exec_probe(["sh", "-c", script], period=period, failures=failures, timeout=5)


def _probes() -> dict[str, k8s.core.v1.ProbeArgsDict]:
    return {
        # LOADING: replaying the AOF after a restart; alive, not yet ready to serve.
        "startupProbe": _probe("PONG|LOADING.*", period=5, failures=60),
        "readinessProbe": _probe("PONG", period=10, failures=3),
        "livenessProbe": _probe("PONG|LOADING.*", period=20, failures=6),
    }


def _container(config: RedisConfig) -> k8s.core.v1.ContainerArgsDict:
    return {
        "name": "redis",
        "image": config.image,
        "imagePullPolicy": "Always",
        "command": ["redis-server", f"{CONFIG_DIR}/redis.conf"],
        "ports": [{"name": "redis", "containerPort": REDIS_PORT, "protocol": "TCP"}],
        "resources": config.resources.model_dump(),
        "securityContext": kube.container_security(),
        **_probes(),
        "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "secret", "mountPath": AUTH_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - a private emptyDir, not the host's /tmp
        ],
    }


def _pod_spec(config: RedisConfig, files: ServerFiles) -> k8s.core.v1.PodSpecArgsDict:
    volumes: list[k8s.core.v1.VolumeArgsDict] = [
        {"name": "config", "configMap": {"name": files.config}},
        {"name": "secret", "secret": {"secretName": files.secret, "defaultMode": 0o440}},
        kube.tmp_volume(),
    ]
    return {
        "automountServiceAccountToken": False,  # redis never talks to the API server
        "enableServiceLinks": False,  # no REDIS_PORT-style env vars in the container
        "securityContext": kube.pod_security(),
        "terminationGracePeriodSeconds": 30,
        "containers": [_container(config)],
        "volumes": volumes,
    }
