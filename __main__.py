"""fastapi-service: a FastAPI service on MySQL and Redis, deployed to Kubernetes per stack.

The table of contents: read the config, stand up the pieces in dependency order, export.
"""

import pulumi

from components.cluster import Cluster, ClusterArgs
from components.config import load_stack_config
from components.image import AppImage, AppImageArgs
from components.interrupt import exit_quietly_when_the_engine_interrupts
from components.mysql import MySql, MySqlArgs
from components.network import NetworkPolicies, NetworkPoliciesArgs
from components.redis import Redis, RedisArgs
from components.service import AppService, AppServiceArgs

exit_quietly_when_the_engine_interrupts()
config = load_stack_config()

cluster = Cluster("cluster", ClusterArgs(config.kubernetes, config.namespace, config.environment, protect=config.is_prod))

image = AppImage("image", AppImageArgs(config.image, config.secrets.registry_password))

mysql = MySql(
    "mysql",
    MySqlArgs(
        config=config.mysql,
        namespace=cluster.namespace,
        provider=cluster.provider,
        root_password=config.secrets.mysql_root_password,
        app_password=config.secrets.mysql_password,
        protect=config.is_prod,
    ),
)

redis = Redis(
    "redis",
    RedisArgs(
        config=config.redis,
        namespace=cluster.namespace,
        provider=cluster.provider,
        password=config.secrets.redis_password,
        protect=config.is_prod,
    ),
)

service = AppService(
    "api",
    AppServiceArgs(
        config=config.app,
        environment=config.environment,
        namespace=cluster.namespace,
        provider=cluster.provider,
        image_reference=image.reference,
        pull_credentials=image.pull_credentials,
        database=mysql.endpoint,
        cache=redis.endpoint,
        api_keys=config.secrets.api_keys,
        secret_key=config.secrets.secret_key,
    ),
)

NetworkPolicies(
    "network",
    NetworkPoliciesArgs(
        namespace=cluster.namespace,
        provider=cluster.provider,
        app=service.network_peer,
        mysql=mysql.network_peer,
        mysql_clients=service.database_clients + mysql.backup_clients,
        redis=redis.network_peer,
        ingress=config.app.ingress,
    ),
)

pulumi.export("namespace", cluster.namespace)
pulumi.export("serviceUrl", service.url)
pulumi.export("ingressUrl", service.ingress_url)
pulumi.export("image", image.reference)
pulumi.export("mysqlHost", mysql.endpoint.host)
pulumi.export("redisHost", redis.endpoint.host)
pulumi.export("apiKey", service.api_key)
