"""The API keeps the contract its OpenAPI document states, tried property-based (schemathesis).

Requests generated from the document, valid and invalid (its examples, the boundaries of every
field and parameter, random fuzzing, methods it does not list), go to every documented operation
of the real service: uvicorn, MariaDB, Redis. Every check runs on every answer: no server error,
and nothing the document does not say (status codes, content types, headers, bodies; invalid
input refused, valid input accepted, authentication enforced).

Bounded: a fixed seed and derandomized generation, so each run sends the same requests, and
MAX_EXAMPLES random ones per operation beyond the boundaries.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig

from service.api import docs
from service.main import create_app
from service_tests.process import ServiceProcess, running_service
from service_tests.testbed import API_KEY
from testservers import MariaDB, RedisServer

MAX_EXAMPLES = 50
SEED = 20261203


def contract_config() -> SchemathesisConfig:
    # Explicit, not discovered: schemathesis.toml would be looked up from the working directory.
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none", "mode": "all"},
            "checks": {"enabled": True},
            "auth": {"openapi": {"ApiKey": {"bearer": API_KEY}}},
        }
    )


# The document the service serves (the docs router returns exactly this), built without a server.
schema = schemathesis.openapi.from_dict(create_app().openapi(), config=contract_config())


@pytest.fixture(scope="module")
def service(
    mariadb: MariaDB, redis_server: RedisServer, migrated: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    with running_service(mariadb, redis_server, tmp_path_factory.mktemp("contract")) as running:
        yield running


def test_the_served_document_is_the_one_tried(service: ServiceProcess) -> None:
    assert httpx.get(service.url + docs.OPENAPI_PATH, timeout=10).json() == schema.raw_schema


@schema.parametrize()
def test_every_answer_is_documented_and_none_is_a_server_error(
    case: schemathesis.Case[Any], service: ServiceProcess
) -> None:
    case.call_and_validate(base_url=service.url)
