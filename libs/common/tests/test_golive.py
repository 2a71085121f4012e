"""Production refuses what is unsafe: one line per problem, naming the variable."""

import pytest

from libs.common.golive import (
    EXIT_UNSAFE,
    PUBLISHED_DEFAULTS,
    environment,
    production_problems,
    refuse_unsafe_production,
)
from libs.common.settings import Settings
from libs.common.web import create_service_app

STRONG = "x" * 32

SAFE: dict[str, str] = {
    "SHARITORIES_ENV": "production",
    "JWT_SECRET": "j" * 40,
    "METRICS_TOKEN": "m" * 40,
    "PORTAL_SESSION_SECRET": "p" * 40,
    "CROWDFUNDING_WEBHOOK_SECRET": "w" * 40,
    "BUDGET_BALLOT_SECRET": "b" * 40,
    "CROWDFUNDING_PAYMENT_PROVIDER": "stripe",
    "STRIPE_SECRET_KEY": "sk_live_abc",
    "STRIPE_WEBHOOK_SECRET": "whsec_abc",
    "STRIPE_PUBLISHABLE_KEY": "pk_live_abc",
}


def named(problems: list[str]) -> list[str]:
    return [line.split(" ", 1)[0] for line in problems]


def test_a_complete_production_environment_has_no_problem():
    assert production_problems(SAFE) == []


def test_nothing_set_names_every_secret_and_the_sandbox_once_each():
    problems = production_problems({"SHARITORIES_ENV": "production"})
    assert named(problems) == [
        "JWT_SECRET",
        "METRICS_TOKEN",
        "PORTAL_SESSION_SECRET",
        "CROWDFUNDING_WEBHOOK_SECRET",
        "BUDGET_BALLOT_SECRET",
        "CROWDFUNDING_PAYMENT_PROVIDER",
    ]
    assert all("\n" not in line for line in problems)


@pytest.mark.parametrize(
    "name", ["JWT_SECRET", "PORTAL_SESSION_SECRET", "CROWDFUNDING_WEBHOOK_SECRET"]
)
def test_each_published_default_is_refused(name):
    for default in PUBLISHED_DEFAULTS:
        [problem] = production_problems({**SAFE, name: default})
        assert problem.startswith(f"{name} is a published default")


@pytest.mark.parametrize(
    "name",
    [
        "JWT_SECRET",
        "PORTAL_SESSION_SECRET",
        "CROWDFUNDING_WEBHOOK_SECRET",
        "BUDGET_BALLOT_SECRET",
        "METRICS_TOKEN",
    ],
)
def test_unset_empty_short_and_placeholder_secrets_are_refused(name):
    assert named(production_problems({k: v for k, v in SAFE.items() if k != name})) == [name]
    assert named(production_problems({**SAFE, name: ""})) == [name]
    [short] = production_problems({**SAFE, name: "y" * 31})
    assert short.startswith(f"{name} is shorter than 32 bytes")
    assert production_problems({**SAFE, name: "y" * 32}) == []
    # 17 characters, 33 bytes: the rule counts bytes.
    assert production_problems({**SAFE, name: "é" * 16 + "a"}) == []
    [placeholder] = production_problems({**SAFE, name: "please-CHANGE-ME-" + STRONG})
    assert "published default" in placeholder


def test_jwks_needs_an_explicit_issuer_and_audience():
    jwks = {**SAFE, "JWT_JWKS_URL": "https://id.example/certs"}
    assert named(production_problems(jwks)) == ["JWT_ISSUER", "JWT_AUDIENCE"]
    assert named(production_problems({**jwks, "JWT_ISSUER": "https://id.example"})) == [
        "JWT_AUDIENCE"
    ]
    both = {**jwks, "JWT_ISSUER": "https://id.example", "JWT_AUDIENCE": "sharitories"}
    assert production_problems(both) == []


def test_the_sandbox_needs_an_explicit_opt_in_and_stripe_needs_its_keys():
    sandbox = {**SAFE, "CROWDFUNDING_PAYMENT_PROVIDER": "sandbox"}
    assert named(production_problems(sandbox)) == ["CROWDFUNDING_PAYMENT_PROVIDER"]
    unset = {k: v for k, v in sandbox.items() if k != "CROWDFUNDING_PAYMENT_PROVIDER"}
    assert named(production_problems(unset)) == ["CROWDFUNDING_PAYMENT_PROVIDER"]
    assert production_problems({**sandbox, "CROWDFUNDING_SANDBOX_IN_PRODUCTION": "true"}) == []
    assert named(
        production_problems({**sandbox, "CROWDFUNDING_SANDBOX_IN_PRODUCTION": "false"})
    ) == ["CROWDFUNDING_PAYMENT_PROVIDER"]
    no_keys = {**SAFE, "STRIPE_SECRET_KEY": "", "STRIPE_WEBHOOK_SECRET": ""}
    assert named(production_problems(no_keys)) == ["STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"]
    assert named(production_problems({**SAFE, "CROWDFUNDING_PAYMENT_PROVIDER": "paypal"})) == [
        "CROWDFUNDING_PAYMENT_PROVIDER"
    ]


