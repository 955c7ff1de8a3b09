"""Background jobs: the Celery app, the tasks, and the worker that runs them (``python -m service worker``).

The API publishes (publisher.py); the worker process runs tasks (worker.py, tasks.py, imports.py),
keeps a heartbeat file for its liveness probe (heartbeat.py), serves task metrics (metrics.py);
probes.py answers ``worker-alive`` and ``worker-ready``.
"""
