"""The config's value types, each checked the way the API server or the image that receives it checks it."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

from components.config import cron
from components.config.quantity import parse_quantity

# RFC 1123, as Kubernetes' IsDNS1123Label/IsDNS1123Subdomain: ASCII lower case only.
_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
DNS_LABEL = re.compile(rf"^{_LABEL}$")
DNS_SUBDOMAIN = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
# Namespaces Kubernetes itself uses: a stack must not take one over.
RESERVED_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
# Unquoted MySQL identifiers: letters, digits, `_` (and `$`, left out: shells expand it), not
# all digits, at most 64 characters. User names: at most 32; the image refuses MYSQL_USER=root.
_MYSQL_IDENTIFIER = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_MYSQL_USER = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_ORIGIN = re.compile(r"^(?P<scheme>https?)://(?P<host>[^/:?#\s]+)(?::(?P<port>\d{1,5}))?$")
# The distribution reference grammar (github.com/distribution/reference), without the
# rarely used IPv6 host form: [host[:port]/]path[:tag][@algo:hex].
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::\d{1,5})?)"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = rf"(?:{_HOST}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
REPOSITORY_PATTERN = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
REGISTRY_PATTERN = re.compile(rf"^{_HOST}$")
IMAGE_REFERENCE_PATTERN = re.compile(
    rf"^(?P<repository>{_REPOSITORY})(?::(?P<tag>[\w][\w.-]{{0,127}}))?(?:@(?P<digest>sha256:[a-f0-9]{{64}}))?$"
)


def dns_label(text: str) -> str:
    if len(text) > 63 or not DNS_LABEL.match(text):
        raise ValueError(f"{text!r} is not a DNS label: lower-case ASCII letters, digits and '-', alphanumeric at both ends, at most 63")
    return text


def dns_subdomain(text: str) -> str:
    if len(text) > 253 or not DNS_SUBDOMAIN.match(text):
        raise ValueError(f"{text!r} is not a DNS name: dot-separated DNS labels (lower-case ASCII letters, digits, '-'), at most 253")
    return text


def namespace(text: str) -> str:
    dns_label(text)
    if text in RESERVED_NAMESPACES:
        raise ValueError(f"{text!r} is reserved for Kubernetes itself: choose the stack's own namespace")
    return text


def ingress_host(text: str) -> str:
    """A host as an Ingress rule takes it: a DNS name or a wildcard (`*.example.com`), never an IP."""
    name = text.removeprefix("*.")
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        raise ValueError(f"{text!r} is an IP address: an Ingress host must be a DNS name")
    if len(text) > 253 or not DNS_SUBDOMAIN.match(name):
        raise ValueError(f"{text!r} is not a host name (RFC 1123: lower-case ASCII labels, dots, an optional leading '*.')")
    return text


# Label keys and values as the API server checks them (IsQualifiedName, IsValidLabelValue).
_LABEL_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
LABEL_KEY = re.compile(rf"^(?:(?P<prefix>{_LABEL}(?:\.{_LABEL})*)/)?{_LABEL_NAME}$")
LABEL_VALUE = re.compile(rf"^(?:{_LABEL_NAME})?$")
# A Prometheus duration as prometheus-operator's CRDs take it (`30s`, `1m30s`).
PROMETHEUS_DURATION = re.compile(
    r"^(?:(?:[0-9]+)y)?(?:(?:[0-9]+)w)?(?:(?:[0-9]+)d)?(?:(?:[0-9]+)h)?(?:(?:[0-9]+)m)?(?:(?:[0-9]+)s)?(?:(?:[0-9]+)ms)?$"
)


def label_key(text: str) -> str:
    match = LABEL_KEY.match(text)
    if match is None or len(match["prefix"] or "") > 253:
        raise ValueError(f"{text!r} is not a label key: [prefix/]name, the name 1-63 of letters, digits, '-', '_', '.'")
    return text


def label_value(text: str) -> str:
    if not LABEL_VALUE.match(text):
        raise ValueError(f"{text!r} is not a label value: at most 63 of letters, digits, '-', '_', '.', alphanumeric at both ends")
    return text


def prometheus_duration(text: str) -> str:
    if not text or text == "0" or not PROMETHEUS_DURATION.match(text):
        raise ValueError(f"{text!r} is not a Prometheus duration above zero (e.g. '30s', '1m30s')")
    return text


def _number_as_text(value: object) -> object:
    # A YAML number is a quantity too (`cpu: 1`); keep it as the text Kubernetes gets.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        shown = str(value).lower() if isinstance(value, bool) else type(value).__name__
        raise ValueError(f"expected a quantity such as '250m', '1' or '512Mi', got {shown}")
    return str(value)


def quantity(text: str) -> str:
    if parse_quantity(text) < 0:
        raise ValueError(f"{text!r} is negative")
    return text


def size(text: str) -> str:
    if parse_quantity(text) <= 0:
        raise ValueError(f"{text!r} is not a size above zero")
    return text


def cron_schedule(text: str) -> str:
    try:
        return cron.check(text)
    except ValueError as error:
        raise ValueError(f"{text!r} is not a CronJob schedule: {error}") from None


def mysql_identifier(text: str) -> str:
    if not _MYSQL_IDENTIFIER.match(text) or text.isdigit():
        raise ValueError(f"{text!r} is not a MySQL database name: letters, digits and '_', not only digits, at most 64")
    return text


def mysql_user(text: str) -> str:
    if not _MYSQL_USER.match(text):
        raise ValueError(f"{text!r} is not a MySQL user name: letters, digits, '_' and '-', at most 32")
    if text.lower() == "root":
        raise ValueError("'root' is the administrator: the app connects as its own user (the MySQL image refuses MYSQL_USER=root)")
    return text


def cors_origin(text: str) -> str:
    match = _ORIGIN.match(text)
    host = match["host"] if match else ""
    valid_host = bool(DNS_SUBDOMAIN.match(host))
    if not valid_host:
        try:
            ipaddress.ip_address(host)
            valid_host = True
        except ValueError:
            pass
    if match is None or not valid_host or (match["port"] and not 1 <= int(match["port"]) <= 65535):
        raise ValueError(f"{text!r} is not an origin: scheme://host[:port] with http or https, no path or trailing '/'")
    return text


def image_reference(text: str) -> str:
    """A reference the kubelet can pull; an untagged (implicitly ':latest') one is refused."""
    match = IMAGE_REFERENCE_PATTERN.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a valid image reference (expected [registry/]repository[:tag][@sha256:<64 hex>])")
    if not (match["tag"] or match["digest"]):
        raise ValueError(f"{text!r} has neither tag nor digest: pin a version")
    if match["tag"] == "latest" and not match["digest"]:
        raise ValueError(f"{text!r} uses ':latest': pin a version or a digest")
    return text


def registry_host(text: str) -> str:
    if not REGISTRY_PATTERN.match(text):
        raise ValueError(f"{text!r} is not a registry host[:port]")
    return text


def repository_path(text: str) -> str:
    if not REPOSITORY_PATTERN.match(text):
        raise ValueError(f"{text!r} is not a repository path (lower-case, '/'-separated)")
    return text


DnsLabel = Annotated[str, AfterValidator(dns_label)]
DnsSubdomain = Annotated[str, AfterValidator(dns_subdomain)]
Namespace = Annotated[str, AfterValidator(namespace)]
IngressHost = Annotated[str, AfterValidator(ingress_host)]
Quantity = Annotated[str, BeforeValidator(_number_as_text), AfterValidator(quantity)]
Size = Annotated[str, BeforeValidator(_number_as_text), AfterValidator(size)]
CronSchedule = Annotated[str, AfterValidator(cron_schedule)]
MySqlIdentifier = Annotated[str, AfterValidator(mysql_identifier)]
MySqlUser = Annotated[str, AfterValidator(mysql_user)]
CorsOrigin = Annotated[str, AfterValidator(cors_origin)]
ImageReference = Annotated[str, AfterValidator(image_reference)]
RegistryHost = Annotated[str, AfterValidator(registry_host)]
RepositoryPath = Annotated[str, AfterValidator(repository_path)]
Port = Annotated[int, Field(ge=1, le=65535)]
LabelKey = Annotated[str, AfterValidator(label_key)]
LabelValue = Annotated[str, AfterValidator(label_value)]
PrometheusDuration = Annotated[str, AfterValidator(prometheus_duration)]
