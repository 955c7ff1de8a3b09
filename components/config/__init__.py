"""The stack's configuration, parsed once at the program's edge into a frozen model.

- `types`: each value type, checked as the API server or the receiving image checks it
- `model`: every key with its type, default and description
- `rules`: rules across keys (modes, ranges, secrets, volume locks, prod)
- `loading`: reading Pulumi's config and reporting every problem at once
"""

from components.config.loading import ConfigError, load_stack_config, parse_stack_config
from components.config.model import (
    MYSQL_IMAGE,
    PROJECT,
    REDIS_IMAGE,
    SECRET_KEYS,
    AppConfig,
    ImageConfig,
    Ingress,
    KubernetesTarget,
    MySqlBackup,
    MySqlConfig,
    RedisConfig,
    Secrets,
    StackConfig,
    StackSettings,
    Storage,
)
from components.config.rules import Problem

__all__ = [
    "MYSQL_IMAGE",
    "PROJECT",
    "REDIS_IMAGE",
    "SECRET_KEYS",
    "AppConfig",
    "ConfigError",
    "ImageConfig",
    "Ingress",
    "KubernetesTarget",
    "MySqlBackup",
    "MySqlConfig",
    "Problem",
    "RedisConfig",
    "Secrets",
    "StackConfig",
    "StackSettings",
    "Storage",
    "load_stack_config",
    "parse_stack_config",
]
