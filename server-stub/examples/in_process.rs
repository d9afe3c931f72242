//! The stub inside a Rust test: start it on a free port with a fixture token, call it, stop it.
//! (`cargo test` compiles this; the manual, docs/src/developers/rust-test.md, shows it as is.)

use tokenauth_stub::testing::TestServer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A fixture secret; in a real suite, paste one from `tokenauth-stub token mint`.
    let secret = tokenauth_core::token_format::generate()?.text;
    let server = TestServer::builder()
        .users_toml(format!(
            r#"
            [[users]]
            name = "ci-bot"
            password = "not-used"
            groups = ["jira-users"]
            [[users.tokens]]
            description = "CI fixture"
            secret = "{secret}"
            scope = "READ_WRITE"
            "#
        ))
        .start()
        .await?;

    let _ = rustls::crypto::ring::default_provider().install_default();
    let me = reqwest::Client::new()
        .get(server.uri("/rest/api/2/myself"))
        .bearer_auth(&secret)
        .send()
        .await?;
    assert_eq!(me.status(), 200);
    println!("{} answered {}", server.url(), me.text().await?);

    // Dropping the server stops it too; `stop` also waits until its data is removed.
    server.stop().await?;
    Ok(())
}
