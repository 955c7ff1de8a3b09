"""Alembic migrations, shipped inside the package (script_location ``service:migrations``)."""
