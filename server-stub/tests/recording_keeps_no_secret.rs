#![allow(clippy::expect_used)] // a test may panic on a broken expectation
//! The recorder's promise as a property (issue 23, part 3): whatever a proxied request presents
//! as a secret, and wherever the request or the upstream's answer repeats it, in whatever form —
//! and whatever the upstream hands back of the operator's credential or of the session cookie it
//! set — no 12 characters of it in a row reach a recorded mapping, a recorded body file, or the
//! answer the caller gets.

use proptest::prelude::*;
use tokenauth_stub::mocks::proxied_exchange::{Answered, Sent, scrubbed};
use wiremock_engine::recording::{RecordSpec, snapshot};

mod common;
use common::secret_places::{Form, build, form, fragments_in, place, presented, written};

/// Everything a recording of this one exchange writes, and what the caller got, as text.
fn recorded_and_answered(sent: &Sent<'_>, answered: Answered, operator: Option<&str>) -> String {
    let (exchange, headers, body) = scrubbed(sent, answered, operator, 1 << 24).expect("readable");
    // Every body in a file, and every body inline: both forms are searched.
    let mut out = String::new();
    for extract in [Some((0, 0)), None] {
        let spec = RecordSpec {
            extract,
            capture_headers: sent
                .headers
                .iter()
                .map(|(n, _)| ((*n).to_owned(), false))
                .collect(),
            ..RecordSpec::default()
        };
        let r = snapshot([&exchange], &spec);
        out.push_str(&serde_json::to_string(&r.mappings).unwrap_or_default());
        for (name, bytes) in &r.files {
            out.push_str(name);
            out.push_str(&String::from_utf8_lossy(bytes));
        }
    }
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\n"));
    }
    out.push_str(&String::from_utf8_lossy(&body));
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_twelve_characters_of_a_presented_secret_are_recorded_or_answered(
        secret in "[A-Za-z0-9_-]{16,48}",
        presented in presented(),
        places in proptest::collection::vec((place(), form()), 0..4),
    ) {
        let b = build(&secret, presented, &places);
        let sent = Sent {
            method: &b.method,
            url: &b.url,
            headers: b.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect(),
            body: b.body.as_bytes(),
        };
        let answered = Answered {
            status: 200,
            headers: b.answer_headers.clone(),
            body: b.answer_body.clone().into_bytes(),
            withheld_cookies: vec![],
        };
        let text = recorded_and_answered(&sent, answered, None);
        prop_assert_eq!(fragments_in(&text, &secret), Vec::<String>::new(), "{}", text.chars().take(2_000).collect::<String>());
    }

    #[test]
    fn no_twelve_characters_of_the_upstreams_secrets_are_recorded_or_answered(
        secret in "[A-Za-z0-9_-]{16,48}",
        operators in any::<bool>(),
        echoed in proptest::collection::vec((0usize..3, form()), 1..4),
    ) {
        // The operator's credential, or the session the upstream opened with it, echoed back
        // in the answer's body, a header value, or a header name.
        let operator = format!("Bearer {secret}");
        let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
        let mut fields = vec!["\"ok\":true".to_owned()];
        for (where_, f) in &echoed {
            let w = written(&secret, *f);
            match where_ {
                0 => fields.push(format!("\"session\":{{\"name\":\"JSESSIONID\",\"value\":\"{}\"}}", w.replace('\\', "\\\\"))),
                1 => headers.push(("X-Echo".into(), format!("seen {w}"))),
                _ => fields.push(format!("\"note\":\"{}\"", w.replace('\\', "\\\\"))),
            }
        }
        let sent = Sent {
            method: "GET",
            url: "/rest/api/2/myself-upstream",
            headers: vec![("Accept", "application/json")],
            body: b"",
        };
        let answered = Answered {
            status: 200,
            headers,
            body: format!("{{{}}}", fields.join(",")).into_bytes(),
            withheld_cookies: if operators { vec![] } else { vec![secret.clone()] },
        };
        let text = recorded_and_answered(&sent, answered, operators.then_some(operator.as_str()));
        prop_assert_eq!(fragments_in(&text, &secret), Vec::<String>::new(), "{}", text.chars().take(2_000).collect::<String>());
        let _ = Form::Raw;
    }
}
