//! The journal's promise as a property (SPEC §8, review 2 F2/F3/N6): whatever a request presents
//! as a secret — in its `Authorization` header, a cookie, a credential header or parameter, a
//! password field of its body — and wherever else it repeats it, in whatever form a client or a
//! template writes it, no 12 characters of it in a row reach the journal's JSON.

use base64::Engine as _;
use proptest::prelude::*;
use tokenauth_stub::mocks::journal::{Arrived, Journal, Served};
use tokenauth_stub::mocks::journal_json::entry_json;

/// Where the request presents the secret as a credential.
#[derive(Debug, Clone, Copy)]
enum Presented {
    Bearer,
    BasicPassword,
    SessionCookie,
    ApiKeyHeader,
    AccessTokenParam,
    JsonPasswordField,
}

/// Where it repeats it, and how it is written there.
#[derive(Debug, Clone, Copy)]
enum Place {
    PathSegment,
    OtherParam,
    OtherHeader,
    TextBodyAt(usize),
    JsonBodyValue,
    AnswerBody,
    AnswerHeader,
}

#[derive(Debug, Clone, Copy)]
enum Form {
    Raw,
    PercentEveryByte,
    JsonUnicodeEscapes,
    Base64,
}

fn written(secret: &str, form: Form) -> String {
    match form {
        Form::Raw => secret.to_owned(),
        Form::PercentEveryByte => secret.bytes().map(|b| format!("%{b:02X}")).collect(),
        Form::JsonUnicodeEscapes => secret
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect(),
        Form::Base64 => base64::engine::general_purpose::STANDARD.encode(secret),
    }
}

fn presented() -> impl Strategy<Value = Presented> {
    prop_oneof![
        Just(Presented::Bearer),
        Just(Presented::BasicPassword),
        Just(Presented::SessionCookie),
        Just(Presented::ApiKeyHeader),
        Just(Presented::AccessTokenParam),
        Just(Presented::JsonPasswordField),
    ]
}

fn place() -> impl Strategy<Value = Place> {
    prop_oneof![
        Just(Place::PathSegment),
        Just(Place::OtherParam),
        Just(Place::OtherHeader),
        // Around the journal's 64 KiB cut as often as anywhere else.
        prop_oneof![0usize..2_000, 65_400usize..65_600].prop_map(Place::TextBodyAt),
        Just(Place::JsonBodyValue),
        Just(Place::AnswerBody),
        Just(Place::AnswerHeader),
    ]
}

fn form() -> impl Strategy<Value = Form> {
    prop_oneof![
        Just(Form::Raw),
        Just(Form::PercentEveryByte),
        Just(Form::JsonUnicodeEscapes),
        Just(Form::Base64),
    ]
}

/// Every 12-character window of `secret` found in `text`.
fn fragments_in(text: &str, secret: &str) -> Vec<String> {
    let chars: Vec<char> = secret.chars().collect();
    chars
        .windows(12)
        .map(|w| w.iter().collect::<String>())
        .filter(|f| text.contains(f.as_str()))
        .collect()
}

struct Built {
    arrived: Arrived,
    served: Served,
}

fn build(secret: &str, presented: Presented, places: &[(Place, Form)]) -> Built {
    let mut path = "/rest/api/2/issue".to_owned();
    let mut query = vec!["jql=project%3DX".to_owned()];
    let mut headers = vec![("Host".to_owned(), "stub.test".to_owned())];
    let mut body_text: Option<String> = None;
    let mut json_fields: Vec<String> = Vec::new();
    let mut answer_body = "{\"ok\":true}".to_owned();
    let mut answer_headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    match presented {
        Presented::Bearer => headers.push(("Authorization".into(), format!("Bearer {secret}"))),
        Presented::BasicPassword => {
            let b = base64::engine::general_purpose::STANDARD.encode(format!("alice:{secret}"));
            headers.push(("Authorization".into(), format!("Basic {b}")));
        }
        Presented::SessionCookie => {
            headers.push(("Cookie".into(), format!("lang=en; JSESSIONID={secret}")))
        }
        Presented::ApiKeyHeader => headers.push(("X-Api-Key".into(), secret.to_owned())),
        Presented::AccessTokenParam => query.push(format!("access_token={secret}")),
        Presented::JsonPasswordField => json_fields.push(format!("\"password\":\"{secret}\"")),
    }
    for &(place, form) in places {
        let w = written(secret, form);
        match place {
            Place::PathSegment => path.push_str(&format!("/{w}")),
            Place::OtherParam => query.push(format!("note={w}")),
            Place::OtherHeader => headers.push(("X-Echo".into(), format!("said {w}"))),
            Place::TextBodyAt(at) => {
                let mut b = ".".repeat(at);
                b.push_str(&w);
                b.push_str(&" ".repeat(200));
                body_text = Some(b);
            }
            Place::JsonBodyValue => json_fields.push(format!("\"comment\":\"see {w}\"")),
            Place::AnswerBody => answer_body = format!("{{\"echo\":\"{w}\"}}"),
            Place::AnswerHeader => answer_headers.push(("X-Echo".into(), w)),
        }
    }
    // A JSON body when the request carries fields, else the text body (if any).
    let body = if !json_fields.is_empty() {
        format!("{{{}}}", json_fields.join(","))
    } else {
        body_text.unwrap_or_default()
    };
    Built {
        arrived: Arrived {
            method: "POST".into(),
            url: format!("{path}?{}", query.join("&")),
            scheme: "http",
            authority: None,
            client_ip: Some([127, 0, 0, 1].into()),
            headers,
        },
        served: Served {
            body: body.into_bytes().into(),
            record_body: true,
            stub: None,
            answer: Some((answer_headers, answer_body.into_bytes())),
            answer_templated: false,
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_twelve_characters_of_a_presented_secret_reach_the_journal(
        secret in "[A-Za-z0-9_-]{16,48}",
        presented in presented(),
        places in proptest::collection::vec((place(), form()), 0..4),
    ) {
        let built = build(&secret, presented, &places);
        let journal = Journal::new(4, None);
        journal.record(built.arrived, 200, None, Some(built.served));
        let (entries, _) = journal.newest(1);
        let text = entry_json(&entries[0], None).to_string();
        prop_assert_eq!(fragments_in(&text, &secret), Vec::<String>::new(), "{}", text.chars().take(2_000).collect::<String>());
    }
}
