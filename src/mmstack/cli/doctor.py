"""`mmstack doctor`: the checks of ops/doctor.py on this host, as a table or JSON; exits 1
when anything critical or high is found."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mmstack.cli.options import options
from mmstack.cli.output import console, print_json, print_table

COLOURS = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


def doctor(
    env: Annotated[
        str, typer.Option("--env", help="development, staging, production or gpu")
    ] = "development",
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="Stack file (default: ./stack.yaml or the packaged one)"),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Check the host and the deployment: subnets, ports, GPUs, configuration, security."""
    from mmstack.ops.compose import render_compose
    from mmstack.ops.doctor import config_check, run_doctor
    from mmstack.ops.findings import blocking, ordered
    from mmstack.ops.host_facts import gather_host_facts
    from mmstack.ops.network_checks import published_ports
    from mmstack.ops.stack_file import locate_stack_file

    path = locate_stack_file(file)
    stack, findings = config_check(path, env, options.config)
    if stack is not None and env in stack.environments:
        candidates = [p.port for p in published_ports(render_compose(stack, env))]
        findings += run_doctor(stack, env, gather_host_facts(candidates))
    findings = ordered(findings)
    if json_out:
        print_json([f.as_dict() for f in findings])
    else:
        rows = [
            (f"[{COLOURS[f.severity]}]{f.severity}[/]", f.check, f.message, f.fix) for f in findings
        ]
        print_table(
            f"mmstack doctor: {path}, environment {env}",
            ["severity", "check", "message", "fix"],
            rows,
        )
        summary = {s: sum(f.severity == s for f in findings) for s in COLOURS}
        console.print(", ".join(f"{n} {s}" for s, n in summary.items() if n) or "no findings")
    if blocking(findings):
        raise typer.Exit(1)
