//! The TCP target: `kassa serve`'s binary protocol through the adapters' pipelining client.
//! `connections` clients, each with `depth` transfers in flight (closed loop).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use kassa_adapters::tcp::{Client, ClientError};
use kassa_engine::command::{Command, Movement, OpenAccount, Transfer};
use kassa_engine::{Currency, Id};
use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::NetworkLoad;
use crate::report::{Recorder, Report, gather, measured_time};
use crate::skew::AccountPicker;

fn account(run: &str, index: usize) -> Id {
    Id::new(&format!("{run}-a{index}")).expect("valid id")
}

fn error_code(error: &ClientError) -> String {
    match error {
        ClientError::Server { code, .. } => code.as_str().to_string(),
        other => format!("client_{}", other.to_string().split(':').next().unwrap_or("error").replace(' ', "_")),
    }
}

/// Runs the load and returns the report (conservation is checked by the caller's queries over
/// HTTP when wanted; the binary protocol carries no reads).
pub async fn run(load: NetworkLoad, depth: usize) -> Result<Report, String> {
    let run = format!("lg{}", load.run);
    let setup = Client::connect(load.addr, &load.api_key).await.map_err(|error| format!("connect: {error}"))?;
    let commands: Vec<Command> = (0..load.accounts)
        .flat_map(|index| {
            let id = account(&run, index);
            [
                Command::OpenAccount(OpenAccount { account: id.clone(), currency: Currency::EUR, overdraft_limit: 0 }),
                Command::Deposit(Movement {
                    id: Id::new(&format!("{run}-f{index}")).expect("id"),
                    account: id,
                    amount: 1_000_000_000,
                }),
            ]
        })
        .collect();
    for chunk in commands.chunks(4_000) {
        let outcomes = setup.submit_batch(chunk.to_vec()).await.map_err(|error| format!("setup: {error}"))?;
        if !outcomes.iter().all(|outcome| outcome.is_applied()) {
            return Err(format!("setup refused: {:?}", outcomes.iter().find(|outcome| !outcome.is_applied())));
        }
    }
    let picker = Arc::new(AccountPicker::new(load.accounts, load.skew));
    let started = Instant::now();
    let (measure_from, deadline) = (started + load.warmup, started + load.warmup + load.duration);
    let sequence = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for connection in 0..load.connections {
        let client =
            Arc::new(Client::connect(load.addr, &load.api_key).await.map_err(|error| format!("connect: {error}"))?);
        for lane in 0..depth.max(1) {
            let (client, picker, sequence, run) = (client.clone(), picker.clone(), sequence.clone(), run.clone());
            tasks.push(tokio::spawn(async move {
                let mut rng = SmallRng::seed_from_u64((connection * 1_000 + lane) as u64);
                let mut recorder = Recorder::default();
                while Instant::now() < deadline {
                    let n = sequence.fetch_add(1, Ordering::Relaxed);
                    let (from, to) = picker.pick_pair(&mut rng);
                    let transfer = Transfer {
                        id: Id::new(&format!("{run}-t{n}")).expect("id"),
                        from: account(&run, from),
                        to: account(&run, to),
                        amount: 1 + n % 100,
                        currency: Currency::EUR,
                    };
                    let sent = Instant::now();
                    let result = match client.submit(Command::Transfer(transfer)).await {
                        Ok(outcome) => outcome.rejection().map_or("applied".to_string(), |r| r.code().to_string()),
                        Err(error) => error_code(&error),
                    };
                    if sent >= measure_from {
                        recorder.record(sent.elapsed(), [result]);
                    }
                }
                recorder
            }));
        }
    }
    let recorder = gather(tasks).await?;
    let elapsed = measured_time(measure_from, deadline);
    let description = format!(
        "transfers over TCP to {}, {} accounts ({:?}), {} connections x depth {}",
        load.addr, load.accounts, load.skew, load.connections, depth
    );
    Ok(Report::new("tcp", description, &recorder, elapsed))
}
