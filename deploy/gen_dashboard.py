#!/usr/bin/env python3
"""Writes deploy/grafana-dashboard.json (the panels over the metrics `GET /metrics` exports).
Edit the panels here, run `python3 deploy/gen_dashboard.py`, commit both."""
import json

DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
SEL = 'instance=~"$instance"'
RI = "$__rate_interval"
panels, next_id, y = [], [1], [0]


def pid():
    next_id[0] += 1
    return next_id[0] - 1


def row(title):
    panels.append({"type": "row", "title": title, "collapsed": False, "id": pid(),
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": y[0]}, "panels": []})
    y[0] += 1


def target(expr, legend, ref):
    return {"refId": ref, "datasource": DS, "editorMode": "code", "range": True, "expr": expr,
            "legendFormat": legend}


def timeseries(title, desc, unit, queries, x, w=12, h=8, stack=False, min0=True):
    defaults = {"unit": unit, "custom": {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
                                         "showPoints": "never", "spanNulls": False,
                                         "stacking": {"mode": "normal" if stack else "none", "group": "A"}}}
    if min0:
        defaults["min"] = 0
    panels.append({
        "type": "timeseries", "title": title, "description": desc, "datasource": DS, "id": pid(),
        "gridPos": {"h": h, "w": w, "x": x, "y": y[0]},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom", "showLegend": True,
                               "calcs": ["mean", "max", "lastNotNull"]},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
        "targets": [target(e, l, chr(65 + i)) for i, (e, l) in enumerate(queries)],
    })


def stat(title, desc, unit, expr, x, thresholds=None):
    steps = [{"color": "green", "value": None}] + [{"color": c, "value": v} for v, c in (thresholds or [])]
    panels.append({
        "type": "stat", "title": title, "description": desc, "datasource": DS, "id": pid(),
        "gridPos": {"h": 4, "w": 6, "x": x, "y": y[0]},
        "fieldConfig": {"defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}},
                        "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "value", "graphMode": "area", "textMode": "auto", "justifyMode": "auto",
                    "orientation": "auto"},
        "targets": [target(expr, "", "A")],
    })


def quantiles(metric, by="", qs=(0.5, 0.99, 0.999)):
    """histogram_quantile over 5 m of buckets: a p999 needs thousands of samples to mean anything."""
    group = f"le, {by}" if by else "le"
    return [(f'histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{{{SEL}}}[5m])))',
             (f"{{{{{by}}}}} " if by else "") + f"p{str(q)[2:].ljust(2, '0')}") for q in qs]


def mean(metric, window=RI):
    return (f'sum(rate({metric}_sum{{{SEL}}}[{window}])) / sum(rate({metric}_count{{{SEL}}}[{window}]))', "mean")


# ---- overview
stat("Commands/s", "Commands committed per second, every kind.", "ops",
     f'sum(rate(kassa_commands_total{{{SEL}}}[{RI}]))', 0)
stat("Rejected", "Share of committed commands rejected (any code).", "percentunit",
     f'sum(rate(kassa_outcomes_total{{{SEL},result!="applied"}}[{RI}])) / sum(rate(kassa_outcomes_total{{{SEL}}}[{RI}]))',
     6, [(0.05, "orange"), (0.2, "red")])
stat("Busy/s", "Requests refused Busy (mailbox full): HTTP 503, ISO 8583 96, TCP Busy.", "ops",
     f'sum(rate(kassa_busy_total{{{SEL}}}[{RI}]))', 12, [(0.01, "orange"), (1, "red")])
stat("Commit p99", "99th percentile of one batch's commit time, over 5 m.", "s",
     f'histogram_quantile(0.99, sum by (le) (rate(kassa_commit_seconds_bucket{{{SEL}}}[5m])))', 18,
     [(0.005, "orange"), (0.05, "red")])
y[0] += 4

# ---- engine
row("Engine")
timeseries("Commands/s by kind", "kassa_commands_total: commands committed, by kind (ticks included).", "ops",
           [(f'sum by (kind) (rate(kassa_commands_total{{{SEL}}}[{RI}]))', "{{kind}}")], 0, stack=True)
timeseries("Rejections/s by code", "kassa_outcomes_total without result=\"applied\": rejections by code.", "ops",
           [(f'sum by (result) (rate(kassa_outcomes_total{{{SEL},result!="applied"}}[{RI}]))', "{{result}}")],
           12, stack=True)
y[0] += 8
timeseries("Commit latency", "kassa_commit_seconds: time the executor took to commit one batch "
           "(histogram_quantile over 5 m of buckets).", "s", quantiles("kassa_commit_seconds"), 0)
timeseries("fsync latency", "kassa_fsync_seconds: one synced write of the log (group commit).", "s",
           quantiles("kassa_fsync_seconds"), 12)
y[0] += 8
timeseries("Group commit", "Batches made durable per fsync (kassa_records_per_fsync) and commands per "
           "batch (kassa_batch_size): higher means more work shares each fsync.", "short",
           [(mean("kassa_records_per_fsync")[0], "records/fsync mean"),
            (quantiles("kassa_records_per_fsync", qs=(0.99,))[0][0], "records/fsync p99"),
            (mean("kassa_batch_size")[0], "commands/batch mean")], 0, w=8)
timeseries("Mailbox depth", "kassa_mailbox_depth: requests waiting for the engine; Busy starts at "
           "--mailbox-max (default 4096).", "short",
           [(f'max by (instance) (kassa_mailbox_depth{{{SEL}}})', "{{instance}}")], 8, w=8)
timeseries("Busy/s", "kassa_busy_total: requests refused at once because the mailbox was full.", "ops",
           [(f'sum by (instance) (rate(kassa_busy_total{{{SEL}}}[{RI}]))', "{{instance}}")], 16, w=8)
y[0] += 8

# ---- HTTP
row("HTTP")
timeseries("HTTP requests/s by route and status", "kassa_http_requests_total, by route pattern and status.",
           "reqps", [(f'sum by (route, status) (rate(kassa_http_requests_total{{{SEL}}}[{RI}]))',
                      "{{route}} {{status}}")], 0, stack=True)
timeseries("HTTP p99 latency by route", "kassa_http_request_duration_seconds: arrival to answer, "
           "p99 over 5 m, by route pattern.", "s", quantiles("kassa_http_request_duration_seconds", "route", (0.99,)), 12)
y[0] += 8

# ---- sockets and refusals
row("TCP, ISO 8583 and refusals")
timeseries("TCP connections/s", "kassa_tcp_connections_total (accepted) and kassa_tcp_refused_total "
           "(over --max-connections, or refused at the protocol), by reason.", "cps",
           [(f'sum(rate(kassa_tcp_connections_total{{{SEL}}}[{RI}]))', "accepted"),
            (f'sum by (reason) (rate(kassa_tcp_refused_total{{{SEL}}}[{RI}]))', "refused {{reason}}")], 0, w=8)
timeseries("ISO 8583 responses/s by code", "kassa_iso8583_responses_total, by response MTI and field 39 "
           "(00 approved, 96 Busy / system error, ...).", "ops",
           [(f'sum by (mti, code) (rate(kassa_iso8583_responses_total{{{SEL}}}[{RI}]))', "{{mti}} {{code}}")],
           8, w=8, stack=True)
timeseries("Refusals/s", "Requests refused before the engine: bad or missing API key (HTTP), ISO 8583 "
           "messages with a bad MAC or that did not decode.", "ops",
           [(f'sum(rate(kassa_http_unauthorized_total{{{SEL}}}[{RI}]))', "HTTP unauthorized"),
            (f'sum(rate(kassa_iso8583_bad_mac_total{{{SEL}}}[{RI}]))', "ISO 8583 bad MAC"),
            (f'sum(rate(kassa_iso8583_malformed_total{{{SEL}}}[{RI}]))', "ISO 8583 malformed")], 16, w=8)
y[0] += 8

# ---- snapshots
row("Snapshots")
timeseries("Snapshots written (per 15 m)", "kassa_snapshots_total: snapshots written in the last 15 minutes.",
           "short", [(f'sum by (instance) (increase(kassa_snapshots_total{{{SEL}}}[15m]))', "{{instance}}")], 0)
timeseries("Snapshot duration (mean over 15 m)", "kassa_snapshot_encode_seconds (encode one partition) and "
           "kassa_snapshot_write_seconds (encode and write one snapshot). Snapshots are rare: means over "
           "15 m rather than quantiles.", "s",
           [(mean("kassa_snapshot_encode_seconds", "15m")[0], "encode"),
            (mean("kassa_snapshot_write_seconds", "15m")[0], "write")], 12)
y[0] += 8

dashboard = {
    "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "description": "Prometheus scraping kassa's GET /metrics",
                  "type": "datasource", "pluginId": "prometheus", "pluginName": "Prometheus"}],
    "__requires": [
        {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.0.0"},
        {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
        {"type": "panel", "id": "timeseries", "name": "Time series", "version": ""},
        {"type": "panel", "id": "stat", "name": "Stat", "version": ""},
    ],
    "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                              "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                              "name": "Annotations & Alerts", "type": "dashboard"}]},
    "description": "kassa serve: engine throughput, rejections, commit and fsync latency, HTTP, TCP, ISO 8583, snapshots.",
    "editable": True,
    "fiscalYearStartMonth": 0,
    "graphTooltip": 1,
    "id": None,
    "links": [],
    "panels": panels,
    "refresh": "30s",
    "schemaVersion": 39,
    "tags": ["kassa"],
    "templating": {"list": [{
        "name": "instance", "label": "Instance", "type": "query", "datasource": DS,
        "definition": "label_values(kassa_commands_total, instance)",
        "query": {"query": "label_values(kassa_commands_total, instance)", "refId": "InstanceQuery"},
        "refresh": 2, "includeAll": True, "multi": True, "allValue": ".*", "sort": 1,
        "current": {}, "options": [], "hide": 0, "regex": "", "skipUrlSync": False,
    }]},
    "time": {"from": "now-1h", "to": "now"},
    "timepicker": {},
    "timezone": "",
    "title": "kassa",
    "uid": "kassa-overview",
    "version": 1,
    "weekStart": "",
}
import pathlib

with open(pathlib.Path(__file__).with_name("grafana-dashboard.json"), "w") as out:
    json.dump(dashboard, out, indent=2)
    out.write("\n")
