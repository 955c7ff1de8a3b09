"""fastapi-service: a FastAPI service on MySQL and Redis, deployed to Kubernetes per stack.

The table of contents: read the config, stand up the pieces in dependency order, export.
"""

import pulumi

from components.backup_repository import BackupRepository, BackupRepositoryArgs
from components.cluster import Cluster, ClusterArgs
from components.config import backed_up, load_stack_config
from components.endpoints import external_cache, external_database
from components.image import AppImage, AppImageArgs
from components.interrupt import exit_quietly_when_the_engine_interrupts
from components.mysql import MySql, MySqlArgs
from components.network import NetworkPolicies, NetworkPoliciesArgs
from components.redis import Redis, RedisArgs
from components.service import AppService, AppServiceArgs
from components.worker import Worker, WorkerArgs

exit_quietly_when_the_engine_interrupts()
config = load_stack_config()
secrets = config.secrets

cluster = Cluster("cluster", ClusterArgs(config.kubernetes, config.namespace, config.environment, protect=config.is_prod))
# Every component below creates its Kubernetes objects through the stack's own provider.
on_cluster = pulumi.ResourceOptions(providers=[cluster.provider])

image = AppImage("image", AppImageArgs(config.image, secrets.registry_password))

repository = None
if servers_backed_up := backed_up(config):
    repository_args = BackupRepositoryArgs(
        config.backup,
        cluster.namespace,
        config.stack,
        servers_backed_up[0],  # its job creates the repository; the others wait for it
        secrets.backup_repository_password,
        secrets.backup_s3_secret_key,
        protect=config.is_prod,
    )
    repository = BackupRepository("backup-repository", repository_args, opts=on_cluster)

mysql = None
if config.mysql.mode == "in-cluster":
    mysql_args = MySqlArgs(
        config.mysql,
        cluster.namespace,
        secrets.mysql_root_password,
        secrets.mysql_password,
        protect=config.is_prod,
        backup_repository=repository,
    )
    mysql = MySql("mysql", mysql_args, opts=on_cluster)
database = mysql.endpoint if mysql else external_database(config.mysql, secrets.mysql_password)

redis = None
if config.redis.mode == "in-cluster":
    redis_args = RedisArgs(config.redis, cluster.namespace, secrets.redis_password, protect=config.is_prod, backup_repository=repository)
    redis = Redis("redis", redis_args, opts=on_cluster)
cache = redis.endpoint if redis else external_cache(config.redis, secrets.redis_password)

service = AppService(
    "api",
    AppServiceArgs(
        config=config.app,
        environment=config.environment,
        namespace=cluster.namespace,
        image_reference=image.reference,
        pull_credentials=image.pull_credentials,
        database=database,
        cache=cache,
        api_keys=secrets.api_keys,
    ),
    opts=on_cluster,
)

worker = Worker("worker", WorkerArgs(config.worker, cluster.namespace, service.runtime), opts=on_cluster) if config.worker.enabled else None

# Who may reach whom: each server admits its clients, backup pods reach only their server and the repository.
workers = [worker.pod_selector] if worker else []
mysql_backups = mysql.backup_pods if mysql else []
redis_backups = redis.backup_pods if redis else []
NetworkPolicies(
    "network",
    NetworkPoliciesArgs(
        namespace=cluster.namespace,
        app=service.network_peer,
        mysql=mysql.network_peer if mysql else None,
        mysql_clients=[*service.database_clients, *workers, *(pods.pod_selector for pods in mysql_backups)],
        redis=redis.network_peer if redis else None,
        redis_clients=[service.network_peer.pod_selector, *workers, *(pods.pod_selector for pods in redis_backups)],
        ingress=config.app.ingress,
        backups=mysql_backups + redis_backups,
    ),
    opts=on_cluster,
)

pulumi.export("namespace", cluster.namespace)
pulumi.export("serviceUrl", service.url)
pulumi.export("ingressUrl", service.ingress_url)
pulumi.export("image", image.reference)
pulumi.export("mysqlHost", database.host)
pulumi.export("redisHost", cache.host)
pulumi.export("apiKey", service.api_key)
if repository:
    pulumi.export("backupRepository", repository.target.repository)
