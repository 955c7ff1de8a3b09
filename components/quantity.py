"""Kubernetes resource quantities and image references, checked the way the API server would."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# The API server's quantity grammar: a signed decimal, then one suffix (binary SI, decimal SI,
# or a decimal exponent). "10GBB", "1.5.0" and "512MB" are all refused by Kubernetes.
_QUANTITY = re.compile(r"^(?P<number>[+-]?(?:\d+\.?\d*|\.\d+))(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$")

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}


def parse_quantity(text: str) -> Decimal:
    """The value of a Kubernetes quantity in base units (cores, bytes); ValueError if malformed."""
    match = _QUANTITY.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity (examples: '250m', '1', '512Mi', '10Gi')")
    try:
        number = Decimal(match["number"])
    except InvalidOperation as error:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"{text!r} is not a number") from error
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    return number * (Decimal(10) ** int(suffix[1:]))


def mebibytes(text: str) -> int:
    """A memory quantity in whole MiB (rounded down), for settings such as buffer pool sizes."""
    return int(parse_quantity(text) // 2**20)


# The distribution reference grammar (github.com/distribution/reference), without the
# rarely used IPv6 host form: [host[:port]/]path[:tag][@algo:hex].
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::\d{1,5})?)"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = rf"(?:{_HOST}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"sha256:[a-f0-9]{64}"
REPOSITORY_PATTERN = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
REGISTRY_PATTERN = re.compile(rf"^{_HOST}$")
IMAGE_REFERENCE_PATTERN = re.compile(rf"^(?P<repository>{_REPOSITORY})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$")


def check_image_reference(text: str, *, require_version: bool = True) -> str:
    """Return the reference if well formed; refuse untagged (implicitly ':latest') references."""
    match = IMAGE_REFERENCE_PATTERN.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a valid image reference (expected [registry/]repository[:tag][@sha256:<64 hex>])")
    if require_version and not (match["tag"] or match["digest"]):
        raise ValueError(f"{text!r} has neither tag nor digest: pin a version")
    if match["tag"] == "latest" and not match["digest"]:
        raise ValueError(f"{text!r} uses ':latest': pin a version or a digest")
    return text
