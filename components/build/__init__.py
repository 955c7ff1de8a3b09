"""The service image: `AppImage` (`image`) built from app/'s Docker context (`context`) or prebuilt."""

from components.build.image import AppImage, AppImageArgs, PullCredentials

__all__ = ["AppImage", "AppImageArgs", "PullCredentials"]
