"""`mmstack deploy helm`: the chart written from the packaged stack file, linted by Helm
(in-process, helm-python-sdk) and rendered for every environment; every manifest is checked
against the Kubernetes 1.30 schemas (kubernetes-validate, strict), then against what the
stack file says. Set UPDATE_GOLDEN=1 to rewrite tests/ops/golden/."""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import subprocess
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from typer.testing import CliRunner

from mmstack.cli.deploy import deploy_app
from mmstack.ops.helm import write_chart
from mmstack.ops.secrets_render import render as render_secrets
from mmstack.ops.secrets_rotation import init_secrets
from mmstack.ops.secrets_store import SecretsStore, load_key
from mmstack.ops.stack_file import ENVIRONMENTS, STACKS, StackFile, load_stack_file

PACKAGED = Path(__file__).parents[2] / "src/mmstack/ops/stack.default.yaml"
GOLDEN = Path(__file__).parent / "golden"
RELEASE = "mmstack"
KUBERNETES = "1.30.0"
# A variable naming a secret value (an access key's id is not one).
SECRET_NAME = re.compile(r"(PASSWORD|KEY|SECRET|TOKEN)(_FILE)?$")

Manifest = dict[str, Any]


@pytest.fixture(scope="module")
def stack() -> StackFile:
    return load_stack_file(PACKAGED)


