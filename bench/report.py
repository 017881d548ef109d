"""Reporting: the markdown tables and ratios it prints, results.json / transports.json, the plots."""

import json
import statistics

from bench.common import RESULTS, SUBSCRIBERS
from bench.loadgen import LOADGEN_CORE_LIMIT, comparable, loadgen_core


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _loadgen(result: dict) -> str:
    """The load generator's share of a core while it sent; a step past the limit is not comparable."""
    shown = f"{100 * loadgen_core(result):.0f}% of a core"
    return shown if comparable(result) else f"{shown} **(not comparable: over {LOADGEN_CORE_LIMIT:.0%})**"


def report_transports(rows: dict[str, list[dict]]) -> None:
    print()
    print(
        "| subscribers on | offered msg/s, step | deliveries/s received | p50 | p99 | lost | stale, duplicate "
        "| server CPU per delivery | load generator CPU | other CPU on the machine | SockJS streams, xhr_send |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for transport, results in rows.items():
        for r in results:
            sockjs = r.get("sockjs")
            requests = f"{sockjs['streams']}, {sockjs['xhr_sends']}" if sockjs and sockjs["streams"] else "-"
            if sockjs and sockjs["failures"]:
                requests += f" (failed: {', '.join(sorted(set(sockjs['failures'])))})"
            print(
                f"| {transport} | {r['rate']}, {r['duration']:g} s | {r['deliveries_per_s']:,.0f} | {_ms(r['p50'])} | {_ms(r['p99'])} "
                f"| {100 * r['lost'] / max(1, r['expected']):.1f}% | {r['stale']}, {r['duplicates']} "
                f"| {1e6 * sending_cpu(r) / max(1, r['received']):.0f} us "
                f"| {_loadgen(r)} | {r['other_cpu']:.1f} s | {requests} |"
            )
    if "ws" in rows:
        print()
        base = {(r["rate"], r["duration"]): r for r in rows["ws"]}

        def per_delivery(results: list[dict], key) -> float:
            used = sum(key(r) if callable(key) else r[key] for r in results)
            return used / max(1, sum(r["received"] for r in results))

        for transport, results in rows.items():
            pairs = [
                (r, base[r["rate"], r["duration"]]) for r in results if (r["rate"], r["duration"]) in base
            ]
            if transport == "ws" or not pairs:
                continue
            for r, ws in pairs:
                cpu = per_delivery([r], sending_cpu) / per_delivery([ws], sending_cpu)
                p50 = f"{r['p50'] / ws['p50']:.2f}x" if r["p50"] and ws["p50"] else "-"
                p99 = f"{r['p99'] / ws['p99']:.2f}x" if r["p99"] and ws["p99"] else "-"
                print(
                    f"{transport} / ws at {r['rate']} msg/s for {r['duration']:g} s: server CPU per delivery "
                    f"{cpu:.2f}x, p50 {p50}, p99 {p99}, deliveries/s {r['received'] / max(1, ws['received']):.2f}x"
                )
            # Per delivery over the short steps from 10 msg/s on, where connection set-up is amortized.
            mine = [r for r, _ in pairs if r["rate"] >= 10 and r["duration"] == results[0]["duration"]]
            theirs = [ws for r, ws in pairs if r in mine]
            if mine:
                server = per_delivery(mine, sending_cpu) / per_delivery(theirs, sending_cpu)
                client = per_delivery(mine, "loadgen_cpu") / per_delivery(theirs, "loadgen_cpu")
                print(
                    f"{transport} / ws over the short steps from 10 msg/s: server CPU per delivery {server:.2f}x, "
                    f"load generator CPU per delivery {client:.2f}x"
                )
    (RESULTS / "transports.json").write_text(json.dumps(rows, indent=2))
    plot_transports(rows)


def plot_transports(rows: dict[str, list[dict]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 5))
    for transport, results in rows.items():
        # The rate steps only (the long step would fold the line back).
        points = [r for r in results if r["p99"] is not None and r["duration"] == results[0]["duration"]]
        x = [r["deliveries_per_s"] for r in points]
        (line,) = axis.plot(x, [r["p99"] for r in points], marker="o", label=f"{transport} p99")
        axis.plot(
            x, [r["p50"] for r in points], linestyle="--", color=line.get_color(), label=f"{transport} p50"
        )
    axis.axhline(100, color="grey", linewidth=0.8)
    axis.set_xlabel(f"deliveries per second received ({SUBSCRIBERS} subscribers over 2 nodes)")
    axis.set_ylabel("latency (ms)")
    axis.set_yscale("log")
    axis.legend()
    axis.set_title("Fan-out latency by subscriber transport (our server)")
    figure.tight_layout()
    figure.savefig(RESULTS / "transports.png", dpi=110)
    print(f"plot: {RESULTS / 'transports.png'}")


def sending_cpu(result: dict) -> float:
    """The servers' CPU seconds while the load generator sent and drained (whole step if unknown)."""
    return result.get("server_cpu_sending", result["server_cpu"])


def changes_figures(plain: dict, mixed: dict) -> dict:
    """Changes against plain sends, from a plain many-rooms run and one with 1 in 5 sends a change.

    CPU: the servers' CPU per delivery over the whole mixed run (sends and changes together, the
    figure printed before 2026-11-29), and per delivered change alone: the mixed run's CPU less its
    sends' deliveries at the plain run's cost each, over the changes' deliveries (noisier: the
    difference of two runs' figures, over a fifth of the deliveries). Latency: the changes' own p99
    in the mixed run, against the plain run's p99 (every delivery a send, measured the same way),
    and against the p99 of the mixed run's own sends (the same moment, the same load on the machine).
    """
    per_send = sending_cpu(plain) / max(1, plain["received"])
    blended = sending_cpu(mixed) / max(1, mixed["received"])
    figures = {"cpu_per_delivery_us": 1e6 * blended, "cpu_per_delivery_ratio": blended / per_send}
    changes, sends = mixed.get("changes"), mixed.get("sends")
    if changes and changes["received"] and plain["p99"]:
        per_change = (sending_cpu(mixed) - sends["received"] * per_send) / changes["received"]
        figures.update(
            cpu_per_change_us=1e6 * per_change,
            cpu_per_change_ratio=per_change / per_send,
            change_p50=changes["p50"],
            change_p99=changes["p99"],
            change_p99_ratio=changes["p99"] / plain["p99"],
            send_p99_in_mix=sends["p99"],
            change_p99_against_sends_in_mix=changes["p99"] / sends["p99"],
        )
    return figures


def changes_line(plain: dict, mixed: dict) -> str:
    """One line: the mixed many-rooms run against the plain one."""
    figures = changes_figures(plain, mixed)
    lost = 100 * mixed["lost"] / max(1, mixed["expected"])
    if not (mixed["p99"] and plain["p99"]):
        return (
            f"many rooms with 1 in 5 sends an edit or a reaction (ours): nothing received ({lost:.1f}% lost)"
        )
    plain_lost = 100 * plain["lost"] / max(1, plain["expected"])
    line = (
        f"many rooms with 1 in 5 sends an edit or a reaction (ours): p50 {mixed['p50']:.1f} ms, "
        f"p99 {mixed['p99']:.1f} ms, lost {lost:.1f}%; against plain sends (p99 {plain['p99']:.1f} ms, "
        f"lost {plain_lost:.1f}%, {1e6 * sending_cpu(plain) / max(1, plain['received']):.0f} us per delivery): "
        f"p99 of all deliveries {mixed['p99'] / plain['p99']:.2f}x, "
        f"server CPU per delivery {figures['cpu_per_delivery_us']:.0f} us ({figures['cpu_per_delivery_ratio']:.2f}x)"
    )
    if "cpu_per_change_us" in figures:
        line += (
            f"; changes alone ({mixed['changes']['received']} deliveries): p50 {figures['change_p50']:.1f} ms, "
            f"p99 {figures['change_p99']:.1f} ms ({figures['change_p99_ratio']:.2f}x; "
            f"{figures['change_p99_against_sends_in_mix']:.2f}x the p99 of this run's sends, "
            f"{figures['send_p99_in_mix']:.1f} ms), "
            f"server CPU per delivered change {figures['cpu_per_change_us']:.0f} us "
            f"({figures['cpu_per_change_ratio']:.2f}x)"
        )
    for name, run in (("plain", plain), ("mixed", mixed)):
        if run.get("errors"):
            line += f" (refused in the {name} run: {run['errors']})"
    return line


def _cpu_per_delivery_at_50(data: dict) -> float | None:
    fifty = {r["rate"]: r for r in data["fanout"]}.get(50)
    return sending_cpu(fifty) / fifty["received"] if fifty and fifty["received"] else None


def _p50_at_1(data: dict) -> float | None:
    one = {r["rate"]: r for r in data["fanout"]}.get(1)
    return one["p50"] if one else None


def _ratio(ours: dict, theirs: dict, measure) -> str:
    mine, other = measure(ours), measure(theirs)
    return f"{mine / other:.2f}x" if mine and other else "-"


def report(results: dict[str, dict]) -> None:
    print()
    print(
        "| design | capacity (deliveries/s, p99 < 100 ms, 0 lost) | p50 at 1 msg/s | at 50 msg/s: got/s, p99, lost | server CPU per delivery at 50 msg/s (whole step with connecting) | load generator CPU at 50 msg/s |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for design, data in results.items():
        rows = {r["rate"]: r for r in data["fanout"]}
        one, fifty = rows.get(1), rows.get(50)
        p50 = f"{one['p50']:.1f} ms" if one and one["p50"] is not None else "-"
        if fifty:
            at50 = f"{fifty['deliveries_per_s']:.0f}/s, {fifty['p99']:.0f} ms, {100 * fifty['lost'] / max(1, fifty['expected']):.1f}%"
            received = max(1, fifty["received"])
            cpu = f"{1e6 * sending_cpu(fifty) / received:.0f} us ({1e6 * fifty['server_cpu'] / received:.0f} us)"
            loadgen = _loadgen(fifty)
        else:
            at50 = cpu = loadgen = "-"
        shown = f"{data['capacity']:.0f}"
        if data["capacity_any_step"] != data["capacity"]:
            shown += f" (highest step met, whatever the others did: {data['capacity_any_step']:.0f})"
        print(f"| {design} | {shown} | {p50} | {at50} | {cpu} | {loadgen} |")
    print()
    print(
        "Every fan-out step (server CPU per delivery over the sending phase; the load generator's share of a core):"
    )
    print()
    print("| design | msg/s | p50 | p99 | lost | server CPU per delivery | load generator |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for design, data in results.items():
        for r in data["fanout"]:
            print(
                f"| {design} | {r['rate']} | {_ms(r['p50'])} | {_ms(r['p99'])} "
                f"| {100 * r['lost'] / max(1, r['expected']):.1f}% "
                f"| {1e6 * sending_cpu(r) / max(1, r['received']):.0f} us | {_loadgen(r)} |"
            )
    print()
    print("| design | many rooms (100 x 2, 800 deliveries/s): p50, p99, lost | load generator |")
    print("| --- | --- | --- |")
    for design, data in results.items():
        rooms = data["many_rooms"]
        lost = 100 * rooms["lost"] / max(1, rooms["expected"])
        print(f"| {design} | {rooms['p50']:.1f} ms, {rooms['p99']:.1f} ms, {lost:.1f}% | {_loadgen(rooms)} |")
    if "ours" in results:
        print()
        ours = results["ours"]
        for design, data in results.items():
            if design == "ours":
                continue
            if data["capacity"]:
                capacity = f"{ours['capacity'] / data['capacity']:.2f}x"
            else:  # it missed the bar from the lowest step on: its capacity is below that step's rate
                lowest = min(r["deliveries_per_s"] for r in data["fanout"])
                capacity = f"> {ours['capacity'] / lowest:.0f}x (missed the bar from its lowest step, {lowest:,.0f}/s)"
            if data["capacity_any_step"] != data["capacity"] and data["capacity_any_step"]:
                capacity += (
                    f" ({ours['capacity_any_step'] / data['capacity_any_step']:.2f}x by the highest step met)"
                )
            print(
                f"ours / {design}: capacity {capacity}, "
                f"server CPU per delivery at 50 msg/s {_ratio(ours, data, _cpu_per_delivery_at_50)}, "
                f"p50 at 1 msg/s {_ratio(ours, data, _p50_at_1)}, "
                f"many rooms p99 {_ratio(ours, data, lambda d: d['many_rooms']['p99'])}"
            )
        if "many_rooms_mixed" in ours:
            print(changes_line(ours["many_rooms"], ours["many_rooms_mixed"]))
        if "many_rooms_reads" in ours:
            reads = ours["many_rooms_reads"]
            print(
                f"many rooms with read positions (ours, as the web UI: a `read` frame per subscriber "
                f"per second): p50 {reads['p50']:.1f} ms, p99 {reads['p99']:.1f} ms, lost "
                f"{100 * reads['lost'] / max(1, reads['expected']):.1f}%"
            )
            print(read_writes_line(reads))
        if "catch_up_500_s" in results["ours"]:
            print(
                f"catch-up of 500 missed messages (ours): {results['ours']['catch_up_500_s'] * 1000:.0f} ms"
            )
        if "history_1m" in results["ours"]:
            history = results["ours"]["history_1m"]
            print(
                f"history.fetch with {history.get('rows', 1_000_000):,} messages (ours): "
                f"p50 {history['p50']:.1f} ms, p99 {history['p99']:.1f} ms"
            )
    (RESULTS / "results.json").write_text(json.dumps(results, indent=2))
    plot(results)


def plot(results: dict[str, dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 5))
    for design, data in results.items():
        rows = [r for r in data["fanout"] if r["p99"] is not None]
        axis.plot(
            [r["deliveries_per_s"] for r in rows], [r["p99"] for r in rows], marker="o", label=f"{design} p99"
        )
        axis.plot(
            [r["deliveries_per_s"] for r in rows],
            [r["p50"] for r in rows],
            linestyle="--",
            label=f"{design} p50",
        )
    axis.axhline(100, color="grey", linewidth=0.8)
    axis.set_xlabel("deliveries per second (200 subscribers over 2 nodes)")
    axis.set_ylabel("latency (ms)")
    axis.set_yscale("log")
    axis.legend()
    axis.set_title("Fan-out latency by offered load")
    figure.tight_layout()
    figure.savefig(RESULTS / "latency.png", dpi=110)
    print(f"plot: {RESULTS / 'latency.png'}")


def report_connections(results: dict[str, dict]) -> None:
    """The connections scenario: CPU per connection, idle memory per connection, the idle-scale step."""
    print()
    print(
        "| design | server CPU per connect + subscribe: empty history, 50-message page (whole cycle with closing) | idle memory per connection (fresh servers) |"
    )
    print("| --- | --- | --- |")
    for design, data in results.items():
        cells = []
        for history, cost in data["connect"].items():
            median = cost["median"]
            flag = "" if median["loadgen_core"] <= LOADGEN_CORE_LIMIT else " (load generator over 70%)"
            cells.append(f"{median['connect_us']:,.0f} us ({median['cycle_us']:,.0f} us){flag} [{history}]")
        idle = ", ".join(
            f"{step['kb_per_connection']:.1f} kB ({step['connections']:,} over {step['rooms']} rooms)"
            for step in data["idle"]
        )
        print(f"| {design} | {'; '.join(cells)} | {idle} |")
    if "ours" in results:
        ours = results["ours"]
        for design, data in results.items():
            if design == "ours" or 0 not in data["connect"]:
                continue
            theirs = data["connect"][0]["median"]["connect_us"]
            ratios = ", ".join(
                f"{cost['history']}-message history {cost['median']['connect_us'] / theirs:.2f}x"
                for cost in ours["connect"].values()
            )
            memory = ", ".join(
                f"{mine['connections']:,}: {mine['kb_per_connection'] / other['kb_per_connection']:.2f}x"
                for mine, other in zip(ours["idle"], data["idle"], strict=False)
                if other["kb_per_connection"] > 0
            )
            print(
                f"ours / {design}: server CPU per connect ({ratios}); idle memory per connection ({memory})"
            )
        for history, cost in ours["connect"].items():
            if not cost.get("stages"):
                continue
            total = cost["median"]["connect_us"]
            staged = sum(us for name, us in cost["stages"].items() if not name.startswith("thread hop"))
            print()
            print(
                f"Where ours' {total:,.0f} us per connect go, {history}-message history (bench/connect_stages.py):"
            )
            print()
            print("| stage | CPU per connection |")
            print("| --- | --- |")
            for name, us in cost["stages"].items():
                print(f"| {name} | {us:,.0f} us |")
            print(
                f"| the rest: HTTP upgrade, WebSocket handshake and frames, ASGI, consumer | {total - staged:,.0f} us |"
            )
        scale = ours.get("idle_scale")
        if scale:
            print(
                f"idle scale (ours, one node): {scale['connections']:,} sockets over {scale['rooms']} rooms, "
                f"{scale['kb_per_connection']:.1f} kB per connection (RSS {scale['rss_before_kib'] / 1024:.0f} -> "
                f"{scale['rss_during_kib'] / 1024:.0f} MiB), idle CPU {100 * scale['idle_core']:.1f}% of a core"
            )
    (RESULTS / "connections.json").write_text(json.dumps(results, indent=2))


def report_storm(results: dict[str, dict]) -> None:
    """The reconnect storm: how long the dead node's clients took to be current again, what was lost
    or duplicated (whole run), and the survivors' latency during the 10 s after the kill."""
    print()
    print(
        "| design | clients dropped, current again | all current after (p50) | lost | duplicated "
        "| survivors during the storm: p50, p99 (before it) | survivor's CPU over the run | load generator |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for design, r in results.items():
        storm = r["storm"]
        lost = f"{r['lost']:,} of {r['expected']:,} ({100 * r['lost'] / max(1, r['expected']):.1f}%)"
        after = (
            f"{storm['all_current_ms'] / 1000:.1f} s ({storm['current_p50_ms'] / 1000:.1f} s)"
            if storm["all_current_ms"] is not None
            else "-"
        )
        print(
            f"| {design} | {storm['drops']:,}, {storm['current']:,} | {after} | {lost} | {r['duplicates']:,} "
            f"| {_ms(storm['survivor_p50_ms'])}, {_ms(storm['survivor_p99_ms'])} "
            f"({_ms(storm['before_p50_ms'])}, {_ms(storm['before_p99_ms'])}) "
            f"| {r['server_cpu']:.1f} s | {_loadgen(r)} |"
        )
    (RESULTS / "storm.json").write_text(json.dumps(results, indent=2))


def report_search(result: dict, database: str) -> None:
    """The search scenario's table (ms per `search` round trip) and search-<database>.json."""
    print()
    print(
        f"Search over {result['rows']:,} messages on {database} (seeded in {result['seed_s']:.0f} s; "
        f"{result['rooms']} rooms, {result['private']} private, the searcher in {result['member_of']} of them)"
    )
    print()
    print("| query | messages the searcher may read that match | newest: p50, p99 | relevance: p50, p99 |")
    print("| --- | --- | --- | --- |")
    timings = result["timings"]
    for kind, queries in result["queries"].items():
        counts = ", ".join(f"{q} {result['matches'][q]:,}" for q in queries)
        cells = []
        for order in ("newest", "relevance"):
            t = timings[f"{kind}|{order}"]
            calls = "" if t["calls"] >= 200 else f" ({t['calls']} calls)"
            cells.append(f"{_ms(t['p50'])}, **{_ms(t['p99'])}**{calls}")
        print(f"| {kind} | {counts} | {' | '.join(cells)} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"search-{database}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))


def read_writes_line(result: dict) -> str:
    """What the many-rooms readers' `read` frames cost the database (ours)."""
    writes, wall = result["read_writes"], result["read_writes"]["wall"]
    rows = writes["chat_read_positions_written_total"]
    return (
        f"read positions in many rooms (ours): {writes['readers']} readers, "
        f"{result['received'] / wall:.0f} deliveries/s ({result['lost']} lost), sent {writes['reads_sent'] / wall:.0f} `read` frames/s "
        f"(server counted {writes['chat_read_frames_total'] / wall:.0f}/s); the database took "
        f"{writes['chat_read_flush_statements_total'] / wall:.1f} UPSERT statements/s writing {rows / wall:.0f} "
        f"rows/s ({rows / wall / writes['readers']:.2f} per reader per second)"
    )


def report_changes(rounds: list[tuple[dict, dict]]) -> None:
    """The changes scenario: each round's plain and mixed many-rooms runs, and the medians."""
    (RESULTS / "changes.json").write_text(
        json.dumps({"rounds": [{"plain": p, "mixed": m} for p, m in rounds]}, indent=2)
    )
    print()
    for number, (plain, mixed) in enumerate(rounds, 1):
        other = plain["other_cpu"] + mixed["other_cpu"]
        print(f"round {number} (other processes: {other:.1f} CPU s): {changes_line(plain, mixed)}")
    figures = [changes_figures(plain, mixed) for plain, mixed in rounds]
    keys = [
        "cpu_per_delivery_ratio",
        "cpu_per_change_ratio",
        "change_p99_ratio",
        "change_p99_against_sends_in_mix",
    ]
    # Rounds where something was lost measure an overloaded machine, not the code: left out.
    figures = [f for f, (p, m) in zip(figures, rounds, strict=True) if not (p["lost"] or m["lost"])]
    medians = {
        key: statistics.median(f[key] for f in figures if key in f)
        for key in keys
        if any(key in f for f in figures)
    }
    print(
        "medians over the rounds, changes against plain sends: "
        + ", ".join(
            f"{label} {medians[key]:.2f}x"
            for key, label in zip(
                keys,
                [
                    "server CPU per delivery of the mix",
                    "server CPU per delivered change",
                    "p99 of changes",
                    "p99 of changes against the sends of the same run",
                ],
                strict=True,
            )
            if key in medians
        )
    )
    (RESULTS / "changes.json").write_text(
        json.dumps({"rounds": [{"plain": p, "mixed": m} for p, m in rounds], "medians": medians}, indent=2)
    )
