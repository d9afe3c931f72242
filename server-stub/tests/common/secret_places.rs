//! What the no-secret property tests share: where a request presents a secret, where it
//! repeats it and in which form, and the request (with its answer) built from that.
#![allow(dead_code)] // each test binary uses what it needs

use base64::Engine as _;
use proptest::prelude::*;

/// Where the request presents the secret as a credential.
#[derive(Debug, Clone, Copy)]
pub enum Presented {
    Bearer,
    BasicPassword,
    SessionCookie,
    ApiKeyHeader,
    AccessTokenParam,
    JsonPasswordField,
}

/// Where it repeats it, and how it is written there.
#[derive(Debug, Clone, Copy)]
pub enum Place {
    PathSegment,
    OtherParam,
    OtherHeader,
    TextBodyAt(usize),
    JsonBodyValue,
    AnswerBody,
    AnswerHeader,
}

#[derive(Debug, Clone, Copy)]
pub enum Form {
    Raw,
    PercentEveryByte,
    JsonUnicodeEscapes,
    Base64,
}

pub fn written(secret: &str, form: Form) -> String {
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

pub fn presented() -> impl Strategy<Value = Presented> {
    prop_oneof![
        Just(Presented::Bearer),
        Just(Presented::BasicPassword),
        Just(Presented::SessionCookie),
        Just(Presented::ApiKeyHeader),
        Just(Presented::AccessTokenParam),
        Just(Presented::JsonPasswordField),
    ]
}

pub fn place() -> impl Strategy<Value = Place> {
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

pub fn form() -> impl Strategy<Value = Form> {
    prop_oneof![
        Just(Form::Raw),
        Just(Form::PercentEveryByte),
        Just(Form::JsonUnicodeEscapes),
        Just(Form::Base64),
    ]
}

/// Every 12-character window of `secret` found in `text`.
pub fn fragments_in(text: &str, secret: &str) -> Vec<String> {
    let chars: Vec<char> = secret.chars().collect();
    chars
        .windows(12)
        .map(|w| w.iter().collect::<String>())
        .filter(|f| text.contains(f.as_str()))
        .collect()
}

/// A request that presents `secret` and repeats it in `places`, and the answer it gets.
pub struct Built {
    pub method: String,
    /// Path and query.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub answer_headers: Vec<(String, String)>,
    pub answer_body: String,
}

pub fn build(secret: &str, presented: Presented, places: &[(Place, Form)]) -> Built {
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
        method: "POST".into(),
        url: format!("{path}?{}", query.join("&")),
        headers,
        body,
        answer_headers,
        answer_body,
    }
}