@pytest.fixture(scope="module")
def chart(stack: StackFile, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("chart") / "mmstack"
    write_chart(stack, out)
    return out


@pytest.fixture(scope="module")
def rendered(chart: Path) -> dict[str, list[Manifest]]:
    return {env: render(chart, env_values(chart, env)) for env in ENVIRONMENTS}


def env_values(chart: Path, env: str) -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((chart / f"values-{env}.yaml").read_text())
    return values


def render(
    chart: Path, values: dict[str, Any] | None = None, release: str = RELEASE
) -> list[Manifest]:
    with helm_python.Chart.load(chart) as loaded:
        files = loaded.render(values, name=release, namespace="mmstack")
    docs: list[Manifest] = []
    for name, text in sorted(files.items()):
        if name.endswith(".yaml"):
            docs.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return docs


def of_kind(docs: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def container(deployment: Manifest) -> Manifest:
    containers: list[Manifest] = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def summary(docs: list[Manifest]) -> str:
    """The golden form: one line per object, with a Deployment's replicas and GPUs."""
    lines = []
    for doc in docs:
        line = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] == "Deployment":
            line += f" replicas={doc['spec'].get('replicas', 'hpa')}"
            if gpus := container(doc)["resources"].get("limits", {}).get("nvidia.com/gpu"):
                line += f" gpus={gpus}"
        if doc["kind"] == "HorizontalPodAutoscaler":
            line += f" {doc['spec']['minReplicas']}..{doc['spec']['maxReplicas']}"
        lines.append(line)
    return "\n".join(sorted(lines)) + "\n"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_helm_lint_passes(chart: Path, env: str) -> None:
    report = helm_python.lint(chart, env_values(chart, env), strict=True, kube_version="v1.30.0")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_manifest_is_valid_kubernetes(rendered: dict[str, list[Manifest]], env: str) -> None:
    assert len(rendered[env]) > 20
    for doc in rendered[env]:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_golden_objects(rendered: dict[str, list[Manifest]], env: str) -> None:
    golden = GOLDEN / f"helm-{env}.txt"
    actual = summary(rendered[env])
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(actual)
    assert actual == golden.read_text()


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_deployments_follow_the_environment(
    rendered: dict[str, list[Manifest]], stack: StackFile, env: str
) -> None:
    docs = rendered[env]
    services = stack.resolved(env)
    deployments = of_kind(docs, "Deployment")
    assert set(deployments) == set(services)
    hpas = of_kind(docs, "HorizontalPodAutoscaler")
    assert set(hpas) == {"api", "worker"}
    for name, service in services.items():
        if name in hpas:
            assert "replicas" not in deployments[name]["spec"]  # the HPA owns the count
            assert hpas[name]["spec"]["minReplicas"] == service.replicas
            assert hpas[name]["spec"]["maxReplicas"] == service.autoscale_max
            assert hpas[name]["spec"]["scaleTargetRef"]["name"] == name
        else:
            assert deployments[name]["spec"]["replicas"] == service.replicas
    pdbs = of_kind(docs, "PodDisruptionBudget")
    assert set(pdbs) == {n for n, s in services.items() if s.replicas > 1 or n in hpas}
    monitored = any(s.generated for s in services.values())  # headless, for Prometheus
    assert set(of_kind(docs, "Service")) == {
        n for n, s in services.items() if s.ports or (s.healthcheck and s.healthcheck.port)
    } | ({"api-pods", "worker-pods"} if monitored else set())
    claims = of_kind(docs, "PersistentVolumeClaim")
    assert set(claims) == {m.source for s in services.values() for m in s.volumes}
    for name, claim in claims.items():
        assert claim["spec"]["resources"]["requests"]["storage"] == stack.volumes[name].size


def test_replicas_per_environment(rendered: dict[str, list[Manifest]]) -> None:
    minimum = {
        env: {n: h["spec"]["minReplicas"] for n, h in of_kind(d, "HorizontalPodAutoscaler").items()}
        for env, d in rendered.items()
    }
    assert minimum == {
        "development": {"api": 1, "worker": 1},
        "staging": {"api": 2, "worker": 2},
        "production": {"api": 3, "worker": 4},
        "gpu": {"api": 2, "worker": 2},
    }
    production = of_kind(rendered["production"], "Deployment")
    assert container(production["api"])["resources"] == {
        "limits": {"cpu": "2", "memory": "4Gi"},
        "requests": {"cpu": "1", "memory": "2Gi"},
    }
    development = of_kind(rendered["development"], "Deployment")
    # development replaces api's resources whole: its requests are its limits, not the base's.
    assert container(development["api"])["resources"] == {
        "limits": {"cpu": "1", "memory": "2Gi"},
        "requests": {"cpu": "1", "memory": "2Gi"},
    }
    assert container(development["postgres"])["resources"]["limits"] == {
        "cpu": "2",
        "memory": "2Gi",
    }
    assert "vllm" not in development
    assert "n8n" in of_kind(rendered["production"], "Deployment")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_gpu_only_for_vllm_in_the_gpu_environment(
    rendered: dict[str, list[Manifest]], env: str
) -> None:
    with_gpu = {
        name: container(d)["resources"]["limits"]["nvidia.com/gpu"]
        for name, d in of_kind(rendered[env], "Deployment").items()
        if "nvidia.com/gpu" in container(d)["resources"].get("limits", {})
    }
    assert with_gpu == ({"vllm": 1} if env == "gpu" else {})
    for d in of_kind(rendered[env], "Deployment").values():
        assert "nvidia.com/gpu" not in container(d)["resources"].get("requests", {})


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_secrets_only_by_reference(
    rendered: dict[str, list[Manifest]], stack: StackFile, env: str
) -> None:
    assert of_kind(rendered[env], "Secret") == {}
    for name, deployment in of_kind(rendered[env], "Deployment").items():
        service = stack.services[name]
        env_vars = {e["name"]: e for e in container(deployment).get("env", [])}
        for var, entry in env_vars.items():
            if SECRET_NAME.search(var):
                assert var.endswith("_FILE"), var
                assert entry["value"].startswith("/run/secrets/"), (name, var)
        if not service.secrets:
            continue
        for use in service.secrets:
            if use.env is not None:
                assert env_vars[use.env]["value"] == f"/run/secrets/{use.secret}"
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        sources = [s for s in volumes["secrets"]["projected"]["sources"] if "secret" in s]
        assert {s["secret"]["name"]: s["secret"]["items"] for s in sources} == {
            f"{stack.project}-{use.secret}": [{"key": "value", "path": use.secret}]
            for use in service.secrets
        }
        mounts = {m["mountPath"]: m for m in container(deployment)["volumeMounts"]}
        assert mounts["/run/secrets"]["readOnly"] is True


def test_no_secret_value_reaches_the_chart(
    stack: StackFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Secret values lying around (the process environment, compose's ./secrets/, a .env)
    never end up in the chart or in what it renders."""
    fake = {name: f"fake-{secrets.token_hex(12)}" for name in stack.secrets}
    (tmp_path / "secrets").mkdir()
    for name, value in fake.items():
        (tmp_path / "secrets" / name).write_text(value)
        monkeypatch.setenv(name.upper().replace("-", "_"), value)
    (tmp_path / ".env").write_text("".join(f"{n.upper()}={v}\n" for n, v in fake.items()))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "chart"
    written = write_chart(stack, out, "production")
    texts = [p.read_text() for p in written]
    for env in ENVIRONMENTS:
        texts.append(json.dumps(render(out, env_values(out, env))))
    for text in texts:
        for value in fake.values():
            assert value not in text


def test_probes_from_health_checks(rendered: dict[str, list[Manifest]], stack: StackFile) -> None:
    deployments = of_kind(rendered["production"], "Deployment")
    api = container(deployments["api"])
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 8000}
    # Alive is not ready: a database outage takes pods out of the Service, not restarts them.
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 8000}
    assert (
        container(deployments["worker"])["livenessProbe"]
        == container(deployments["worker"])["readinessProbe"]
    )
    assert api["livenessProbe"]["periodSeconds"] == 10
    assert container(deployments["redis"])["readinessProbe"]["tcpSocket"] == {"port": 6379}
    assert container(deployments["postgres"])["readinessProbe"]["exec"]["command"] == [
        "pg_isready",
        "-U",
        "mmstack",
        "-d",
        "mmstack",
    ]
    vllm = container(deployments["vllm"])
    check = stack.services["vllm"].healthcheck
    assert check is not None
    assert vllm["startupProbe"]["failureThreshold"] == (
        math.ceil(check.start_period_seconds / check.interval_seconds) + check.retries
    )
    assert vllm["readinessProbe"]["failureThreshold"] == check.retries
    assert vllm["readinessProbe"]["timeoutSeconds"] == check.timeout_seconds


def test_rolling_updates_keep_the_service_up(rendered: dict[str, list[Manifest]]) -> None:
    for name, deployment in of_kind(rendered["production"], "Deployment").items():
        strategy = deployment["spec"]["strategy"]
        if strategy["type"] == "RollingUpdate":
            assert strategy["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}, name
        else:
            assert "rollingUpdate" not in strategy, name
    assert of_kind(rendered["production"], "Deployment")["api"]["spec"]["strategy"]["type"] == (
        "RollingUpdate"
    )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_migrations_run_once_before_an_upgrade(
    rendered: dict[str, list[Manifest]], stack: StackFile, env: str
) -> None:
    jobs = of_kind(rendered[env], "Job")
    assert set(jobs) == {"api-migrate"}
    job = jobs["api-migrate"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-upgrade"
    pod = job["spec"]["template"]
    assert pod["spec"]["restartPolicy"] == "Never"
    migrate = pod["spec"]["containers"][0]
    api = container(of_kind(rendered[env], "Deployment")["api"])
    assert migrate["args"] == ["mmstack", "migrate"]
    assert (migrate["image"], migrate["env"]) == (api["image"], api["env"])
    assert migrate["securityContext"] == api["securityContext"]
    # Its pod is not one of the api's: the Service and the disruption budget skip it.
    selector = of_kind(rendered[env], "Service")["api"]["spec"]["selector"]
    labels = pod["metadata"]["labels"]
    assert not all(labels.get(key) == value for key, value in selector.items())
    assert labels["net.mmstack.io/backend"] == "true"  # it reaches the database


def test_security_context(rendered: dict[str, list[Manifest]], stack: StackFile) -> None:
    for name, deployment in of_kind(rendered["production"], "Deployment").items():
        service = stack.services[name]
        context = container(deployment)["securityContext"]
        assert context["runAsNonRoot"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        assert context["readOnlyRootFilesystem"] is service.read_only
        assert service.user is not None
        uid, gid = service.user.split(":")
        assert (context["runAsUser"], context["runAsGroup"]) == (int(uid), int(gid))
        pod = deployment["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        mounts = {m["mountPath"]: m["name"] for m in container(deployment).get("volumeMounts", [])}
        for directory in service.tmpfs:
            assert volumes[mounts[directory]]["emptyDir"] == {"medium": "Memory"}
        for mount in service.volumes:
            claim = volumes[mounts[mount.target]]["persistentVolumeClaim"]["claimName"]
            assert claim == mount.source


def test_network_policies(rendered: dict[str, list[Manifest]]) -> None:
    docs = rendered["development"]
    policies = of_kind(docs, "NetworkPolicy")
    deny = policies[f"{RELEASE}-deny-ingress"]["spec"]
    assert deny["policyTypes"] == ["Ingress"]
    assert "ingress" not in deny
    backend = policies[f"{RELEASE}-network-backend"]["spec"]
    label = {"net.mmstack.io/backend": "true"}
    assert backend["podSelector"]["matchLabels"].items() >= label.items()
    assert backend["ingress"][0]["from"][0]["podSelector"]["matchLabels"].items() >= label.items()
    pods = {
        n: d["spec"]["template"]["metadata"]["labels"]
        for n, d in of_kind(docs, "Deployment").items()
    }

    def members(network: str) -> set[str]:
        return {
            n for n, labels in pods.items() if labels.get(f"net.mmstack.io/{network}") == "true"
        }

    assert members("backend") == {"api", "worker", "postgres", "redis", "qdrant", "minio"}
    assert members("edge") == {"api"}
    published = policies[f"{RELEASE}-published-api"]["spec"]
    assert published["ingress"] == [{"ports": [{"port": 8000, "protocol": "TCP"}]}]
    assert f"{RELEASE}-network-observability" not in policies  # no monitoring in development


def test_values_yaml_is_the_chosen_environment(
    stack: StackFile, chart: Path, tmp_path: Path
) -> None:
    production = tmp_path / "mmstack"
    write_chart(stack, production, "production")
    assert yaml.safe_load((production / "values-production.yaml").read_text()) == {}
    assert render(production) == render(chart, env_values(chart, "production"))
    assert render(production, env_values(production, "development")) == render(
        chart, env_values(chart, "development")
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"services": {"api": {"replicas": "three"}}},
        {"services": {"api": {"replica": 2}}},
        {"services": {"api": {"resources": {"limits": {"memory": "lots"}}}}},
        {"volumes": {"models": {"size": 50}}},
    ],
)
def test_values_schema_rejects_bad_values(chart: Path, bad: dict[str, Any]) -> None:
    with helm_python.Chart.load(chart) as loaded, pytest.raises(helm_python.HelmError) as caught:
        loaded.render(bad, name=RELEASE, namespace="mmstack")
    assert "schema" in str(caught.value).lower()


def test_chart_metadata(chart: Path, stack: StackFile) -> None:
    metadata = yaml.safe_load((chart / "Chart.yaml").read_text())
    assert metadata["apiVersion"] == "v2"
    assert metadata["name"] == stack.project
    assert {"version", "appVersion"} <= metadata.keys()
    values = yaml.safe_load((chart / "values.yaml").read_text())
    assert set(values["services"]) == set(stack.services)
    enabled = {n for n, s in values["services"].items() if s["enabled"]}
    assert enabled == set(stack.resolved("development"))
    assert set(stack.resolved("development", list(STACKS))) == set(stack.services)


runner = CliRunner()


def test_cli_writes_the_chart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        deploy_app, ["helm", "--env", "staging", "--out", str(out), "--file", str(PACKAGED)]
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {out / 'Chart.yaml'}" in result.output
    assert "# environment: staging" in (out / "values.yaml").read_text()

    monkeypatch.chdir(tmp_path)  # no ./stack.yaml here: the packaged one is used
    result = runner.invoke(deploy_app, ["helm", "--env", "gpu"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "deploy/helm/mmstack/values-gpu.yaml").exists()


def test_cli_reports_an_unknown_environment(tmp_path: Path) -> None:
    result = runner.invoke(
        deploy_app, ["helm", "--env", "qa", "--out", str(tmp_path / "out"), "--file", str(PACKAGED)]
    )
    assert result.exit_code == 1
    assert "no environment 'qa'" in result.output
    assert not (tmp_path / "out").exists()


def test_any_release_name_finds_the_rendered_secrets(
    chart: Path, stack: StackFile, tmp_path: Path
) -> None:
    """The Secrets come from `mmstack secrets render --format kubernetes`, named after the
    project; a release named otherwise must still mount exactly those."""
    store = SecretsStore.open(tmp_path / "secrets.enc", load_key(tmp_path / "k", create=True))
    init_secrets(store, stack, "production")
    [manifest] = render_secrets(store, stack, "production", "kubernetes", tmp_path)
    rendered = {doc["metadata"]["name"] for doc in yaml.safe_load_all(manifest.read_text())}
    docs = render(chart, env_values(chart, "production"), release="other")
    mounted = {
        (source.get("secret") or source["configMap"])["name"]  # the rotation rules' ConfigMap
        for deployment in of_kind(docs, "Deployment").values()
        for volume in deployment["spec"]["template"]["spec"].get("volumes", [])
        if volume["name"] == "secrets"
        for source in volume["projected"]["sources"]
    }
    assert "mmstack-secrets-rotation" in mounted
    assert mounted <= rendered


def test_the_monitoring_stack_mounts_its_generated_configuration(
    rendered: dict[str, list[Manifest]], tmp_path: Path
) -> None:
    """Prometheus and Grafana mount their generated files from one ConfigMap; Prometheus
    finds every API and worker replica through their headless services, and promtool
    accepts its configuration and rules as rendered."""
    docs = rendered["production"]
    data = of_kind(docs, "ConfigMap")[f"{RELEASE}-monitoring"]["data"]
    deployments = of_kind(docs, "Deployment")
    for name in ("prometheus", "grafana"):
        pod = deployments[name]["spec"]["template"]["spec"]
        mounts = [
            m for m in container(deployments[name])["volumeMounts"] if m["name"] == "monitoring"
        ]
        assert mounts
        assert all(m["subPath"] in data and m["readOnly"] for m in mounts)
        volume = next(v for v in pod["volumes"] if v["name"] == "monitoring")
        assert volume["configMap"]["name"] == f"{RELEASE}-monitoring"
    targets = {m["mountPath"] for m in container(deployments["grafana"])["volumeMounts"]}
    assert "/etc/grafana/provisioning/datasources/mmstack.yml" in targets
    assert len([t for t in targets if t.startswith("/etc/grafana/dashboards/mmstack/")]) == 5

    headless = {
        name: service
        for name, service in of_kind(docs, "Service").items()
        if service["spec"].get("clusterIP") == "None"
    }
    assert {n: s["spec"]["ports"][0]["port"] for n, s in headless.items()} == {
        "api-pods": 8000,
        "worker-pods": 9100,
    }
    config = yaml.safe_load(data["prometheus.yml"])
    names = {job["job_name"]: job["dns_sd_configs"][0]["names"] for job in config["scrape_configs"]}
    assert names == {"mmstack-api": ["api-pods"], "mmstack-worker": ["worker-pods"]}
    assert deployments["prometheus"]["spec"]["template"]["spec"]["volumes"]
    [projected] = [
        v["projected"]["sources"]
        for v in deployments["prometheus"]["spec"]["template"]["spec"]["volumes"]
        if v["name"] == "secrets"
    ]
    assert "metrics-token" in {s["secret"]["items"][0]["path"] for s in projected if "secret" in s}
    # The secrets' rotation rules, when rendered; Prometheus starts without them.
    assert {"name": "mmstack-secrets-rotation", "optional": True} in [
        s["configMap"] for s in projected if "configMap" in s
    ]
    assert "/run/secrets/*.rules.yml" in yaml.safe_load(data["prometheus.yml"])["rule_files"]

    token = tmp_path / "metrics-token"
    token.write_text("a token")
    (tmp_path / "mmstack-rules.yml").write_text(data["mmstack-rules.yml"])
    prometheus_yml = tmp_path / "prometheus.yml"
    prometheus_yml.write_text(
        data["prometheus.yml"]
        .replace("/run/secrets/metrics-token", str(token))
        .replace("/etc/prometheus", str(tmp_path))
    )
    checked = subprocess.run(
        ["promtool", "check", "config", str(prometheus_yml)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