def test_the_portal_with_stripe_needs_the_publishable_key_and_never_a_secret_one():
    no_key = {**SAFE, "STRIPE_PUBLISHABLE_KEY": ""}
    assert named(production_problems(no_key)) == ["STRIPE_PUBLISHABLE_KEY"]
    assert named(production_problems(no_key, services=["portal"])) == ["STRIPE_PUBLISHABLE_KEY"]
    assert production_problems(no_key, services=["crowdfunding"]) == [], "the portal's key"
    for leaked in ("sk_live_abc", "rk_live_abc"):
        problems = production_problems({**SAFE, "STRIPE_PUBLISHABLE_KEY": leaked})
        assert named(problems) == ["STRIPE_PUBLISHABLE_KEY"] and "secret" in problems[0]
    sandbox = {**no_key, "CROWDFUNDING_PAYMENT_PROVIDER": "sandbox"}
    opted_in = {**sandbox, "CROWDFUNDING_SANDBOX_IN_PRODUCTION": "true"}
    assert production_problems(opted_in) == [], "the sandbox's test cards need no key"


def test_each_service_checks_the_secrets_it_uses():
    bare = {"SHARITORIES_ENV": "production"}
    assert named(production_problems(bare, services=["exchange"])) == [
        "JWT_SECRET",
        "METRICS_TOKEN",
    ]
    assert "PORTAL_SESSION_SECRET" in named(production_problems(bare, services=["portal"]))
    assert "BUDGET_BALLOT_SECRET" in named(production_problems(bare, services=["budget"]))
    crowdfunding = named(production_problems(bare, services=["crowdfunding"]))
    assert "CROWDFUNDING_WEBHOOK_SECRET" in crowdfunding
    assert "CROWDFUNDING_PAYMENT_PROVIDER" in crowdfunding


def test_the_refusal_prints_one_line_per_problem_and_exits_non_zero(capsys):
    with pytest.raises(SystemExit) as exit:
        refuse_unsafe_production(env={**SAFE, "JWT_SECRET": "short", "METRICS_TOKEN": ""})
    assert exit.value.code == EXIT_UNSAFE != 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2
    assert "JWT_SECRET is shorter" in lines[0] and "METRICS_TOKEN is unset" in lines[1]
    refuse_unsafe_production(env=SAFE)  # nothing to say: returns


def test_a_service_app_in_production_refuses_to_be_built(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    for name in SAFE:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SHARITORIES_ENV", "production")
    monkeypatch.setenv("JWT_SECRET", "sharitories-dev-secret-change-me-0123456789")
    production = Settings(env="production", var_dir=tmp_path)
    with pytest.raises(SystemExit) as exit:
        create_service_app("exchange", settings=production)
    assert exit.value.code == EXIT_UNSAFE
    err = capsys.readouterr().err.splitlines()
    assert [line.split(": ")[1].split()[0] for line in err] == ["JWT_SECRET", "METRICS_TOKEN"]
    monkeypatch.setenv("JWT_SECRET", "j" * 40)
    monkeypatch.setenv("METRICS_TOKEN", "m" * 40)
    assert create_service_app("exchange", settings=production).title == "Sharitories exchange"
    # Outside production nothing is checked.
    monkeypatch.delenv("METRICS_TOKEN")
    create_service_app("exchange", settings=Settings(env="dev", var_dir=tmp_path))


def test_the_dotenv_file_counts_and_the_environment_wins(tmp_path, monkeypatch):
    dotenv = tmp_path / ".env"
    dotenv.write_text("JWT_SECRET=from-the-file\nMETRICS_TOKEN=file-token\n")
    monkeypatch.setenv("METRICS_TOKEN", "from-the-environment")
    values = environment(dotenv)
    assert values["JWT_SECRET"] == "from-the-file"
    assert values["METRICS_TOKEN"] == "from-the-environment"


def test_the_test_fixture_secrets_pass_the_check():
    from libs.common.testing import PRODUCTION_SECRETS

    assert production_problems({"SHARITORIES_ENV": "production", **PRODUCTION_SECRETS}) == []
