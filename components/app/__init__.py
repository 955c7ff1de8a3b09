"""The service's workloads on its image: the API (`AppService`: settings, secrets, migrations,
rollout, exposure) and the background worker (`Worker`).

- `runtime`: what every pod on the image shares (settings, secret files, the pod and container)
- `migration`: the Job that migrates before a new image serves
- `api`, `worker`: the components; `exposure`: how clients outside the cluster reach the API
"""

from components.app.api import AppService, AppServiceArgs
from components.app.worker import Worker, WorkerArgs

__all__ = ["AppService", "AppServiceArgs", "Worker", "WorkerArgs"]
