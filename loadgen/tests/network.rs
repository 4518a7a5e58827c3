//! End to end against the network targets: the listeners of `kassa serve` (HTTP, TCP binary,
//! ISO 8583) run in this process on ephemeral loopback ports, on one engine, and every scenario
//! runs over each target to a `--count`; the counts add up, every step is approved and money is
//! conserved (checked through the HTTP account queries).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, web};
use kassa_adapters::auth::Auth;
use kassa_adapters::http::AppState;
use kassa_engine::Id;
use kassa_engine::{Engine, EngineConfig};
use kassa_loadgen::http::HttpChannel;
use kassa_loadgen::mix::Mix;
use kassa_loadgen::report::Conservation;
use kassa_loadgen::report::Report;
use kassa_loadgen::scenario::Ids;
use kassa_loadgen::{LoadConfig, Target};
use tokio::sync::watch;

const ADMIN_KEY: &str = "loadgen-test-admin-key";

/// `kassa serve`'s three listeners, as `serve.rs` wires them, on one engine.
struct Server {
    http: SocketAddr,
    tcp: SocketAddr,
    iso8583: SocketAddr,
    engine: Arc<Engine>,
    stop: watch::Sender<bool>,
    http_server: actix_web::dev::ServerHandle,
    http_thread: std::thread::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::open(EngineConfig::new(dir.path().join("data"))).unwrap());
    let (auth, generated) = Auth::load(&engine, Some(ADMIN_KEY)).await.unwrap();
    assert!(generated.is_none());
    let auth = Arc::new(auth);
    let (stop, stopping) = watch::channel(false);
    let tcp_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let iso_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (tcp, iso8583) = (tcp_listener.local_addr().unwrap(), iso_listener.local_addr().unwrap());
    tokio::spawn(kassa_adapters::tcp::serve(tcp_listener, engine.clone(), auth.clone(), 1_000, stopping.clone()));
    let iso_config = kassa_adapters::iso8583::IsoConfig::default();
    tokio::spawn(kassa_adapters::iso8583::serve(iso_listener, engine.clone(), iso_config, stopping));
    let http_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let http = http_listener.local_addr().unwrap();
    let state = web::Data::new(AppState { engine: engine.clone(), auth, metrics: None });
    let (handle_sender, handle) = std::sync::mpsc::channel();
    let http_thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server =
                HttpServer::new(move || App::new().app_data(state.clone()).configure(kassa_adapters::http::configure))
                    .workers(2)
                    .disable_signals()
                    .listen(http_listener)
                    .unwrap()
                    .run();
            handle_sender.send(server.handle()).unwrap();
            server.await.unwrap();
        });
    });
    let http_server = handle.recv().unwrap();
    Server { http, tcp, iso8583, engine, stop, http_server, http_thread, _dir: dir }
}

impl Server {
    async fn stop(self) {
        let _ = self.stop.send(true);
        self.http_server.stop(true).await;
        let (thread, engine) = (self.http_thread, self.engine);
        tokio::task::spawn_blocking(move || {
            thread.join().unwrap();
            engine.shutdown();
        })
        .await
        .unwrap();
    }

    fn config(&self, target: Target, run: u32) -> LoadConfig {
        let mut config = LoadConfig::new(target);
        config.addr = Some(match target {
            Target::Tcp => self.tcp,
            Target::Iso8583 => self.iso8583,
            Target::Http | Target::Embedded => self.http,
        });
        config.http_addr = self.http;
        config.api_key = ADMIN_KEY.into();
        config.accounts = 20;
        config.connections = 3;
        config.mix = "transfers=2,pos=2,holds=2,bills=1,splits=1,coupons=1".parse::<Mix>().unwrap();
        config.count = Some(300);
        config.warmup = Duration::ZERO;
        config.duration = Duration::from_secs(600); // the count ends the run
        config.run = run; // runs share the server: distinct ids
        config
    }
}

fn check(report: &Report, steps: &[&str]) {
    let text = report.render();
    assert_eq!(report.commands, 300, "{text}");
    assert_eq!(report.outcomes.keys().collect::<Vec<_>>(), vec!["approved"], "{text}");
    assert_eq!(report.steps.values().map(|step| step.commands).sum::<u64>(), 300, "{text}");
    assert_eq!(report.timeline.iter().map(|second| second.commands).sum::<u64>(), 300, "{text}");
    let conservation = report.conservation.as_ref().unwrap_or_else(|| panic!("not checked:\n{text}"));
    assert!(conservation.holds(), "{text}");
    assert_eq!(conservation.expected, 20 * 1_000_000_000, "{text}");
    for scenario in ["transfers", "pos", "holds", "bills", "splits", "coupons"] {
        assert!(report.scenarios.get(scenario).is_some_and(|count| count.completed > 0), "no {scenario}:\n{text}");
    }
    for step in steps {
        assert!(report.steps.contains_key(*step), "no {step} in\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_runs_over_every_network_target() {
    let server = start().await;

    let report = kassa_loadgen::run(server.config(Target::Http, 1)).await.unwrap();
    check(&report, &["pos.settle", "holds.place", "bills.confirm", "splits.pay", "coupons.claim"]);
    // The HTTP balance queries see money that arrives outside the run's deposits.
    let ids = Ids::new(1);
    let accounts: Vec<Id> = (0..20).map(|index| ids.account(index)).chain([ids.merchant_account()]).collect();
    let (before, _) = kassa_loadgen::http::balances(server.http, ADMIN_KEY, accounts.clone(), vec![]).await.unwrap();
    let mut admin = HttpChannel::new(server.http, ADMIN_KEY.into(), None);
    let deposit = serde_json::json!({"id": "outside", "amount": 5});
    kassa_loadgen::http::post_json(&mut admin, &format!("/v1/accounts/{}/deposits", ids.account(3)), &deposit)
        .await
        .unwrap();
    let (after, _) = kassa_loadgen::http::balances(server.http, ADMIN_KEY, accounts, vec![]).await.unwrap();
    assert!(!Conservation::new(before, 0, after, 0, 21, 0).holds());
    assert_eq!(after - before, 5);

    let mut config = server.config(Target::Tcp, 2);
    config.depth = 2; // pipelined on each connection
    let report = kassa_loadgen::run(config).await.unwrap();
    check(&report, &["pos.settle", "holds.place", "bills.confirm", "splits.pay", "coupons.claim"]);

    let mut config = server.config(Target::Iso8583, 3);
    config.rate = Some(2_000); // and the open loop over the network
    let report = kassa_loadgen::run(config).await.unwrap();
    check(&report, &["pos.settle_0200", "holds.authorize", "holds.hold_0100", "bills.confirm", "coupons.claim"]);
    assert!(!report.steps.contains_key("pos.settle"), "POS settlements go over ISO 8583");
    let resolved = ["holds.capture", "holds.reverse_0400"].iter().filter(|step| report.steps.contains_key(**step));
    assert!(resolved.count() >= 1, "{}", report.render());

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_an_error_not_a_hang() {
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut config = LoadConfig::new(Target::Http);
    config.addr = Some(unused);
    config.accounts = 2;
    let error = kassa_loadgen::run(config).await.unwrap_err();
    assert!(error.contains("connect"), "{error}");
}
