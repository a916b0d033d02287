//! `make bench`: the operator (release build) on the local API server with the emulators, measured
//! against the physical limits. Prints tables and writes them to `target/bench/results.md`.
//!
//! Scenarios (env `BENCH`, comma-separated; default all): `rotation`, `scale` (1k, with the
//! `kubectl apply` comparison and the no-op reconcile cost), `scale10k`, `idle`.
//! Needs `KUBECONFIG` of a test API server (`scripts/bench.sh` starts one). Under `cargo test`
//! (no `--bench` argument) it does nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)] // a bench: fail loudly, print figures

#[path = "../../tests/support/mod.rs"]
mod support;

mod harness;
mod idle;
mod rotation;
mod scale;

use std::fmt::Write as _;

use harness::secs;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("operator bench: run it with `make bench` (cargo bench --bench operator)");
        return;
    }
    let wanted = std::env::var("BENCH").unwrap_or_else(|_| "rotation,scale,scale10k,idle".into());
    let wanted: Vec<&str> = wanted.split(',').map(str::trim).collect();
    let client = support::client().await;
    support::install_crds(&client).await;
    let mut report = String::new();
    let _ = writeln!(
        report,
        "# trackvia-operator bench\n\nmachine: {} cores; {}\n",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC")
    );

    if wanted.contains(&"rotation") {
        let cases = [
            rotation::Case {
                connections: 10,
                recipes: 60,
                strategy: "StopAndRestart",
            },
            rotation::Case {
                connections: 30,
                recipes: 20,
                strategy: "StopAndRestart",
            },
            rotation::Case {
                connections: 10,
                recipes: 60,
                strategy: "Overlap",
            },
        ];
        let mut table = String::from(
            "## Rotation vs the physical limit\n\n\
             | C | R | strategy | outcome | wall s | bound s | ratio | recipe downtime max / mean s | account downtime s | downtime bound s | ratio | person s | Workato calls | 429s | stopped/started twice |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for case in cases {
            eprintln!(
                "rotation: C={} R={} {}",
                case.connections, case.recipes, case.strategy
            );
            let o = rotation::run(&client, case).await;
            let ratio = |a: f64, b: f64| {
                if b > 0.0 {
                    format!("{:.2}", a / b)
                } else {
                    "-".into()
                }
            };
            let _ = writeln!(
                table,
                "| {} | {} | {} | {} | {:.1} | {:.1} | {} | {:.1} / {:.1} | {:.1} | {:.1} | {} | {:.3} | {} | {} | {} |",
                o.case.connections,
                o.case.recipes,
                o.case.strategy,
                o.phase,
                o.wall,
                o.wall_bound,
                ratio(o.wall, o.wall_bound),
                o.downtime_max,
                o.downtime_mean,
                o.downtime_account,
                o.downtime_bound,
                ratio(o.downtime_max, o.downtime_bound),
                o.person,
                o.workato_calls,
                o.received_429,
                o.stops_twice
            );
            println!("{table}");
        }
        table.push_str(
            "\nwall: rotation created (StopAndRestart) or new token placed (Overlap) until Succeeded (StopAndRestart) \
             or switched and published (Overlap, AwaitingRevocation). person: the bench playing the person \
             (regenerate the token, put it in the Secret), included in wall. bound: the calls the protocol needs \
             (StopAndRestart: 1 recipe listing, R stops, C updates, R starts), each as early as Workato's documented \
             limits allow, read as at most 60 recipe calls in any 60 s and 1 connection write per second. \
             downtime bound: each recipe is stopped across all C updates, and between its stop and its start lie \
             R recipe calls, at most 60 per minute.\n\n",
        );
        report.push_str(&table);
    }

    let mut scale_table = String::from(
        "## Scale\n\n\
         | IAs + WCs | workspaces | TrackVia accounts | objects applied | kubectl apply alone s | apply s | apply to all Ready s | ratio | Workato bound s | TrackVia budget s | RSS Ready MiB | RSS settled MiB | peak RSS MiB | CPU s | external calls | 429s |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut noop_table = String::new();
    let mut scale_notes =
        String::from("\nWork from apply to all Ready (reconciles, API-server requests by verb):\n\n");
    let mut floor_notes = String::from(
        "\nFloor: the writes no operator reaches Ready without (each IntegrationAccount's credentials Secret and \
         status, each WorkatoConnection's status, as the operator wrote them), replayed by server-side apply onto the \
         objects created alone, 32 at a time, nothing else running:\n\n",
    );
    let mut scaled = false;
    for (name, case) in [
        (
            "scale",
            // Spread over 100 workspaces and 100 accounts (10 objects each), so that Workato's
            // 1 connection write per second per workspace (about 9 s) and TrackVia's 5 calls per
            // second per account (about 4 s) are below kubectl apply alone (32-39 s here): the
            // operator, not a vendor's limit, sets the time to Ready.
            scale::Case {
                integrations: 1000,
                workspaces: 100,
                accounts: 100,
                compare_kubectl: true,
            },
        ),
        (
            "scale10k",
            // BENCH_SCALE10K_N: another size for the large case (50 objects per workspace and
            // account, as at 10k), e.g. for a profile that takes minutes rather than a quarter hour.
            {
                let n = std::env::var("BENCH_SCALE10K_N")
                    .ok()
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(10_000);
                scale::Case {
                    integrations: n,
                    workspaces: n.div_ceil(50),
                    accounts: n.div_ceil(50),
                    compare_kubectl: false,
                }
            },
        ),
    ] {
        if !wanted.contains(&name) {
            continue;
        }
        scaled = true;
        eprintln!(
            "scale: {} IntegrationAccounts + {} WorkatoConnections",
            case.integrations, case.integrations
        );
        let o = scale::run(&client, case, name == "scale").await;
        let _ = writeln!(
            scale_table,
            "| {n} + {n} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} | {:.0} |",
            o.case.workspaces,
            o.case.accounts,
            o.objects,
            o.kubectl.map(secs).unwrap_or_else(|| "-".into()),
            secs(o.apply),
            secs(o.ready),
            o.kubectl
                .map(|k| format!("{:.2}", o.ready.as_secs_f64() / k.as_secs_f64()))
                .unwrap_or_else(|| "-".into()),
            o.connection_bound,
            o.trackvia_bound,
            o.rss_ready,
            o.rss_settled,
            o.rss_peak,
            o.cpu_secs,
            o.external_calls,
            o.received_429,
            n = o.case.integrations,
        );
        println!("{scale_table}");
        scale_notes.push_str(&format!(
            "- {} + {}: {}\n",
            o.case.integrations, o.case.integrations, o.work
        ));
        if let Some(alone) = o.kubectl {
            let floor = o.floor.took.as_secs_f64();
            floor_notes.push_str(&format!(
                "- {n} + {n}: {} writes in {floor:.1} s by server-side apply ({:.1} s as merge patches and creates); alone {:.1} s, alone + floor {:.1} s = {:.2}x alone (all Ready came at {:.2}x)\n",
                o.floor.writes,
                o.floor.merge.as_secs_f64(),
                alone.as_secs_f64(),
                alone.as_secs_f64() + floor,
                (alone.as_secs_f64() + floor) / alone.as_secs_f64(),
                o.ready.as_secs_f64() / alone.as_secs_f64(),
                n = o.case.integrations,
            ));
        }
        if let Some(noop) = o.noop {
            noop_table.push_str(
                "## Reconcile cost (no-op)\n\n\
                 Every object touched with an annotation the operator ignores; at 1k + 1k, nothing due.\n\n\
                 | touched | reconciles of that kind | reconciles of all kinds | CPU ms per reconcile | API-server requests per reconcile | of which reads (GET) | of which writes | TrackVia + Workato calls |\n\
                 |---|---|---|---|---|---|---|---|\n",
            );
            for r in noop.rows {
                let _ = writeln!(
                    noop_table,
                    "| {} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} |",
                    r.controller,
                    r.reconciles,
                    r.all_reconciles,
                    r.cpu_ms_per_reconcile,
                    r.kube_requests_per_reconcile,
                    r.kube_gets_per_reconcile,
                    r.kube_writes_per_reconcile,
                    r.external_calls
                );
            }
            noop_table.push('\n');
            println!("{noop_table}");
        }
    }
    if scaled {
        scale_table.push_str(
            "\nkubectl apply alone: the same objects into a namespace no operator watches, the same way (kubectl apply at 1k; at 10k through the API, 32 at a time). apply to all Ready: \
             from the start of the apply until every IntegrationAccount and WorkatoConnection is Ready (the operator's \
             count of transitions to Ready, scraped every 250 ms, then confirmed by one list). Workato bound: connection writes are 1 per second per workspace, one per connection. \
             TrackVia budget: the operator's own 5 calls/s per account over the calls it made. At 10k the objects \
             are created through the API, 32 at a time. RSS settled: 30 s after all Ready. Emulator latency 0.\n\n",
        );
        report.push_str(&scale_table);
        report.push_str(&scale_notes);
        report.push_str(&floor_notes);
        report.push('\n');
        report.push_str(&noop_table);
    }

    if wanted.contains(&"idle") {
        let cases = [
            idle::Case {
                accounts: 2,
                workspaces: 2,
                integrations: 10,
                connections_per_integration: 1,
                recipes_per_connection: 2,
            },
            idle::Case {
                accounts: 2,
                workspaces: 2,
                integrations: 10,
                connections_per_integration: 4,
                recipes_per_connection: 10,
            },
            idle::Case {
                accounts: 4,
                workspaces: 4,
                integrations: 20,
                connections_per_integration: 1,
                recipes_per_connection: 2,
            },
        ];
        let mut table = String::from(
            "## Idle cost (calls per hour, everything Ready)\n\n\
             | TrackVia accounts | IA tokens | workspaces | connections | recipes | TrackVia calls/h | per account | per token | Workato calls/h | per workspace | per connection |\n\
             |---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        let mut routes = String::from("\nBy route (calls per hour):\n\n");
        for case in cases {
            eprintln!(
                "idle: {} accounts, {} workspaces, {} connections",
                case.accounts,
                case.workspaces,
                case.connections()
            );
            let o = idle::run(&client, case).await;
            let c = o.case;
            let _ = writeln!(
                table,
                "| {} | {} | {} | {} | {} | {} | {:.1} | {:.1} | {} | {:.1} | {:.2} |",
                c.accounts,
                c.integrations,
                c.workspaces,
                c.connections(),
                c.recipes(),
                o.trackvia,
                o.trackvia as f64 / c.accounts as f64,
                o.trackvia as f64 / c.integrations as f64,
                o.workato,
                o.workato as f64 / c.workspaces as f64,
                o.workato as f64 / c.connections() as f64
            );
            let _ = writeln!(
                routes,
                "- {} accounts, {} tokens, {} workspaces, {} connections, {} recipes: {}",
                c.accounts,
                c.integrations,
                c.workspaces,
                c.connections(),
                c.recipes(),
                o.by_route
                    .iter()
                    .map(|(r, n)| format!("`{r}` {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            println!("{table}");
        }
        table.push_str(&routes);
        table.push_str(
            "\nMeasured with every periodic interval divided by 60 (account check 10 s, workspace check 5 s, token \
             check 15 s) over 60 s after one full cycle: the calls of one hour at the defaults (600 s, 300 s, 900 s).\n\n",
        );
        report.push_str(&table);
    }

    println!("\n{report}");
    let path = support::repo_root().join("target/bench/results.md");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &report).unwrap();
    println!("written to {}", path.display());
}
