"""Scheduled backups: one restic repository per stack (`repository`), a CronJob per server
(`mysql`, `redis`, built on `job`), and the scripts its containers run (`commands`)."""
