"""`SHARITORIES_ENV=production` without its secrets: `sharitories up` and each service
refuse to start, say why in one line per variable, and leave nothing running or bound."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from libs.common.golive import EXIT_UNSAFE, PUBLISHED_DEFAULTS
from libs.common.natsserver import free_port
from libs.common.settings import REPO_ROOT, Settings
from tests.e2e_platform import free_offset

SECRETS = (
    "JWT_SECRET",
    "METRICS_TOKEN",
    "PORTAL_SESSION_SECRET",
    "CROWDFUNDING_WEBHOOK_SECRET",
    "BUDGET_BALLOT_SECRET",
    "CROWDFUNDING_PAYMENT_PROVIDER",
    "CROWDFUNDING_SANDBOX_IN_PRODUCTION",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "JWT_JWKS_URL",
)


def production_env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    env.update(
        SHARITORIES_ENV="production",
        SHARITORIES_VAR_DIR=str(tmp_path / "var"),
        PYTHONPATH=str(REPO_ROOT),
        SHARITORIES_DEMO="0",
        # Every descendant inherits this: a survivor would be found by it.
        SHARITORIES_TEST_MARKER=uuid.uuid4().hex,
        **values,
    )
    return env


def survivors(marker: str) -> list[int]:
    """Processes still carrying the test's marker in their environment."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if f"SHARITORIES_TEST_MARKER={marker}".encode() in environ:
            found.append(int(proc.name))
    return found


def bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_up_in_production_without_secrets_refuses_and_leaves_nothing(tmp_path):
    offset = free_offset()
    nats_port = free_port()
    env = production_env(
        tmp_path,
        SHARITORIES_PORT_OFFSET=str(offset),
        NATS_URL=f"nats://127.0.0.1:{nats_port}",
        JWT_SECRET="sharitories-dev-secret-change-me-0123456789",
        PORTAL_SESSION_SECRET="too-short",
    )
    done = subprocess.run(
        [sys.executable, "-m", "sharitories.cli", "up"],
        env=env,
        cwd=tmp_path,  # no .env from the checkout
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == EXIT_UNSAFE != 0, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    named = [line.split(": ", 1)[1].split()[0] for line in lines]
    assert named == [
        "JWT_SECRET",
        "METRICS_TOKEN",
        "PORTAL_SESSION_SECRET",
        "CROWDFUNDING_WEBHOOK_SECRET",
        "BUDGET_BALLOT_SECRET",
        "CROWDFUNDING_PAYMENT_PROVIDER",
    ], done.stderr
    assert "published default" in lines[0] and "shorter than 32 bytes" in lines[2]
    assert survivors(env["SHARITORIES_TEST_MARKER"]) == []
    assert bindable(nats_port)
    for port in range(8000 + offset, 8005 + offset):
        assert bindable(port), port
    assert not (tmp_path / "var").exists()  # not even migrated


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        ("exchange", ["JWT_SECRET", "METRICS_TOKEN"]),
        ("budget", ["JWT_SECRET", "METRICS_TOKEN", "BUDGET_BALLOT_SECRET"]),
        ("portal", ["JWT_SECRET", "METRICS_TOKEN", "PORTAL_SESSION_SECRET"]),
        (
            "crowdfunding",
            [
                "JWT_SECRET",
                "METRICS_TOKEN",
                "CROWDFUNDING_WEBHOOK_SECRET",
                "CROWDFUNDING_PAYMENT_PROVIDER",
            ],
        ),
        ("impact", ["JWT_SECRET", "METRICS_TOKEN"]),
    ],
)
def test_a_service_started_alone_in_production_refuses(tmp_path, service, expected):
    port = free_port()
    env = production_env(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            f"services.{service}.app:create_app",
            "--port",
            str(port),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == EXIT_UNSAFE, done.stderr
    named = [line.split(": ", 1)[1].split()[0] for line in done.stderr.strip().splitlines()]
    assert named == expected
    assert bindable(port)
    assert survivors(env["SHARITORIES_TEST_MARKER"]) == []


def test_the_code_defaults_are_all_known_as_published():
    from services.crowdfunding.config import CrowdfundingSettings
    from services.portal.config import PortalSettings

    defaults = {
        Settings.model_fields["jwt_secret"].default,
        PortalSettings.model_fields["session_secret"].default,
        CrowdfundingSettings.model_fields["webhook_secret"].default,
    }
    assert defaults <= PUBLISHED_DEFAULTS
