"""`mmstack retention`: the retention policy's status, and applying it (or listing what
applying it would delete)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from mmstack.cli.options import JsonOpt, opened_stack
from mmstack.cli.output import console, print_json, print_table

if TYPE_CHECKING:
    from mmstack.ops.retention import RetentionPlan

retention_app = typer.Typer(
    help="How long each kind of data is kept, and deleting what is older.", no_args_is_help=True
)


@retention_app.command("status")
def retention_status(json_out: JsonOpt = False) -> None:
    """Per kind of data: the policy, how many are held, how many are due for deletion."""
    with opened_stack() as stack:
        status = stack.retention.status()
    if json_out:
        print_json([s.as_dict() for s in status])
        return
    print_table(
        "retention",
        ["kind", "policy", "held", "due"],
        [(s.kind, s.policy, "-" if s.held is None else s.held, s.due) for s in status],
    )


@retention_app.command("apply")
def retention_apply(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list what would be deleted")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Delete what the policy says is due, each deletion recorded in the audit log. The
    list is the same with --dry-run, which deletes nothing."""
    with opened_stack() as stack:
        plan = stack.retention.plan()
        if dry_run or plan.empty:
            _show(plan, json_out, "would be deleted" if dry_run else "deleted")
            if dry_run and not json_out:
                console.print("dry run: nothing was deleted")
            return
        if not yes:
            _show(plan, False, "will be deleted")
            typer.confirm("delete these?", abort=True)
        deleted = stack.retention.apply(plan)
    _show(deleted, json_out, "deleted")


def _show(plan: RetentionPlan, json_out: bool, what: str) -> None:
    """The one listing of a plan, for a dry run, a confirmation and what apply deleted."""
    if json_out:
        print_json(_plan_dict(plan))
        return
    if plan.empty:
        console.print("nothing is due")
        return
    print_table(
        what,
        ["kind", "id", "what", "count"],
        [(kind, item.id, item.label, item.count) for kind, item in plan.rows()],
    )


def _plan_dict(plan: RetentionPlan) -> dict[str, Any]:
    return {
        "at": plan.at,
        "kinds": {
            kind: [{"id": i.id, "label": i.label, "count": i.count} for i in items]
            for kind, items in plan.kinds.items()
        },
    }
