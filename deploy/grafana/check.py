#!/usr/bin/env python3
"""Keeps deploy/grafana/instadash.json honest: every metric its queries use must really be exported.

    python3 deploy/grafana/check.py http://127.0.0.1:8080/metrics
    python3 deploy/grafana/check.py --names-file names.txt --rabbitmq http://127.0.0.1:15692/metrics/per-object

It parses the dashboard, takes the PromQL of every panel query (and of every template variable),
finds each metric selector in it and checks

  * each `instadash_*` metric against what the monitor exports: a live `/metrics` URL (the
    positional argument) or `--names-file`, a saved list (one name a line, optionally with its
    label names as `name{label,label}`; a saved `/metrics` text works too);
  * each `rabbitmq_*` metric against RabbitMQ's Prometheus plugin, if `--rabbitmq` is given. The
    dashboard reads the plugin's two endpoints, `/metrics` (node-wide, with the alarms) and
    `/metrics/per-object` (per queue), told apart by the `endpoint` label that
    deploy/prometheus/prometheus.yml puts on each (`aggregated` / `per-object`): so every
    `rabbitmq_*` selector must name its endpoint, and is checked against that endpoint. Both are
    read from the address `--rabbitmq` gives (either of the two URLs, or just http://host:port);
  * that the labels a selector matches on exist on that metric (where the source tells them),
    beside the `job` / `instance` / `endpoint` labels Prometheus adds;
  * that every `*_total` counter is read through rate(), irate() or increase();
  * that the dashboard's frame holds: its uid and title, the `DS_PROMETHEUS` datasource variable,
    every panel and query on `${DS_PROMETHEUS}`, unique panel ids, and no `$variable` used that is
    not defined.

With `--prometheus URL` each query (its variables filled in with match-everything values) is also
sent to that Prometheus, which rejects any that does not parse; queries that return nothing are
listed as notes, not failures.

Exits 0 when all holds, 1 naming each panel and what is wrong with it, 2 on a usage error or when
a source cannot be read. Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

DASHBOARD = Path(__file__).resolve().with_name("instadash.json")
DASHBOARD_UID = "instadash-platform"
DASHBOARD_TITLE = "Instadash platform"
DATASOURCE_VAR = "DS_PROMETHEUS"
DATASOURCE_REF = "${" + DATASOURCE_VAR + "}"

# Labels Prometheus adds to every series: the target's, plus `endpoint` from prometheus.yml.
TARGET_LABELS = {"job", "instance"}
RABBITMQ_ENDPOINTS = {"aggregated": "/metrics", "per-object": "/metrics/per-object"}

# Grafana's own variables (https://grafana.com/docs/grafana/latest/dashboards/variables/add-template-variables/#global-variables).
GRAFANA_BUILTINS = {
    "__interval", "__interval_ms", "__rate_interval", "__rate_interval_ms", "__range",
    "__range_s", "__range_ms", "__from", "__to", "__dashboard", "__org", "__user", "__name",
    "__timeFilter", "timeFilter", "__all_variables", "__url_time_range", "__auto", "interval",
}
# What each built-in stands for when a query is sent to Prometheus with --prometheus.
BUILTIN_VALUES = {
    "__interval": "15s", "__rate_interval": "1m", "__range": "1h", "__range_s": "3600",
    "__auto": "15s", "interval": "15s",
}

COUNTER_FUNCTIONS = {"rate", "irate", "increase", "resets"}
# Identifiers that are PromQL keywords, never metric names.
KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}
# Keywords followed by a parenthesised list of label names (group_left / group_right: optional).
LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
# Aggregations, which may take their `by (...)` / `without (...)` before their parentheses.
AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk",
    "topk", "quantile", "limitk", "limit_ratio",
}

VARIABLE_RE = re.compile(r"\$(\w+)|\$\{(\w+)(?:[:.][^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]")
METRIC_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_PAIR_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"')


class UsageError(Exception):
    """A problem with the arguments or a source that cannot be read: exit 2."""


# --- PromQL ----------------------------------------------------------------------------------


@dataclass
class Selector:
    """One metric selector in a query: `name{label op "value", ...}`."""

    name: str
    matchers: list[tuple[str, str, str]] = field(default_factory=list)
    # The innermost function or aggregation whose parentheses hold the selector ("" at the top).
    function: str = ""

    def matcher(self, label: str) -> tuple[str, str] | None:
        for name, op, value in self.matchers:
            if name == label:
                return op, value
        return None


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+|\#[^\n]*)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<var>\$\{[^}]*\}|\$\w+|\[\[[^\]]*\]\])
  | (?P<num>(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)[a-zA-Z0-9]*)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^=<>@(){}\[\],:])
    """,
    re.VERBOSE,
)


