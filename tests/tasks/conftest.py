"""The PostgreSQL fixtures of the contract suites, until they move to the root conftest."""

from tests.contracts.conftest import postgres_admin_url, postgres_url

__all__ = ["postgres_admin_url", "postgres_url"]
