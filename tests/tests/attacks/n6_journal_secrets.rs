//! N6 (low), F2 and F3 (medium): the journal kept secrets it did not recognise — a token
//! straddling the 64 KiB cut, a password written with JSON escapes, credential parameters and
//! headers of other services, encoded bodies.

use super::n1_mappings_see_no_credentials::text_of_admin_requests;
use super::*;

/// The part of a token that is secret: everything after `tka_<id>` (the id is public and the
/// journal names it as the request's token).
pub(super) fn secret_part(token: &str) -> &str {
    &token[4 + 12..]
}

/// Every 12-character window of `secret` that `text` contains.
fn fragments_in(text: &str, secret: &str) -> Vec<String> {
    let chars: Vec<char> = secret.chars().collect();
    chars
        .windows(12)
        .map(|w| w.iter().collect::<String>())
        .filter(|f| text.contains(f.as_str()))
        .collect()
}

#[tokio::test]
async fn f2_a_token_across_the_body_cut_is_not_kept_in_part() {
    let s = Server::start();
    let token = s.secret("alice", "READ_WRITE").await;
    // The token begins 45 bytes before the 64 KiB cut: the old journal cut first and kept its
    // prefix, its id and 28 of its 32 secret characters (no longer the whole token, so its
    // search for the token found nothing to scrub).
    let mut body = "x".repeat(64 * 1024 - 45);
    body.push_str(&token);
    let r = s
        .req(Method::POST, "/rest/api/2/comment")
        .header("Authorization", bearer(&token))
        .header("X-Atlassian-Token", "no-check")
        .body(body);
    assert_eq!(status_of(r).await, 201);
    let journal = text_of_admin_requests(&s).await;
    assert!(
        journal.contains("\"bodyTruncated\":true"),
        "the body was cut"
    );
    assert_eq!(
        fragments_in(&journal, secret_part(&token)),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn f3_a_password_written_with_json_escapes_is_not_kept() {
    let s = Server::start();
    // alice's own password, escaped in a JSON body she sends while signed in with it.
    let r = s
        .req(Method::POST, "/rest/api/2/login-check")
        .header("Authorization", basic_header("alice", "alice"))
        .header("X-Atlassian-Token", "no-check")
        .header("Content-Type", "application/json")
        .body(r#"{"username":"bob","password":"\u0061lice","other":"\u0061\u006c\u0069\u0063\u0065"}"#);
    assert_eq!(status_of(r).await, 201);
    let journal = text_of_admin_requests(&s).await;
    assert!(
        !journal.contains(r"\\u0061lice") && !journal.contains(r"\u0061lice"),
        "{journal}"
    );
    assert!(!journal.contains(r"\\u0061\\u006c"), "{journal}");
    let entries: Value = serde_json::from_str(&journal).unwrap();
    let body: Value =
        serde_json::from_str(entries["requests"][0]["request"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["password"], "[redacted]");
    assert_eq!(body["username"], "bob");
}

#[tokio::test]
async fn n6_credentials_of_other_services_and_encoded_bodies_are_not_kept() {
    let s = Server::start();
    let t = s.secret("alice", "READ_WRITE").await;
    let secrets = [
        "q-access-0123456789",
        "q-token-0123456789",
        "h-apikey-0123456789",
        "h-private-0123456789",
        "b-gzip-0123456789",
    ];
    let gzipped = {
        // A gzip member of stored blocks: the secret is in it as bytes, and so in bodyAsBase64.
        let mut g = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
        let data = format!("{{\"s\": \"{}\"}}", secrets[4]);
        let len = data.len() as u16;
        g.push(1);
        g.extend_from_slice(&len.to_le_bytes());
        g.extend_from_slice(&(!len).to_le_bytes());
        g.extend_from_slice(data.as_bytes());
        g.extend_from_slice(&[0; 8]);
        g
    };
    let r = s
        .req(
            Method::POST,
            &format!(
                "/rest/api/2/upload?access_token={}&token={}&jql=x",
                secrets[0], secrets[1]
            ),
        )
        .header("Authorization", bearer(&t))
        .header("X-Atlassian-Token", "no-check")
        .header("X-Api-Key", secrets[2])
        .header("Private-Token", secrets[3])
        .header("Content-Encoding", "gzip")
        .body(gzipped.clone());
    assert_eq!(status_of(r).await, 201);
    let b64 = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "user:b64-secret-0123456789",
    );
    let r = s
        .req(Method::POST, "/rest/api/2/upload2")
        .header("Authorization", bearer(&t))
        .header("X-Atlassian-Token", "no-check")
        .body(b64.clone());
    assert_eq!(status_of(r).await, 201);
    let journal = text_of_admin_requests(&s).await;
    for secret in secrets.iter().copied().chain(["b64-secret-0123456789"]) {
        assert_eq!(
            fragments_in(&journal, secret),
            Vec::<String>::new(),
            "{secret}"
        );
    }
    let gz64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &gzipped);
    assert!(
        !journal.contains(&gz64[..24]) && !journal.contains(&b64[..24]),
        "{journal}"
    );
    assert!(journal.contains("[encoded body: "), "{journal}");
}

/// Found on the second look: names outside the lists (`api_token`, `oauth_token`, `jwt`,
/// `X-Api-Token`) were kept in clear. Now any name that says it holds a secret is a credential.
#[tokio::test]
async fn n6_a_credential_by_any_usual_name_is_not_kept() {
    let s = Server::start();
    let secrets = [
        "SuperSecretApiTok1",
        "OauthTokenValue22",
        "eyJhbGciOiJIUzI1NiJ9x",
        "HeaderSecret98765",
    ];
    let r = s
        .req(
            Method::GET,
            &format!(
                "/static/app.js?api_token={}&oauth_token={}&jwt={}&nextPageToken=cursor-1",
                secrets[0], secrets[1], secrets[2]
            ),
        )
        .header("X-Api-Token", secrets[3]);
    let _ = status_of(r).await;
    let journal = text_of_admin_requests(&s).await;
    for secret in secrets {
        assert_eq!(
            fragments_in(&journal, secret),
            Vec::<String>::new(),
            "{secret}"
        );
    }
    assert!(
        journal.contains("cursor-1"),
        "a page cursor is not a secret: {journal}"
    );
}
