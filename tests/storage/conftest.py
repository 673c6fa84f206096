"""The S3 fixtures of the contract suites, until they move to the root conftest."""

from tests.contracts.conftest import s3_endpoint_url, s3_url

__all__ = ["s3_endpoint_url", "s3_url"]