def _tokens(expr: str) -> list[tuple[str, str]]:
    out = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN_RE.match(expr, pos)
        if not m:
            raise ValueError(f"cannot read the query at {expr[pos:pos + 20]!r}")
        pos = m.end()
        if m.lastgroup != "ws":
            out.append((m.lastgroup, m.group()))
    return out


def _unquote(token: str) -> str:
    if token.startswith("`"):
        return token[1:-1]
    return re.sub(r"\\(.)", r"\1", token[1:-1])


def selectors(expr: str) -> list[Selector]:
    """The metric selectors of a PromQL expression (Grafana variables may stand anywhere)."""
    toks = _tokens(expr)
    found: list[Selector] = []
    parens: list[str] = []  # function name (or "") of each open parenthesis
    i = 0

    def skip_group(i: int, open_: str, close: str) -> int:
        """From toks[i] == open_, the index after its matching close."""
        depth = 0
        while i < len(toks):
            if toks[i][1] == open_:
                depth += 1
            elif toks[i][1] == close:
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        raise ValueError(f"unbalanced {open_!r}")

    def read_matchers(i: int, selector: Selector) -> int:
        """From toks[i] == "{", reads the matchers into selector; the index after "}"."""
        i += 1
        while i < len(toks) and toks[i][1] != "}":
            if toks[i][1] == ",":
                i += 1
                continue
            if i + 2 >= len(toks) or toks[i][0] != "ident" or toks[i + 1][0] != "op":
                raise ValueError(f"cannot read the label matcher at {toks[i][1]!r}")
            label, op, value = toks[i][1], toks[i + 1][1], toks[i + 2]
            if op not in ("=", "!=", "=~", "!~") or value[0] not in ("str", "var"):
                raise ValueError(f"cannot read the label matcher {label}{op}{value[1]}")
            selector.matchers.append((label, op, _unquote(value[1]) if value[0] == "str" else value[1]))
            i += 3
        if i >= len(toks):
            raise ValueError("unbalanced '{'")
        return i + 1

    while i < len(toks):
        kind, text = toks[i]
        nxt = toks[i + 1][1] if i + 1 < len(toks) else None
        if kind == "ident":
            if text in AGGREGATIONS and nxt in ("by", "without"):
                j = skip_group(i + 2, "(", ")") if i + 2 < len(toks) and toks[i + 2][1] == "(" else i + 2
                if j >= len(toks) or toks[j][1] != "(":
                    raise ValueError(f"{text} {nxt} (...) is not followed by its '('")
                parens.append(text)
                i = j + 1
            elif text in LABEL_LIST_KEYWORDS:
                i = skip_group(i + 1, "(", ")") if nxt == "(" else i + 1
            elif nxt == "(":
                parens.append(text)
                i += 2
            elif text.lower() in KEYWORDS:
                i += 1
            else:
                sel = Selector(text, function=parens[-1] if parens else "")
                i = read_matchers(i + 1, sel) if nxt == "{" else i + 1
                found.append(sel)
        elif text == "{":  # a selector without a name before the braces: {__name__="..."}
            sel = Selector("", function=parens[-1] if parens else "")
            i = read_matchers(i, sel)
            named = sel.matcher("__name__")
            if named is None or named[0] != "=":
                raise ValueError("a selector without a metric name (or with a __name__ regex) cannot be checked")
            sel.name = named[1]
            found.append(sel)
        elif text == "(":
            parens.append("")
            i += 1
        elif text == ")":
            if not parens:
                raise ValueError("unbalanced ')'")
            parens.pop()
            i += 1
        elif text == "[":
            i = skip_group(i, "[", "]")
        else:
            i += 1
    if parens:
        raise ValueError("unbalanced '('")
    return found


