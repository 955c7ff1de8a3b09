"""The stack's configuration, parsed once at the program's edge into a frozen model.

- `types`: each value type, checked as the API server or the receiving image checks it
- `model`: every key with its type, default and description
- `rules`: rules across keys (modes, ranges, secrets, volume locks, prod)
- `loading`: reading Pulumi's config and reporting every problem at once
"""

from components.config.loading import ConfigError, load_stack_config, missing_required_secrets, parse_stack_config
from components.config.model import (
    MYSQL_IMAGE,
    PROJECT,
    REDIS_IMAGE,
    SECRET_KEYS,
    AppConfig,
    Autoscaling,
    BackupConfig,
    DashboardConfig,
    Exposure,
    GatewayParent,
    ImageConfig,
    Ingress,
    IngressExposure,
    KubernetesTarget,
    MonitoringConfig,
    MySqlConfig,
    PrometheusRuleConfig,
    RedisConfig,
    Resources,
    Retention,
    Secrets,
    ServerBackup,
    ServiceMonitorConfig,
    StackConfig,
    StackSettings,
    Storage,
    TracingConfig,
    WorkerConfig,
)
from components.config.rules import Problem, backed_up

__all__ = [
    "MYSQL_IMAGE",
    "PROJECT",
    "REDIS_IMAGE",
    "SECRET_KEYS",
    "AppConfig",
    "Autoscaling",
    "BackupConfig",
    "ConfigError",
    "DashboardConfig",
    "Exposure",
    "GatewayParent",
    "ImageConfig",
    "Ingress",
    "IngressExposure",
    "KubernetesTarget",
    "MonitoringConfig",
    "MySqlConfig",
    "Problem",
    "PrometheusRuleConfig",
    "RedisConfig",
    "Resources",
    "Retention",
    "Secrets",
    "ServerBackup",
    "ServiceMonitorConfig",
    "StackConfig",
    "StackSettings",
    "Storage",
    "TracingConfig",
    "WorkerConfig",
    "backed_up",
    "load_stack_config",
    "missing_required_secrets",
    "parse_stack_config",
]
