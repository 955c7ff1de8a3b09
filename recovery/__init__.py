"""The operator's side of the backups: restore a snapshot from the stack's restic repository into
fresh servers (`python -m recovery.restore`, `make restore`), and the drill that proves backup and
restore end to end (`python -m recovery.drill`, `make backup-drill`). See recovery/README.md."""
