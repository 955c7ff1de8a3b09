"""fastapi-service: a FastAPI service on MySQL and Redis, deployed to Kubernetes per stack.

The table of contents: read the config, stand up the pieces in dependency order, export.
ARCHITECTURE.md says what each room of components/ holds.
"""

import pulumi

from components.app import AppService, AppServiceArgs, Worker, WorkerArgs
from components.build import AppImage, AppImageArgs
from components.config import backed_up, load_stack_config
from components.data.backup.repository import BackupRepository, BackupRepositoryArgs
from components.data.endpoints import external_cache, external_database
from components.data.mysql import MySql, MySqlArgs
from components.data.redis import Redis, RedisArgs
from components.interrupt import exit_quietly_when_the_engine_interrupts
from components.monitoring import Monitoring, MonitoringArgs
from components.network import NetworkPolicies, NetworkPoliciesArgs
from components.platform import StackTarget, StackTargetArgs

exit_quietly_when_the_engine_interrupts()
config = load_stack_config()
secrets, protect = config.secrets, config.is_prod  # prod: a destroy or a replacing change stops at the data

target = StackTarget("cluster", StackTargetArgs(config.kubernetes, config.namespace, config.environment, protect=protect))
namespace = target.namespace
# Every component below creates its Kubernetes objects through the stack's own provider.
on_cluster = pulumi.ResourceOptions(providers=[target.provider])

image = AppImage("image", AppImageArgs(config.image, secrets.registry_password))

repository = None
if servers_backed_up := backed_up(config):
    # The first backed-up server's job creates the repository; the others wait for it.
    repository_args = BackupRepositoryArgs(
        config.backup,
        namespace,
        config.stack,
        servers_backed_up[0],
        secrets.backup_repository_password,
        secrets.backup_s3_secret_key,
        protect,
    )
    repository = BackupRepository("backup-repository", repository_args, opts=on_cluster)

mysql = redis = None
if config.mysql.mode == "in-cluster":
    mysql_args = MySqlArgs(config.mysql, namespace, secrets.mysql_root_password, secrets.mysql_password, protect, repository)
    mysql = MySql("mysql", mysql_args, opts=on_cluster)
if config.redis.mode == "in-cluster":
    redis = Redis("redis", RedisArgs(config.redis, namespace, secrets.redis_password, protect, repository), opts=on_cluster)
database = mysql.endpoint if mysql else external_database(config.mysql, secrets.mysql_password)
cache = redis.endpoint if redis else external_cache(config.redis, secrets.redis_password)

service_args = AppServiceArgs(
    config.app, config.environment, namespace, image.reference, database, cache, image.pull_credentials, secrets.api_keys, config.tracing
)
service = AppService("api", service_args, opts=on_cluster)
worker = Worker("worker", WorkerArgs(config.worker, namespace, service.runtime), opts=on_cluster) if config.worker.enabled else None
if config.monitoring.enabled:  # off by default: prometheus-operator's CRDs may be absent from the cluster
    Monitoring(
        "monitoring", MonitoringArgs(config, namespace, service.network_peer, worker.pod_selector if worker else None), opts=on_cluster
    )

# Who may reach whom (NetworkPolicies decides it from these): the servers, the API, the worker.
network_args = NetworkPoliciesArgs(
    namespace=namespace,
    app=service.network_peer,
    app_clients=service.clients,
    app_database_clients=service.database_clients,
    worker=worker.pod_selector if worker else None,
    mysql=mysql.access if mysql else None,
    redis=redis.access if redis else None,
    exposure=config.app.effective_exposure,
    scraping=config.monitoring.service_monitor,
)
NetworkPolicies("network", network_args, opts=on_cluster)

pulumi.export("namespace", namespace)
pulumi.export("serviceUrl", service.url)
pulumi.export("ingressUrl", service.ingress_url)
pulumi.export("image", image.reference)
pulumi.export("mysqlHost", database.host)
pulumi.export("redisHost", cache.host)
pulumi.export("apiKey", service.api_key)
pulumi.export("apiClientLabel", service.clients.label)
if repository:
    pulumi.export("backupRepository", repository.target.repository)