def variables_used(text: str) -> set[str]:
    names = set()
    for m in VARIABLE_RE.finditer(text):
        name = next(g for g in m.groups() if g)
        if not name.isdigit():  # $1 in label_replace() is a capture group, not a variable
            names.add(name)
    return names


# --- what the sources export -----------------------------------------------------------------


class Exported:
    """Metric names, each with its label names (None when the source does not tell them)."""

    def __init__(self, source: str):
        self.source = source
        self.labels: dict[str, set[str] | None] = {}

    def add(self, name: str, labels: set[str] | None) -> None:
        if name not in self.labels or self.labels[name] is None:
            self.labels[name] = None if labels is None else set(labels)
        elif labels is not None:
            self.labels[name] |= labels

    def close_to(self, name: str) -> list[str]:
        return difflib.get_close_matches(name, list(self.labels), n=3, cutoff=0.6)


def parse_names(text: str, source: str) -> Exported:
    """Prometheus text exposition, or a list of names (`name` or `name{label,label}`), or a mix."""
    out = Exported(source)
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = METRIC_NAME_RE.match(line)
        if not m:
            raise UsageError(f"{source}, line {number}: not a metric name: {raw!r}")
        name, rest = m.group(), line[m.end():].lstrip()
        labels: set[str] | None = None
        if rest.startswith("{"):
            end = rest.rfind("}")
            if end < 0:
                raise UsageError(f"{source}, line {number}: unclosed '{{': {raw!r}")
            inside = rest[1:end]
            if "=" in inside:  # a sample: {label="value",...}
                labels = {k for k, _ in LABEL_PAIR_RE.findall(inside)}
            else:  # a list of label names: {label,label}
                labels = {part.strip() for part in inside.split(",") if part.strip()}
        elif rest and not re.match(r"\S+(\s+\S+)?$", rest):
            raise UsageError(f"{source}, line {number}: not a metric name: {raw!r}")
        elif rest:  # a sample without labels: `name value [timestamp]`
            labels = set()
        out.add(name, labels)
    return out


