//! A flood of wrong secrets past its failure budget is answered slowly (issue 21, scenario 3 of
//! `scripts/bench-load.sh`): each refusal for a spent budget waits `OVER_BUDGET_DELAY` (100 ms,
//! `server-stub/src/routes/middleware.rs`), so a flooding connection costs the server ten
//! answers a second instead of as many as it can ask for. Within the budget, and for a secret
//! the cache knows to be right, nothing waits. Only lower bounds are asserted: the wait is a
//! rule, the speed of the rest is not.

use std::time::{Duration, Instant};

use reqwest::Method;
use tokenauth_core::token_format;
use tokenauth_e2e::{Server, status_of};

const MYSELF: &str = "/rest/api/2/myself";
const OVER_BUDGET_DELAY: Duration = Duration::from_millis(100);

#[tokio::test]
async fn each_refusal_past_the_failure_budget_waits_and_the_right_secret_still_works() {
    let mut s = Server::start();
    let right = s.secret("alice", "READ_ONLY").await;
    let id = token_format::parse(&right).unwrap().id;
    let send = |secret: &str| {
        s.req(Method::GET, MYSELF)
            .header("Authorization", format!("Bearer {secret}"))
    };
    assert_eq!(
        status_of(send(&right)).await,
        200,
        "verified once, now cached"
    );
    let wrong = |i: usize| token_format::compose(&id, &format!("{i:0>32}")).unwrap();
    // The budget: 10 failures a minute for this token from this address, each one hashed.
    for i in 0..10 {
        assert_eq!(status_of(send(&wrong(i))).await, 401);
    }
    let started = Instant::now();
    for i in 10..13 {
        assert_eq!(status_of(send(&wrong(i))).await, 401);
    }
    let waited = started.elapsed();
    assert!(
        waited >= 3 * OVER_BUDGET_DELAY,
        "three refusals past the budget took {waited:?}, less than three waits"
    );
    assert_eq!(
        status_of(send(&right)).await,
        200,
        "the cached right secret is not refused"
    );
    // Hashed: the new token's secret when it was made, its first use, and each failure within
    // the budget; none past it.
    assert_eq!(s.stop_and_count_argon2(), 1 + 1 + 10);
}
