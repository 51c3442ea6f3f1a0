"""`mmstack deploy ...`: deployments generated from the stack file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mmstack.cli.output import console, fail
from mmstack.errors import MMStackError

deploy_app = typer.Typer(help="Deployments generated from the stack file.", no_args_is_help=True)

StackFileOpt = Annotated[
    Path | None,
    typer.Option("--file", "-f", help="Stack file (default: ./stack.yaml or the packaged one)"),
]
EnvOpt = Annotated[str, typer.Option("--env", help="development, staging, production or gpu")]


@deploy_app.callback()
def deploy() -> None:
    """Deployments generated from the stack file."""


@deploy_app.command("helm")
def helm(
    env: EnvOpt,
    out: Annotated[
        Path | None, typer.Option("--out", help="Chart directory [deploy/helm/<project>]")
    ] = None,
    file: StackFileOpt = None,
) -> None:
    """Write a Helm chart: values.yaml for ENV, values-<env>.yaml for every environment."""
    from mmstack.ops.helm import write_chart
    from mmstack.ops.stack_file import load_stack_file, locate_stack_file

    try:
        stack = load_stack_file(locate_stack_file(file))
        out_dir = out or Path("deploy/helm") / stack.project
        written = write_chart(stack, out_dir, env)
    except MMStackError as exc:
        fail(exc.message)
    except OSError as exc:
        fail(f"cannot write the chart: {exc}")
    for path in written:
        console.print(f"wrote {path}", highlight=False)
    console.print(
        f"install: apply the Secrets (mmstack secrets render --env {env} --format kubernetes),"
        f" then\n  helm upgrade --install {stack.project} {out_dir}",
        highlight=False,
    )


@deploy_app.command("compose")
def compose(
    env: EnvOpt,
    stack: Annotated[
        list[str] | None, typer.Option("--stack", help="Only these stacks (repeat)")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Directory to write into")] = Path(
        "deploy/compose"
    ),
    file: StackFileOpt = None,
    source: Annotated[
        Path | None,
        typer.Option(
            "--source",
            help="mmstack's source tree: its image is built from there (default: the current "
            "directory when it holds mmstack's Dockerfile; otherwise the image is pulled)",
        ),
    ] = None,
) -> None:
    """Write compose.<env>.yaml: a profile per stack, health checks, secrets as files."""
    from mmstack.ops.compose import write_compose
    from mmstack.ops.stack_file import load_stack_file, locate_stack_file

    if source is None and _is_source_tree(Path.cwd()):
        source = Path.cwd()
    elif source is not None and not _is_source_tree(source):
        fail(f"{source} is not mmstack's source tree (no Dockerfile and src/mmstack there)")
    try:
        loaded = load_stack_file(locate_stack_file(file))
        path = write_compose(loaded, env, out, stack, source)
    except MMStackError as exc:
        fail(exc.message)
    except OSError as exc:
        fail(f"cannot write the compose file: {exc}")
    needed = sorted({s.stack for s in loaded.resolved(env, stack).values()})
    profiles = " ".join(f"--profile {p}" for p in needed)
    image = f"mmstack's image is built from {source}" if source else "images are pulled"
    console.print(
        f"wrote {path} ({image})\n"
        f"next: mmstack secrets init --env {env} && mmstack secrets render --env {env} "
        f"--format compose --out {out}\n"
        f"      docker compose -f {path} {profiles} up -d   (or: mmstack stack up --env {env})",
        highlight=False,
    )


def _is_source_tree(path: Path) -> bool:
    return (path / "Dockerfile").is_file() and (path / "src" / "mmstack").is_dir()


@deploy_app.command("monitoring")
def monitoring(
    env: EnvOpt,
    out: Annotated[Path, typer.Option("--out", help="Directory to write into")] = Path(
        "deploy/monitoring"
    ),
    file: StackFileOpt = None,
    token_file: Annotated[
        str, typer.Option(help="Where Prometheus reads the metrics token")
    ] = "/run/secrets/metrics-token",  # noqa: S107 (a path, not a secret)
    rules_dir: Annotated[
        str, typer.Option(help="Where Prometheus finds the rules file")
    ] = "/etc/prometheus",
) -> None:
    """Write Prometheus' configuration (every mmstack API and worker replica, with the
    metrics token) and alert rules, and Grafana's data sources and dashboards when the
    environment runs Grafana; check Prometheus' with `promtool check config`."""
    from mmstack.ops.monitoring import write_monitoring
    from mmstack.ops.stack_file import load_stack_file, locate_stack_file

    try:
        loaded = load_stack_file(locate_stack_file(file))
        written = write_monitoring(loaded, env, out, token_file=token_file, rules_dir=rules_dir)
    except MMStackError as exc:
        fail(exc.message)
    except OSError as exc:
        fail(f"cannot write the monitoring files: {exc}")
    console.print("wrote " + ", ".join(str(path) for path in written), highlight=False)
