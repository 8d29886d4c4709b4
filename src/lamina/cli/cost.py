"""`lamina cost`: the estimated AWS Lambda bill of the invocations so far, from `/system/cost`."""

from __future__ import annotations

import argparse
import datetime
import json
import urllib.error
import urllib.request

from rich.table import Table

from lamina.cli.common import (
    _endpoint,
    _open,
    _say,
    console,
)


def _money(value: float) -> str:
    return f"${value:,.8f}"


def _price(value: float) -> str:
    return "$" + f"{value:.10f}".rstrip("0").rstrip(".")


def cost_table(report: dict) -> Table:
    since = report.get("since")
    when = (datetime.datetime.fromtimestamp(since).strftime("%Y-%m-%d %H:%M") if since else "the start")
    prices = report["prices"]
    per_gb_second = prices["per_gb_second"]
    caption = (f"Prices ({prices['source']}): x86_64 {_price(per_gb_second['x86_64'])}/GB-s, "
               f"arm64 {_price(per_gb_second['arm64'])}/GB-s, ${prices['per_request'] * 1e6:.2f} per 1M "
               f"requests. {report['free_tier']['note']}")
    table = Table(title=f"Estimated AWS Lambda cost since {when}", title_justify="left", show_footer=True,
                  caption=caption, caption_justify="left")
    totals = report["totals"]
    table.add_column("Function", footer="Total")
    table.add_column("Arch")
    table.add_column("Requests", justify="right", footer=f"{totals['requests']:,}")
    table.add_column("GB-seconds", justify="right", footer=f"{totals['gb_seconds']:,.3f}")
    table.add_column("Duration $", justify="right", footer=_money(totals["duration_cost"]))
    table.add_column("Requests $", justify="right", footer=_money(totals["request_cost"]))
    table.add_column("Total $", justify="right", footer=_money(totals["total"]))
    for entry in report["functions"]:
        table.add_row(entry["function"], entry["architecture"], f"{entry['requests']:,}",
                      f"{entry['gb_seconds']:,.3f}", _money(entry["duration_cost"]),
                      _money(entry["request_cost"]), _money(entry["total"]))
    return table


def cost(args: argparse.Namespace) -> int:
    url = _endpoint(args) + "/system/cost" + (f"?minutes={args.minutes}" if args.minutes else "")
    try:
        with _open(args, "GET", url) as response:
            report = json.loads(response.read())
    except urllib.error.HTTPError as error:
        _say(f"{url} answered {error.code}: {error.read().decode(errors='replace')}", "red")
        return 1
    except (urllib.error.URLError, OSError, ValueError) as error:
        _say(f"cannot read {url}: {getattr(error, 'reason', error)}", "red")
        return 1
    if args.json:
        print(json.dumps(report, indent=2))
    elif not report["functions"]:
        console.print("No invocations recorded yet.")
        console.print(report["free_tier"]["note"])
    else:
        console.print(cost_table(report))
    return 0


