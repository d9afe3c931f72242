//! The journal's promise as a property (SPEC §8, review 2 F2/F3/N6): whatever a request presents
//! as a secret — in its `Authorization` header, a cookie, a credential header or parameter, a
//! password field of its body — and wherever else it repeats it, in whatever form a client or a
//! template writes it, no 12 characters of it in a row reach the journal's JSON.

use proptest::prelude::*;
use tokenauth_stub::mocks::journal::{Arrived, Journal, Served};
use tokenauth_stub::mocks::journal_json::entry_json;

mod common;
use common::secret_places::{Built, build, form, fragments_in, place, presented};

/// The journal's view of a built request and its answer.
fn arrived_and_served(b: Built) -> (Arrived, Served) {
    (
        Arrived {
            method: b.method,
            url: b.url,
            scheme: "http",
            authority: None,
            client_ip: Some([127, 0, 0, 1].into()),
            headers: b.headers,
        },
        Served {
            body: b.body.into_bytes().into(),
            record_body: true,
            stub: None,
            answer: Some((b.answer_headers, b.answer_body.into_bytes())),
            answer_templated: false,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_twelve_characters_of_a_presented_secret_reach_the_journal(
        secret in "[A-Za-z0-9_-]{16,48}",
        presented in presented(),
        places in proptest::collection::vec((place(), form()), 0..4),
    ) {
        let (arrived, served) = arrived_and_served(build(&secret, presented, &places));
        let journal = Journal::new(4, None);
        journal.record(arrived, 200, None, Some(served));
        let (entries, _) = journal.newest(1);
        let text = entry_json(&entries[0], None).to_string();
        prop_assert_eq!(fragments_in(&text, &secret), Vec::<String>::new(), "{}", text.chars().take(2_000).collect::<String>());
    }
}
