"""fastapi-service: a FastAPI service on MySQL and Redis, deployed to Kubernetes per stack.

The table of contents: read the config, stand up the pieces in dependency order, export.
"""

import pulumi

from components.cluster import Cluster, ClusterArgs
from components.config import load_stack_config
from components.endpoints import external_cache, external_database
from components.image import AppImage, AppImageArgs
from components.interrupt import exit_quietly_when_the_engine_interrupts
from components.mysql import MySql, MySqlArgs
from components.network import NetworkPolicies, NetworkPoliciesArgs
from components.redis import Redis, RedisArgs
from components.service import AppService, AppServiceArgs

exit_quietly_when_the_engine_interrupts()
config = load_stack_config()
secrets = config.secrets

cluster = Cluster("cluster", ClusterArgs(config.kubernetes, config.namespace, config.environment, protect=config.is_prod))
# Every component below creates its Kubernetes objects through the stack's own provider.
on_cluster = pulumi.ResourceOptions(providers=[cluster.provider])

image = AppImage("image", AppImageArgs(config.image, secrets.registry_password))

mysql = None
if config.mysql.mode == "in-cluster":
    mysql_args = MySqlArgs(config.mysql, cluster.namespace, secrets.mysql_root_password, secrets.mysql_password, protect=config.is_prod)
    mysql = MySql("mysql", mysql_args, opts=on_cluster)
database = mysql.endpoint if mysql else external_database(config.mysql, secrets.mysql_password)

redis = None
if config.redis.mode == "in-cluster":
    redis = Redis("redis", RedisArgs(config.redis, cluster.namespace, secrets.redis_password, protect=config.is_prod), opts=on_cluster)
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

NetworkPolicies(
    "network",
    NetworkPoliciesArgs(
        namespace=cluster.namespace,
        app=service.network_peer,
        mysql=mysql.network_peer if mysql else None,
        mysql_clients=service.database_clients + (mysql.backup_clients if mysql else []),
        redis=redis.network_peer if redis else None,
        ingress=config.app.ingress,
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
