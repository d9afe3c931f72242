//! Benchmark-only: fills a (stopped) server's data directory with many tokens and audit events
//! through core's own API. Tokens are hashed with deliberately cheap argon2 parameters so that
//! 100,000 of them can be made and first used in seconds; never use this for real data.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark tool: fail loudly

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use tokenauth_core::audit::{AuditAction, AuditEvent};
use tokenauth_core::clock::{Clock, SystemClock};
use tokenauth_core::scope::Scope;
use tokenauth_core::secret_hash::HashParams;
use tokenauth_core::service::{Actor, NewTokenRequest, NewUser, ScopeChoice, TokenAuth};
use tokenauth_core::store::{SledStore, Store};
use tokenauth_core::token::Expiry;

const CHEAP: HashParams = HashParams {
    memory_kib: 8,
    iterations: 1,
    lanes: 1,
};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut data = None;
    let mut tokens = 0usize;
    let mut tokens_out = None;
    let mut events = 0usize;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data-dir" => data = args.next().map(PathBuf::from),
            "--tokens" => tokens = args.next().unwrap().parse().unwrap(),
            "--tokens-out" => tokens_out = args.next().map(PathBuf::from),
            "--events" => events = args.next().unwrap().parse().unwrap(),
            other => panic!(
                "unknown argument {other}; use --data-dir D [--tokens N --tokens-out F] [--events N]"
            ),
        }
    }
    let data = data.expect("--data-dir");
    let store = Arc::new(SledStore::open(&data).unwrap());
    let auth = TokenAuth::new(store.clone(), Arc::new(SystemClock), CHEAP).unwrap();
    let demo = |name: &str, groups: &[&str]| NewUser {
        name: name.into(),
        password: Some(name.into()),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        ..NewUser::default()
    };
    auth.seed_users(vec![
        demo("admin", &["jira-administrators", "jira-users"]),
        demo("alice", &["jira-users"]),
        demo("bob", &["jira-users"]),
    ])
    .unwrap();
    if tokens > 0 {
        // Spread over users holding the per-user maximum each, as real tokens would be.
        let per_user = auth.settings().max_tokens_per_user as usize;
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(tokens_out.expect("--tokens-out")).unwrap(),
        );
        let mut owner = None;
        for i in 0..tokens {
            if i % per_user == 0 {
                let name = format!("load-{}", i / per_user);
                let user = NewUser {
                    name: name.clone(),
                    groups: vec!["jira-users".into()],
                    ..NewUser::default()
                };
                auth.create_user(&Actor::cli(), user).unwrap();
                owner = Some((
                    name.clone(),
                    Actor::user(std::sync::Arc::unwrap_or_clone(
                        auth.store().user(&name).unwrap().unwrap(),
                    )),
                ));
            }
            let (name, actor) = owner.as_ref().unwrap();
            let req = NewTokenRequest {
                description: format!("bench {i}"),
                scope: ScopeChoice::Exactly(Scope::ReadOnly),
                expiry: Expiry::Default,
            };
            let v = auth.create_token(actor, name, req).unwrap();
            writeln!(out, "{}", v.token.unwrap()).unwrap();
        }
        out.flush().unwrap();
        eprintln!("created {tokens} tokens");
    }
    if events > 0 {
        let start = SystemClock.now() - events as i64;
        let mut i = 0;
        while i < events {
            let end = (i + 10_000).min(events);
            let mut batch: Vec<AuditEvent> = (i..end)
                .map(|n| {
                    // A realistic mix: most events from a few busy script users, a few for alice.
                    let user = if n % 1000 == 0 {
                        "alice".to_owned()
                    } else {
                        format!("ci-bot-{}", n % 20)
                    };
                    let mut e = AuditEvent::new(
                        start + n as i64,
                        AuditAction::AuthenticatedWithToken,
                        user.clone(),
                    );
                    e.affected_user = Some(user);
                    e.token_id = Some("AbCdEf012345".into());
                    e.token_description = Some("nightly build".into());
                    e.scope = Some(Scope::ReadOnly);
                    e.method = Some("GET".into());
                    e.path = Some("/rest/api/2/search".into());
                    e.client_ip = Some("192.0.2.10".into());
                    e
                })
                .collect();
            store.append_events(&mut batch).unwrap();
            i = end;
        }
        store.flush().unwrap();
        eprintln!("appended {events} events");
    }
}
