"""Run Alembic programmatically (the Kubernetes Job: ``python -m service migrate``)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from service.config import Settings

SCRIPT_LOCATION = "service:migrations"


def alembic_config(settings: Settings | None = None) -> Config:
    # No alembic.ini is needed: the scripts are package resources, so this works
    # from a non-editable install on a read-only filesystem.
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    if settings is not None:
        cfg.attributes["settings"] = settings
    return cfg


def upgrade_head(settings: Settings | None = None) -> None:
    command.upgrade(alembic_config(settings), "head")


def current_revision(settings: Settings | None = None) -> None:
    command.current(alembic_config(settings))
