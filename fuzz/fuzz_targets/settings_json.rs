//! A settings document from the wire: merging and validating it never panics, and a document
//! that validates survives a round trip through JSON unchanged.
#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use tokenauth_core::settings::Settings;

fuzz_target!(|data: &[u8]| {
    let Ok(patch) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let groups: BTreeSet<String> = ["jira-users".to_owned()].into_iter().collect();
    if let Ok(settings) = Settings::default().patched(&patch)
        && settings.validate(&groups).is_ok()
    {
        let text = serde_json::to_string(&settings).unwrap();
        let back: Settings = serde_json::from_str(&text).unwrap();
        assert_eq!(back, settings);
    }
});