def fetch(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            return response.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise UsageError(f"cannot read {url}: {getattr(e, 'reason', e)}") from e


def rabbitmq_urls(address: str) -> dict[str, str]:
    """The plugin's two endpoints, from either of their URLs or its bare http://host:port."""
    parts = urllib.parse.urlsplit(address)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"--rabbitmq: not an http(s) URL: {address!r}")
    path = parts.path.rstrip("/")
    for suffix in ("/metrics/per-object", "/metrics/detailed", "/metrics"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return {
        endpoint: urllib.parse.urlunsplit((parts.scheme, parts.netloc, path + p, "", ""))
        for endpoint, p in RABBITMQ_ENDPOINTS.items()
    }


# --- the dashboard ---------------------------------------------------------------------------


@dataclass
class Query:
    where: str  # e.g. 'panel "Messages/s" (id 12, row "Messages"), query A'
    expr: str
    labels_only: bool = False  # a variable's label_values(): reads labels, not values


def panels(dashboard: dict) -> list[tuple[dict, str]]:
    """Every panel that is not a row, with the title of the row it is under."""
    out = []
    row = ""
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            row = panel.get("title", "")
            out.extend((p, row) for p in panel.get("panels", []))
        else:
            out.append((panel, row))
    return out


def describe(panel: dict, row: str) -> str:
    where = f'panel "{panel.get("title", "")}" (id {panel.get("id")}'
    return where + (f', row "{row}")' if row else ")")


def label_values_query(query: str) -> str | None:
    """The PromQL inside a Prometheus variable query, or None if it has none."""
    q = query.strip()
    for fn in ("label_values", "query_result"):
        if q.startswith(fn + "(") and q.endswith(")"):
            inner = q[len(fn) + 1 : -1].strip()
            if fn == "label_values":
                if "," not in inner:
                    return None  # label_values(label): no metric
                inner, label = inner.rsplit(",", 1)
                return f"count by ({label.strip()}) ({inner.strip()})"
            return inner
    return None


def check_frame(dashboard: dict, problems: list[str]) -> tuple[list[Query], set[str]]:
    """Checks the dashboard's frame; returns its queries and its variables' names."""
    if dashboard.get("uid") != DASHBOARD_UID:
        problems.append(f"the dashboard's uid is {dashboard.get('uid')!r}, not {DASHBOARD_UID!r}")
    if dashboard.get("title") != DASHBOARD_TITLE:
        problems.append(f"the dashboard's title is {dashboard.get('title')!r}, not {DASHBOARD_TITLE!r}")

    variables = dashboard.get("templating", {}).get("list", [])
    defined = {v.get("name") for v in variables}
    ds_var = [v for v in variables if v.get("name") == DATASOURCE_VAR]
    if not ds_var or ds_var[0].get("type") != "datasource" or ds_var[0].get("query") != "prometheus":
        problems.append(f"no Prometheus datasource variable {DATASOURCE_VAR} (type datasource, query prometheus)")

    queries: list[Query] = []
    for v in variables:
        if v.get("type") != "query":
            continue
        where = f'template variable "{v.get("name")}"'
        if (v.get("datasource") or {}).get("uid") != DATASOURCE_REF:
            problems.append(f"{where}: its datasource is not {DATASOURCE_REF}")
        q = v.get("query")
        text = q.get("query", "") if isinstance(q, dict) else (q or "")
        if v.get("definition") not in (None, "", text):
            problems.append(f"{where}: its definition {v.get('definition')!r} differs from its query {text!r}")
        promql = label_values_query(text)
        if promql:
            queries.append(Query(where, promql, labels_only=text.strip().startswith("label_values")))

    seen_ids: dict[object, str] = {}
    for panel, row in panels(dashboard):
        where = describe(panel, row)
        pid = panel.get("id")
        if pid is None:
            problems.append(f"{where}: no id")
        elif pid in seen_ids:
            problems.append(f"{where}: id {pid} is also {seen_ids[pid]}'s")
        else:
            seen_ids[pid] = where
        if (panel.get("datasource") or {}).get("uid") != DATASOURCE_REF:
            problems.append(f"{where}: its datasource is not {DATASOURCE_REF}")
        targets = panel.get("targets") or []
        if not targets and panel.get("type") not in ("text", "news", "dashlist"):
            problems.append(f"{where}: no queries")
        refs = set()
        for t in targets:
            ref = t.get("refId", "?")
            if ref in refs:
                problems.append(f"{where}: two queries are called {ref}")
            refs.add(ref)
            twhere = f"{where}, query {ref}"
            if (t.get("datasource") or {}).get("uid") != DATASOURCE_REF:
                problems.append(f"{twhere}: its datasource is not {DATASOURCE_REF}")
            expr = (t.get("expr") or "").strip()
            if not expr:
                problems.append(f"{twhere}: no PromQL expr")
                continue
            queries.append(Query(twhere, expr))

    for q in queries:
        for name in sorted(variables_used(q.expr) - defined - GRAFANA_BUILTINS):
            problems.append(f"{q.where}: uses ${name}, which is no variable of the dashboard")
    return queries, defined


def check_metrics(
    queries: list[Query],
    monitor: Exported,
    rabbitmq: dict[str, Exported] | None,
    problems: list[str],
) -> int:
    """Checks every selector of every query; returns how many selectors it looked at."""
    count = 0
    for q in queries:
        try:
            sels = selectors(q.expr)
        except ValueError as e:
            problems.append(f"{q.where}: cannot read its PromQL ({e}): {q.expr}")
            continue
        if not sels:
            problems.append(f"{q.where}: no metric in its PromQL: {q.expr}")
        for s in sels:
            count += 1
            if s.name.endswith("_total") and s.function not in COUNTER_FUNCTIONS and not q.labels_only:
                how = f"inside {s.function}()" if s.function else "bare"
                problems.append(
                    f"{q.where}: counter {s.name} is read {how}; read it through rate(), irate() or increase()"
                )
            if s.name.startswith("instadash_"):
                check_selector(q, s, monitor, TARGET_LABELS, problems)
            elif s.name.startswith("rabbitmq_"):
                endpoint = s.matcher("endpoint")
                if endpoint is None or endpoint[0] != "=" or endpoint[1] not in RABBITMQ_ENDPOINTS:
                    problems.append(
                        f'{q.where}: {s.name} must pick one of the plugin\'s endpoints with '
                        f'endpoint="aggregated" (/metrics) or endpoint="per-object" (/metrics/per-object): '
                        "prometheus.yml scrapes both"
                    )
                elif rabbitmq is not None:
                    check_selector(q, s, rabbitmq[endpoint[1]], TARGET_LABELS | {"endpoint"}, problems)
            else:
                problems.append(
                    f"{q.where}: metric {s.name} is neither instadash_* (the monitor's) nor rabbitmq_* "
                    "(RabbitMQ's plugin): nothing this dashboard scrapes exports it"
                )
    return count


def check_selector(q: Query, s: Selector, source: Exported, extra: set[str], problems: list[str]) -> None:
    if s.name not in source.labels:
        hint = source.close_to(s.name)
        problems.append(
            f"{q.where}: unknown metric {s.name}: {source.source} does not export it"
            + (f" (did you mean {', '.join(hint)}?)" if hint else "")
        )
        return
    labels = source.labels[s.name]
    if labels is None:
        return
    for label, _, _ in s.matchers:
        if label != "__name__" and label not in labels | extra:
            have = ", ".join(sorted(labels)) or "none"
            problems.append(
                f"{q.where}: {s.name} has no label {label!r} in {source.source} (its labels: {have})"
            )


def substitute(expr: str, variables: list[dict]) -> str:
    """The query with its variables filled in, as Grafana would with everything selected."""
    values = dict(BUILTIN_VALUES)
    for v in variables:
        name = v.get("name")
        if v.get("type") == "datasource":
            continue
        current = (v.get("current") or {}).get("value")
        if isinstance(current, list):
            current = current[0] if current else None
        if current in (None, "", "$__all") or v.get("includeAll"):
            current = v.get("allValue") or ".*"
        values[name] = current

    def one(m: re.Match) -> str:
        name = next(g for g in m.groups() if g)
        return values.get(name, m.group())

    return VARIABLE_RE.sub(one, expr)


def check_with_prometheus(url: str, queries: list[Query], variables: list[dict], problems: list[str]) -> list[str]:
    """Sends every query to Prometheus: one that does not parse is a problem, one without data a note."""
    notes = []
    base = url.rstrip("/")
    for q in queries:
        expr = substitute(q.expr, variables)
        request = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                body = json.load(response)
        except urllib.error.HTTPError as e:
            try:
                body = json.load(e)
            except ValueError:
                raise UsageError(f"--prometheus: {request}: HTTP {e.code}") from e
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise UsageError(f"--prometheus: cannot query {base}: {getattr(e, 'reason', e)}") from e
        if body.get("status") != "success":
            problems.append(f"{q.where}: Prometheus rejects it ({body.get('error')}): {expr}")
        elif not body.get("data", {}).get("result"):
            notes.append(f"{q.where}: no data now: {expr}")
    return notes


# --- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Checks that every metric deploy/grafana/instadash.json queries is exported "
        "by the Instadash monitor (instadash_*) and RabbitMQ's Prometheus plugin (rabbitmq_*).",
    )
    parser.add_argument("metrics_url", nargs="?", help="the monitor's live /metrics, e.g. http://127.0.0.1:8080/metrics")
    parser.add_argument(
        "--names-file",
        type=Path,
        help="instead of a live URL: the monitor's metric names, one a line (`name` or "
        "`name{label,label}`; a saved /metrics text works too)",
    )
    parser.add_argument(
        "--rabbitmq",
        metavar="URL",
        help="RabbitMQ's Prometheus plugin, e.g. http://127.0.0.1:15692/metrics/per-object: both "
        "its /metrics and /metrics/per-object are read (rabbitmq_* names are not checked without it)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="re-read the live /metrics URL once a second, for up to this long, until it exports "
        "every instadash_* metric the dashboard uses (the monitor exports a metric only once it "
        "has recorded a value for it)",
    )
    parser.add_argument("--dashboard", type=Path, default=DASHBOARD, help=f"default: {DASHBOARD}")
    parser.add_argument(
        "--prometheus",
        metavar="URL",
        help="also send every query to this Prometheus (e.g. http://127.0.0.1:9090), which rejects "
        "those that do not parse",
    )
    args = parser.parse_args(argv)
    if (args.metrics_url is None) == (args.names_file is None):
        parser.error("give the monitor's /metrics URL or --names-file (one of the two)")

    try:
        try:
            dashboard = json.loads(args.dashboard.read_text(encoding="utf-8"))
        except OSError as e:
            raise UsageError(f"cannot read {args.dashboard}: {e.strerror}") from e
        except json.JSONDecodeError as e:
            print(f"check: FAIL: {args.dashboard} is not JSON: {e}", file=sys.stderr)
            return 1

        problems: list[str] = []
        queries, _ = check_frame(dashboard, problems)

        rabbitmq = None
        if args.rabbitmq:
            rabbitmq = {e: parse_names(fetch(u), u) for e, u in rabbitmq_urls(args.rabbitmq).items()}

        if args.names_file:
            try:
                text = args.names_file.read_text(encoding="utf-8")
            except OSError as e:
                raise UsageError(f"cannot read {args.names_file}: {e.strerror}") from e
            monitor = parse_names(text, str(args.names_file))
        else:
            wanted = set()
            for q in queries:
                try:
                    wanted |= {s.name for s in selectors(q.expr) if s.name.startswith("instadash_")}
                except ValueError:
                    pass  # reported by check_metrics
            deadline = time.monotonic() + args.wait
            while True:
                monitor = parse_names(fetch(args.metrics_url), args.metrics_url)
                if wanted <= set(monitor.labels) or time.monotonic() >= deadline:
                    break
                time.sleep(1)

        count = check_metrics(queries, monitor, rabbitmq, problems)
        notes = check_with_prometheus(args.prometheus, queries, dashboard.get("templating", {}).get("list", []), problems) if args.prometheus else []
    except UsageError as e:
        print(f"check: error: {e}", file=sys.stderr)
        return 2

    for note in notes:
        print(f"check: note: {note}")
    n_panels = len(panels(dashboard))
    if problems:
        for p in problems:
            print(f"check: FAIL: {args.dashboard.name}: {p}", file=sys.stderr)
        print(f"check: {len(problems)} problem(s) in {n_panels} panels, {len(queries)} queries", file=sys.stderr)
        return 1
    checked = "instadash_* and rabbitmq_*" if rabbitmq is not None else "instadash_* (rabbitmq_* not checked: no --rabbitmq)"
    print(f"check: OK: {n_panels} panels, {len(queries)} queries, {count} metric selectors; {checked} names known")
    return 0


if __name__ == "__main__":
    sys.exit(main())
