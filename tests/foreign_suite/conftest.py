"""A test suite's conftest as moto's and LocalStack's docs have users write it: fake credentials in the
environment, one region, the endpoint of the emulator in AWS_ENDPOINT_URL (which boto3 reads by itself).
tests/integration/test_foreign_suite.py runs this directory, unchanged, against `trent serve --dev`."""

import os

import boto3
import pytest


@pytest.fixture
def aws_credentials():
    """Mocked AWS credentials for moto (its docs' fixture, with the older FOOBARKEY values)."""
    os.environ["AWS_ACCESS_KEY_ID"] = "FOOBARKEY"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "FOOBARSECRET"
    os.environ["AWS_SECURITY_TOKEN"] = "testing"
    os.environ["AWS_SESSION_TOKEN"] = "testing"
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"


@pytest.fixture
def kms(aws_credentials):
    return boto3.client("kms", region_name="us-east-1")


@pytest.fixture
def localstack_kms():
    """LocalStack's documented client: test/test credentials and the endpoint given explicitly."""
    return boto3.client(
        "kms",
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
