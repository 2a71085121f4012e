"""deploy/compose.yaml as docker-compose reads it: topology, order, NATS, secrets."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from libs.common.broker import nats_servers
from libs.common.settings import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
APPS = ("portal", "exchange", "crowdfunding", "budget", "impact")
# contracts.md: every secret refused in production when unset (Stripe's when provider=stripe).
SECRETS = (
    "JWT_SECRET",
    "PORTAL_SESSION_SECRET",
    "CROWDFUNDING_WEBHOOK_SECRET",
    "BUDGET_BALLOT_SECRET",
    "METRICS_TOKEN",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
)


def env_example() -> dict[str, str]:
    pairs = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def test_the_env_example_names_every_secret_and_holds_no_value():
    example = env_example()
    assert set(SECRETS) | {"POSTGRES_PASSWORD"} <= set(example)
    assert all(example[name] == "" for name in (*SECRETS, "POSTGRES_PASSWORD"))


def compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    pytest.skip("neither docker-compose nor the docker compose plugin is installed")


@pytest.fixture(scope="module")
def compose(tmp_path_factory) -> dict:
    command = compose_command()
    env_file = tmp_path_factory.mktemp("compose") / "filled.env"
    env_file.write_text(
        "".join(
            f"{key}={value or 'a' * 40}\n"
            for key, value in env_example().items()
            if key != "CROWDFUNDING_SANDBOX_IN_PRODUCTION"
        )
    )
    result = subprocess.run(
        [*command, "--env-file", str(env_file), "-f", str(DEPLOY / "compose.yaml"), "config"],
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "SHARITORIES_ENV_FILE": str(env_file)},
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_refuses_to_start_without_a_database_password(tmp_path):
    command = compose_command()
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = subprocess.run(
        [*command, "--env-file", str(empty), "-f", str(DEPLOY / "compose.yaml"), "config"],
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "SHARITORIES_ENV_FILE": str(empty)},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr


def test_every_app_waits_for_the_migration_and_the_three_nats_nodes(compose):
    services = compose["services"]
    assert set(APPS) | {"migrate", "postgres", "nats-1", "nats-2", "nats-3"} <= set(services)
    for app in APPS:
        depends = services[app]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        for node in ("nats-1", "nats-2", "nats-3"):
            assert depends[node]["condition"] == "service_healthy"
        assert "/readyz" in " ".join(services[app]["healthcheck"]["test"])
    assert services["migrate"]["command"] == ["sharitories", "migrate"]  # every app
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_services_get_a_server_list_nats_py_accepts_and_three_replicas(compose):
    for app in APPS:
        env = compose["services"][app]["environment"]
        assert len(nats_servers(env["NATS_URL"])) == 3
        assert env["NATS_STREAM_REPLICAS"] == "3"
        assert env["SHARITORIES_ENV"] == "production"
        for secret in SECRETS:
            assert env[secret], secret  # from the env file


def test_nats_image_has_the_tool_its_healthcheck_calls_and_every_tag_is_pinned(compose):
    services = compose["services"]
    for node in ("nats-1", "nats-2", "nats-3"):
        image = services[node]["image"]
        check = services[node]["healthcheck"]["test"]
        # The scratch `nats` image has no shell and no wget; the alpine one has busybox.
        assert check[1] == "wget" and image.endswith("-alpine"), (image, check)
        assert "--name" in services[node]["command"]
    for name, service in services.items():
        image = service["image"]
        assert re.search(r":[\w.-]+$", image) and not image.endswith(":latest"), (name, image)
