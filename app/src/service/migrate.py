"""Run Alembic programmatically (the Kubernetes Job: ``python -m service migrate``)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from service.config import Settings

SCRIPT_LOCATION = "service:migrations"


def alembic_config(settings: Settings) -> Config:
    # No alembic.ini is needed: the scripts are package resources, so this works
    # from a non-editable install on a read-only filesystem.
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    cfg.attributes["settings"] = settings  # read by migrations/env.py
    return cfg


def upgrade_head(settings: Settings) -> None:
    command.upgrade(alembic_config(settings), "head")
