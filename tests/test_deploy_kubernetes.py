"""deploy/k8s: both overlays build offline, validate, pass checkov, and hold together.

Tools: `kubectl` (kustomize built in) and, in their own virtualenv `.venv-tools`
(checkov's pins clash with the project's), `kubernetes-validate` and `checkov`. `make test`
installs them before the suite starts; run alone, the first test creates it, under a file
lock so parallel workers don't install twice. Each check is skipped, with the reason, when
its tool is unavailable.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from libs.common.broker import nats_servers
from libs.common.events import STREAM
from libs.common.settings import REPO_ROOT

K8S = REPO_ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "production")
APPS = ("portal", "exchange", "crowdfunding", "budget", "impact")
HTTP_APPS = ("portal", "exchange", "crowdfunding", "budget")
TOOLS = REPO_ROOT / ".venv-tools"
TOOLS_STAMP = ".venv-tools/.installed"  # the Makefile target that installs them
BUILT_IN_GROUPS = {"v1", "apps/v1", "policy/v1", "autoscaling/v2", "networking.k8s.io/v1"}


def build(overlay: str) -> list[dict]:
    if not shutil.which("kubectl"):
        pytest.skip("kubectl is not installed (its kustomize builds the overlays)")
    result = subprocess.run(
        ["kubectl", "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request) -> tuple[str, list[dict]]:
    return request.param, build(request.param)


def tool(name: str) -> Path:
    """A tool of .venv-tools, the virtualenv created on first use (skip if impossible)."""
    path = TOOLS / "bin" / name
    if path.exists():
        return path
    with open(REPO_ROOT / ".venv-tools.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another xdist worker may be installing them
        if path.exists():
            return path
        try:  # the Makefile's own rule: the tools' list is written there only
            subprocess.run(
                ["make", "-C", str(REPO_ROOT), f"PYTHON={sys.executable}", TOOLS_STAMP],
                check=True,
                timeout=900,
                capture_output=True,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            pytest.skip(f"{name} could not be installed in .venv-tools: {exc}")
    if not path.exists():  # the rule says so and carries on: no network, say
        pytest.skip(f"{name} could not be installed in .venv-tools (see `make {TOOLS_STAMP}`)")
    return path


def of_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@pytest.mark.long
def test_built_in_kinds_validate_against_the_kubernetes_schemas(overlay, tmp_path):
    _name, docs = overlay
    validate = tool("kubernetes-validate")
    files = []
    for index, doc in enumerate(d for d in docs if d["apiVersion"] in BUILT_IN_GROUPS):
        path = tmp_path / f"{index:02d}-{doc['kind']}-{doc['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(doc))
        files.append(str(path))
    assert len(files) > 30
    result = subprocess.run(
        [str(validate), "--strict", "--kubernetes-version", "1.30.0", "--quiet", *files],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.long
def test_checkov_finds_nothing(overlay, tmp_path):
    name, docs = overlay
    checkov = tool("checkov")
    manifest = tmp_path / f"{name}.yaml"
    manifest.write_text(yaml.safe_dump_all(docs))
    result = subprocess.run(
        [
            str(checkov),
            "-f",
            str(manifest),
            "--framework",
            "kubernetes",
            "--skip-download",
            "--quiet",
            "--compact",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    # Offline, checkov has no severities: every failed check counts (skips carry a reason
    # in the manifests' checkov.io/skip annotations).
    failed = [
        (f["check_id"], f["resource"], f["check_name"])
        for report in reports
        for f in report["results"]["failed_checks"]
    ]
    assert failed == []
    assert sum(r["summary"]["passed"] for r in reports) > 400


def test_apps_are_hardened_probed_bounded_and_spread(overlay):
    _name, docs = overlay
    deployments = of_kind(docs, "Deployment")
    assert set(deployments) == set(APPS)
    for app, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False
        assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} >= {
            "kubernetes.io/hostname"
        }
        for container in pod["containers"] + pod["initContainers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, (app, container["name"])
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert context["seccompProfile"]["type"] == "RuntimeDefault"
            assert {"requests", "limits"} <= set(container["resources"])
            image = container["image"]
            assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image
        [main] = pod["containers"]
        assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert main["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_migrations_run_before_every_pod_with_the_direct_connection(overlay):
    _name, docs = overlay
    for app, deployment in of_kind(docs, "Deployment").items():
        [migrate] = deployment["spec"]["template"]["spec"]["initContainers"]
        assert migrate["command"] == ["sharitories", "migrate", app]
        url = next(e["value"] for e in migrate["env"] if e["name"] == "DATABASE_URL")
        assert "@sharitories-pg-rw:" in url  # DDL and the advisory lock bypass PgBouncer
        main = deployment["spec"]["template"]["spec"]["containers"][0]
        url = next(e["value"] for e in main["env"] if e["name"] == "DATABASE_URL")
        assert "@sharitories-pg-pooler-rw:" in url and url.startswith(f"postgresql://{app}:")


def test_secrets_are_referenced_never_written(overlay):
    _name, docs = overlay
    assert of_kind(docs, "Secret") == {}
    for deployment in of_kind(docs, "Deployment").values():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for entry in container["env"]:
                if entry["name"].endswith(("SECRET", "TOKEN", "PASSWORD", "_KEY")):
                    assert "secretKeyRef" in entry["valueFrom"], entry["name"]


def test_nats_is_a_three_node_jetstream_statefulset_with_storage_and_a_budget(overlay):
    _name, docs = overlay
    nats = of_kind(docs, "StatefulSet")["nats"]
    assert nats["spec"]["replicas"] == 3
    [claim] = nats["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"]
    config = of_kind(docs, "ConfigMap")["nats-config"]["data"]["nats.conf"]
    assert "store_dir: /data" in config and config.count("nats-headless:6222") == 3
    assert of_kind(docs, "PodDisruptionBudget")["nats"]["spec"]["maxUnavailable"] == 1
    settings = of_kind(docs, "ConfigMap")["sharitories-config"]["data"]
    assert len(nats_servers(settings["NATS_URL"])) == 3
    assert settings["NATS_STREAM_REPLICAS"] == "3"


def test_every_app_has_a_budget_and_autoscaling(overlay):
    name, docs = overlay
    budgets = of_kind(docs, "PodDisruptionBudget")
    autoscalers = of_kind(docs, "HorizontalPodAutoscaler")
    assert set(APPS) <= set(budgets)
    for app in HTTP_APPS:
        [metric] = autoscalers[app]["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"
    if name == "production":
        assert "impact" not in autoscalers  # KEDA's ScaledObject owns it
        scaled = of_kind(docs, "ScaledObject")["impact"]
        assert scaled["spec"]["scaleTargetRef"]["name"] == "impact"
        [trigger] = scaled["spec"]["triggers"]
        assert trigger["type"] == "nats-jetstream"
        meta = trigger["metadata"]
        assert meta["stream"] == STREAM and meta["consumer"] == "impact"
        assert meta["natsServerMonitoringEndpoint"].endswith(":8222") and meta["account"]
        assert int(meta["lagThreshold"]) > 0


def test_every_pod_is_behind_a_network_policy(overlay):
    _name, docs = overlay
    policies = of_kind(docs, "NetworkPolicy")
    deny = policies["default-deny-ingress"]["spec"]
    assert deny["podSelector"] == {} and deny["policyTypes"] == ["Ingress"]
    assert "ingress" not in deny


# --- CloudNativePG, KEDA and External Secrets: their CRDs' required fields -------------


def test_postgresql_cluster_pooler_and_backups_are_complete(overlay):
    name, docs = overlay
    [cluster] = of_kind(docs, "Cluster").values()
    spec = cluster["spec"]
    assert spec["instances"] == (3 if name == "production" else 1)
    assert spec["storage"]["size"] and spec["bootstrap"]["initdb"]["database"] == "sharitories"
    roles = {r["name"]: r for r in spec["managed"]["roles"]}
    assert set(roles) == set(APPS)
    assert all(r["passwordSecret"]["name"] == f"sharitories-db-{n}" for n, r in roles.items())
    sql = " ".join(spec["bootstrap"]["initdb"]["postInitApplicationSQL"])
    for app in APPS:
        assert f"CREATE SCHEMA {app} AUTHORIZATION {app}" in sql
        assert f"ALTER ROLE {app} SET search_path = {app}, public" in sql
    [pooler] = of_kind(docs, "Pooler").values()
    assert pooler["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
    assert pooler["spec"]["type"] in ("rw", "ro")
    assert pooler["spec"]["pgbouncer"]["poolMode"] in ("session", "transaction")
    assert "search_path" in pooler["spec"]["pgbouncer"]["parameters"]["ignore_startup_parameters"]
    assert isinstance(pooler["spec"]["template"]["spec"]["containers"], list)
    if name == "production":
        store = spec["backup"]["barmanObjectStore"]
        assert store["destinationPath"].startswith("s3://")
        assert store["s3Credentials"]["accessKeyId"]["name"] == "sharitories-pg-backup"
        [backup] = of_kind(docs, "ScheduledBackup").values()
        assert len(backup["spec"]["schedule"].split()) == 6  # CNPG's cron has seconds
        assert backup["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
    else:
        assert "backup" not in spec and of_kind(docs, "ScheduledBackup") == {}


def test_production_secrets_all_come_from_external_secrets():
    docs = build("production")
    made = {}
    for external in of_kind(docs, "ExternalSecret").values():
        spec = external["spec"]
        assert spec["secretStoreRef"]["name"] and spec["secretStoreRef"]["kind"]
        assert spec.get("data") or spec.get("dataFrom")
        made[spec["target"]["name"]] = spec
    wanted = set()
    for deployment in of_kind(docs, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        for container in pod["containers"] + pod["initContainers"]:
            for entry in container["env"]:
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    wanted.add(ref["name"])
    [cluster] = of_kind(docs, "Cluster").values()
    wanted |= {r["passwordSecret"]["name"] for r in cluster["spec"]["managed"]["roles"]}
    wanted.add(
        cluster["spec"]["backup"]["barmanObjectStore"]["s3Credentials"]["accessKeyId"]["name"]
    )
    assert wanted <= set(made), wanted - set(made)
    for app in APPS:  # CNPG reads basic-auth Secrets for its managed roles
        assert made[f"sharitories-db-{app}"]["target"]["template"]["type"] == (
            "kubernetes.io/basic-auth"
        )
