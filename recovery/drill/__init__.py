"""The backup/restore drill (`python -m recovery.drill`, `make backup-drill`): see __main__.py."""
