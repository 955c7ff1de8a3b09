"""The service image: built from app/ with pulumi-docker and tagged by content, or a prebuilt reference."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_docker as docker

from components.build.context import context_hash
from components.config import ImageConfig

APP_DIR = Path(__file__).resolve().parents[2] / "app"  # the repository's app/: the build context


@dataclass(frozen=True)
class PullCredentials:
    """Registry credentials the cluster needs to pull the image (an imagePullSecret)."""

    server: str
    username: str
    password: pulumi.Output[str]


@dataclass(frozen=True)
class AppImageArgs:
    config: ImageConfig
    registry_password: pulumi.Output[str] | None = None
    context: Path = APP_DIR


def content_tag(context: Path) -> str:
    """A tag that changes exactly when the build context does."""
    return f"sha-{context_hash(context)[:16]}"


class AppImage(pulumi.ComponentResource):
    """The image the Deployment runs, as a digest-pinned reference (`repo@sha256:...`)."""

    reference: pulumi.Output[str]  # what the pods run
    pull_credentials: PullCredentials | None  # for an imagePullSecret, when the registry needs one

    def __init__(self, name: str, args: AppImageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fastapi-service:build:AppImage", name, None, opts)
        config = args.config
        self.pull_credentials = None
        if config.registry_username and args.registry_password is not None:
            self.pull_credentials = PullCredentials(config.registry, config.registry_username, args.registry_password)

        if config.mode == "prebuilt":
            assert config.reference is not None  # the config rules require it in prebuilt mode
            self.reference = pulumi.Output.from_input(config.reference)
        else:
            # Base images default to app/Dockerfile's pinned ARGs: one place for their versions.
            base_images = {"PYTHON_IMAGE": config.python_image, "UV_IMAGE": config.uv_image}
            image = docker.Image(
                f"{name}-build",
                image_name=f"{config.registry}/{config.repository}:{content_tag(args.context)}",
                build=docker.DockerBuildArgs(
                    context=str(args.context),
                    dockerfile=str(args.context / "Dockerfile"),
                    platform=config.platform,
                    args={arg: value for arg, value in base_images.items() if value is not None},
                    builder_version=docker.BuilderVersion.BUILDER_BUILD_KIT,
                    network="host" if config.build_network == "host" else None,
                ),
                registry=self._registry(),
                opts=pulumi.ResourceOptions(parent=self),
            )
            # The digest, not the tag: a new build always changes the pod template and rolls out.
            self.reference = image.repo_digest
        self.register_outputs({"reference": self.reference})

    def _registry(self) -> docker.RegistryArgs | None:
        if self.pull_credentials is None:
            return None  # the machine's `docker login` (or an unauthenticated local registry)
        return docker.RegistryArgs(
            server=self.pull_credentials.server,
            username=self.pull_credentials.username,
            password=self.pull_credentials.password,
        )
