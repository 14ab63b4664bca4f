"""``paydesk recon import|list|summary|resolve|reopen|match`` and ``paydesk export recon``.

Importing, resolving, reopening and matching again are finance's and admin's; every role may
list and summarise. Every subcommand takes ``--json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from core.cli.common import opened, positive_int, print_json, print_table, say
from core.context import Context
from core.money import format_money
from core.recon import importer, matching
from core.recon import service as recon
from core.recon.formats import FORMATS, MAPPING_EXAMPLE


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recon", help="settlement reconciliation: import, match, resolve")
    rsub = p.add_subparsers(dest="recon_command", metavar="ACTION", required=True)

    imp = rsub.add_parser(
        "import",
        help="import a processor's settlement report (finance, admin)",
        description="Import a settlement report CSV and match every line. The format is found "
        f"from the header unless --format names one ({', '.join(FORMATS)}); --mapping reads "
        "a TOML file saying which column holds what, for any other CSV:\n\n" + MAPPING_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    imp.add_argument("file", metavar="FILE", type=Path)
    how = imp.add_mutually_exclusive_group()
    how.add_argument("--format", choices=sorted(FORMATS))
    how.add_argument("--mapping", metavar="MAPPING.toml", type=Path)
    imp.add_argument("--json", action="store_true")
    imp.set_defaults(func=run_import)

    ls = rsub.add_parser("list", help="settlement lines, oldest first")
    ls.add_argument("--batch", metavar="ID")
    ls.add_argument("--state", choices=matching.STATES)
    ls.add_argument("--open", action="store_true", help="only exceptions nobody resolved yet")
    ls.add_argument("--search", metavar="ID", help="a line, payment, refund or order id")
    ls.add_argument("--limit", type=positive_int, default=100)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_list)

    sm = rsub.add_parser("summary", help="each settlement batch: totals and the difference")
    sm.add_argument("--batch", metavar="ID")
    sm.add_argument("--json", action="store_true")
    sm.set_defaults(func=run_summary)

    rs = rsub.add_parser("resolve", help="resolve an exception (finance, admin)")
    rs.add_argument("line", metavar="LINE", type=_line_number)
    what = rs.add_mutually_exclusive_group(required=True)
    what.add_argument("--link", metavar="ID", help="the payment or refund it settles")
    what.add_argument("--accept", metavar="REASON", help=f"one of {', '.join(recon.REASONS)}")
    what.add_argument("--investigate", action="store_true", help="mark it under investigation")
    rs.add_argument("--note", metavar="TEXT", help="why (required with --investigate)")
    rs.add_argument("--json", action="store_true")
    rs.set_defaults(func=run_resolve)

    ro = rsub.add_parser("reopen", help="take back a resolution (finance, admin)")
    ro.add_argument("line", metavar="LINE", type=_line_number)
    ro.add_argument("--note", metavar="TEXT")
    ro.add_argument("--json", action="store_true")
    ro.set_defaults(func=run_reopen)

    sh = rsub.add_parser("show", help="one line and its history")
    sh.add_argument("line", metavar="LINE", type=_line_number)
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=run_show)

    ma = rsub.add_parser("match", help="match lines again (finance, admin)")
    ma.add_argument("ids", metavar="ID", nargs="*", help="only lines naming these payments/refunds")
    ma.add_argument("--json", action="store_true")
    ma.set_defaults(func=run_match)


def add_export(esub: argparse._SubParsersAction) -> None:
    """``paydesk export recon``, added by core.cli.export_cmd."""
    ex = esub.add_parser(
        "recon",
        help="settlement lines with their states",
        description="Write the settlement lines the filters select to a CSV file (amounts in "
        "major units, plus difference_minor). The file appears only when the export is complete.",
    )
    ex.add_argument("--out", metavar="FILE.csv", required=True, type=Path)
    ex.add_argument("--batch", metavar="ID")
    ex.add_argument("--state", choices=matching.STATES)
    ex.add_argument("--open", action="store_true")
    ex.set_defaults(func=run_export)


def _line_number(text: str) -> int:
    digits = text.strip()
    if not digits.isascii() or not digits.isdigit() or len(digits) > 18:
        raise argparse.ArgumentTypeError(f"{text!r} is not a line number")
    return int(digits)


def _with_context(args: argparse.Namespace, work: Any) -> Any:
    with opened(args) as ctx:
        return work(ctx, ctx.default_actor())


def run_import(args: argparse.Namespace) -> int:
    fmt = importer.resolve_format(args.format, args.mapping)  # a bad mapping before the database
    progress = _progress if sys.stderr.isatty() and not args.json else None

    def work(ctx: Context, actor: str) -> importer.ImportResult:
        try:
            return importer.import_report(
                ctx,
                actor,
                args.file,
                fmt=fmt,
                progress=progress,
            )
        finally:
            if progress:
                sys.stderr.write("\r\x1b[K")

    result = _with_context(args, work)
    if args.json:
        print_json(result.as_json())
    else:
        say(result.sentence())
    return 0


def _progress(lines: int, done: int, total: int) -> None:
    share = f" ({done * 100 // total}%)" if total else ""
    sys.stderr.write(f"\rImporting: {lines:,} lines{share}")
    sys.stderr.flush()


def _filter(args: argparse.Namespace) -> recon.LineFilter:
    return recon.LineFilter(
        batch_id=args.batch,
        state=args.state,
        open_only=args.open,
        search=getattr(args, "search", None),
    ).validated()


def run_list(args: argparse.Namespace) -> int:
    f = _filter(args)

    def work(ctx: Context, _actor: str) -> list[recon.LineView]:
        with ctx.db.read() as session:
            return recon.lines(session, f, limit=args.limit)

    rows = _with_context(args, work)
    if args.json:
        print_json([r.as_json() for r in rows])
        return 0
    print_table(
        ["line", "batch", "id", "kind", "amount", "state", "matched", "difference", "resolution"],
        [
            [
                str(r.id),
                r.batch_id or "-",
                r.line_id,
                r.kind,
                r.money(r.amount),
                r.state,
                r.matched_id or "",
                r.money(r.difference) if r.difference else "",
                r.resolution or ("open" if r.open else ""),
            ]
            for r in rows
        ],
        right={0, 4, 7},
    )
    return 0


def run_summary(args: argparse.Namespace) -> int:
    def work(ctx: Context, _actor: str) -> list[recon.BatchSummary]:
        with ctx.db.read() as session:
            return recon.summary(session, args.batch)

    rows = _with_context(args, work)
    if args.json:
        print_json([b.as_json() for b in rows])
        return 0

    def m(amount: int, b: recon.BatchSummary) -> str:
        return format_money(amount, b.currency)

    print_table(
        [
            "batch",
            "settled",
            "utr",
            "lines",
            "gross",
            "refunds",
            "fees",
            "net reported",
            "net expected",
            "difference",
            "open",
        ],
        [
            [
                b.batch_id or "(missing from settlement)",
                f"{b.settled_at:%Y-%m-%d}" if b.settled_at else "",
                b.utr or "",
                f"{b.lines:,}",
                m(b.gross, b),
                m(b.refunds, b),
                m(b.fees, b),
                m(b.net_reported, b),
                m(b.net_expected, b),
                m(b.difference, b),
                f"{b.open_exceptions:,}",
            ]
            for b in rows
        ],
        right={3, 4, 5, 6, 7, 8, 9, 10},
    )
    return 0


def _say(r: recon.LineView) -> str:
    what = f"Line {r.id} ({r.kind} {r.line_id}, {r.money(r.amount)})"
    state = r.state.replace("_", " ")
    if r.resolution == "linked":
        return f"{what} is linked to {r.linked_id} by {r.resolved_by}: {state}."
    if r.resolution == "accepted":
        return f"{what} is {state}, accepted ({r.resolution_reason}) by {r.resolved_by}."
    if r.resolution == "investigating":
        return f"{what} is {state}, under investigation by {r.resolved_by}."
    return f"{what} is {state}{', open' if r.open else ''}."


def run_resolve(args: argparse.Namespace) -> int:
    view = _with_context(
        args,
        lambda ctx, actor: recon.resolve(
            ctx,
            actor,
            args.line,
            link=args.link,
            accept=args.accept,
            investigate=args.investigate,
            note=args.note,
        ),
    )
    if args.json:
        print_json(view.as_json())
    else:
        say(_say(view))
    return 0


def run_reopen(args: argparse.Namespace) -> int:
    view = _with_context(
        args, lambda ctx, actor: recon.reopen(ctx, actor, args.line, note=args.note)
    )
    if args.json:
        print_json(view.as_json())
    else:
        say(_say(view))
    return 0


def run_show(args: argparse.Namespace) -> int:
    def work(ctx: Context, _actor: str) -> tuple[recon.LineView, list[recon.HistoryEntry]]:
        with ctx.db.read() as session:
            return recon.line(session, args.line), recon.history(session, args.line)

    view, events = _with_context(args, work)
    if args.json:
        print_json(
            view.as_json()
            | {
                "history": [
                    {
                        "at": e.at.isoformat(),
                        "actor": e.actor,
                        "action": e.action,
                        "details": e.details,
                    }
                    for e in events
                ]
            }
        )
        return 0
    say(_say(view))
    if view.matched_id:
        say(
            f"  matched {view.matched_type} {view.matched_id}: expected {view.money(view.expected)}"
        )
    if view.difference:
        say(f"  difference {view.money(view.difference)}")
    if view.resolution_note:
        say(f"  note: {view.resolution_note}")
    for e in events:
        say(f"  {e.at:%Y-%m-%d %H:%M:%S}  {e.actor:<16} {e.action}")
    return 0


def run_match(args: argparse.Namespace) -> int:
    count = _with_context(args, lambda ctx, actor: recon.match_again(ctx, actor, args.ids or None))
    if args.json:
        print_json({"lines": count})
    else:
        say(f"Matched {count:,} line{'s' if count != 1 else ''} again.")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from core.payments import export

    f = _filter(args)
    target = export.check_target(args.out)
    rows = _with_context(args, lambda ctx, _actor: recon.export_lines(ctx, f, target))
    say(f"Wrote {rows:,} settlement line{'s' if rows != 1 else ''} to {target}.")
    return 0
