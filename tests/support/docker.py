"""A private Docker daemon and registry for the tests of image.mode build (scripts/docker/up.sh),
the base-image stand-ins loaded into it, and reading the registry as a cluster would."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from offline.paths import PROJECT_ROOT

SCRIPTS = PROJECT_ROOT / "scripts" / "docker"
STANDINS = PROJECT_ROOT / "scripts" / "image" / "standins.sh"
BUILDAH = PROJECT_ROOT / "scripts" / "image" / "common.sh"
TIMEOUT_SECONDS = 900
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


@dataclass
class DockerDaemon:
    """dockerd and a registry of our own: DOCKER_HOST for pulumi-docker, REGISTRY for image.registry."""

    run_dir: Path
    docker_host: str
    registry: str
    registry_user: str | None = None
    standins: dict[str, str] = field(default_factory=dict)  # build arg -> the stand-in image

    @classmethod
    def start(
        cls, run_dir: Path, *, registry_user: str | None = None, registry_address: str | None = None, use_registry: str | None = None
    ) -> DockerDaemon:
        """Its own registry (on `registry_address`, default a free 127.0.0.1 port), or the one at `use_registry`."""
        args = [str(SCRIPTS / "up.sh")]
        if registry_user:
            args += ["--registry-auth", registry_user]
        if registry_address:
            args += ["--registry-address", registry_address]
        if use_registry:
            args += ["--use-registry", use_registry]
        started = subprocess.run([*args, str(run_dir)], capture_output=True, text=True, timeout=300, check=False)
        if started.returncode != 0:
            raise AssertionError(f"scripts/docker/up.sh failed ({started.returncode}):\n{started.stderr[-4000:]}")
        env = dict(line.split("=", 1) for line in Path(started.stdout.strip().splitlines()[-1]).read_text().splitlines() if "=" in line)
        return cls(run_dir, env["DOCKER_HOST"], env["REGISTRY"], env.get("REGISTRY_USER"))

    def stop(self) -> None:
        subprocess.run([str(SCRIPTS / "down.sh"), str(self.run_dir)], capture_output=True, text=True, timeout=180, check=False)

    @property
    def registry_password(self) -> str:
        return (self.run_dir / "registry-password").read_text().strip()

    def stop_registry(self) -> None:
        """The registry down (as at an outage), the daemon still up."""
        pid_file = self.run_dir / "pids" / "registry.pid"
        pid = int(pid_file.read_text())
        if str(self.run_dir) in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.1)
        pid_file.unlink()

    def start_registry(self) -> None:
        """The registry back, with its config and storage (down.sh stops it by its pid file)."""
        with (self.run_dir / "logs" / "registry.log").open("ab") as log:
            process = subprocess.Popen(
                ["docker-registry", "serve", str(self.run_dir / "registry" / "config.yml")], stdout=log, stderr=log, start_new_session=True
            )
        (self.run_dir / "pids" / "registry.pid").write_text(f"{process.pid}\n")
        for _ in range(100):
            try:
                urllib.request.urlopen(self._request("/v2/"), timeout=1).close()  # noqa: S310
                return
            except urllib.error.HTTPError:
                return  # it answers (401 without credentials): up
            except OSError:
                time.sleep(0.1)
        raise AssertionError("the registry did not come back")

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["docker", *args], env={**os.environ, "DOCKER_HOST": self.docker_host}, capture_output=True, text=True, timeout=600, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: {done.stderr.strip()}")
        return done

    def load_standins(self) -> dict[str, str]:
        """The Dockerfile's base images (PYTHON_IMAGE, UV_IMAGE) cannot be pulled here: the project's
        stand-ins (scripts/image/standins.sh, built with buildah) loaded into this daemon."""
        built = subprocess.run([str(STANDINS)], capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False)
        if built.returncode != 0:
            raise AssertionError(f"scripts/image/standins.sh failed:\n{built.stderr[-3000:]}")
        python_image, uv_image = built.stdout.split()[:2]
        for image in (python_image, uv_image):
            archive = self.run_dir / f"{image.replace('/', '_').replace(':', '_')}.tar"
            # buildah on the project's image store (scripts/image/common.sh's `bah`), out as a docker archive.
            pushed = subprocess.run(
                ["bash", "-c", f'. "{BUILDAH}" && bah push "$1" "docker-archive:$2:$1"', "push", image, str(archive)],
                capture_output=True,
                text=True,
                timeout=TIMEOUT_SECONDS,
                check=False,
            )
            if pushed.returncode != 0:
                raise AssertionError(f"buildah push {image}: {pushed.stderr[-2000:]}")
            self.docker("load", "-i", str(archive))
            archive.unlink()
        self.standins = {"PYTHON_IMAGE": python_image, "UV_IMAGE": uv_image}
        return self.standins

    def image_ids(self) -> set[str]:
        return set(self.docker("images", "-q", "--no-trunc").stdout.split())

    # -- the registry, as a node's container runtime reads it ----------------------------------

    def _request(self, path: str, method: str = "GET") -> urllib.request.Request:
        request = urllib.request.Request(f"http://{self.registry}{path}", method=method, headers={"Accept": MANIFEST_TYPES})
        if self.registry_user:
            token = base64.b64encode(f"{self.registry_user}:{self.registry_password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        return request

    def digest_of(self, repository: str, tag: str) -> str:
        """The registry's Docker-Content-Digest for `repository:tag`."""
        with urllib.request.urlopen(self._request(f"/v2/{repository}/manifests/{tag}", "HEAD"), timeout=30) as answer:  # noqa: S310
            return str(answer.headers["Docker-Content-Digest"])

    def tags(self, repository: str) -> list[str]:
        try:
            with urllib.request.urlopen(self._request(f"/v2/{repository}/tags/list"), timeout=30) as answer:  # noqa: S310
                return list(json.load(answer).get("tags") or [])
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return []
            raise
