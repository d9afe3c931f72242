//! The recorder: what is on disk while a recording runs, and what its stop answers.

use super::*;

fn exchange(url: &str, body: &str) -> Exchange {
    Exchange {
        id: wiremock_engine::mapping::random_uuid(),
        method: "GET".into(),
        url: url.into(),
        request_headers: vec![],
        request_body: vec![],
        status: 200,
        response_headers: vec![("Content-Type".into(), "application/json".into())],
        response_body: body.as_bytes().to_vec(),
        proxied: true,
    }
}

#[test]
fn each_exchange_of_a_recording_is_on_disk_before_the_recording_stops() {
    let dir = tempfile::tempdir().unwrap();
    let r = Recorder::new(Some(dir.path().to_path_buf()));
    r.capture(exchange("/before", "{}"));
    assert!(r.start(RecordSpec::default(), None).unwrap());
    assert!(!r.start(RecordSpec::default(), None).unwrap());
    let e = exchange("/rest/api/2/issue/P-1", r#"{"key":"P-1"}"#);
    r.capture(e.clone());
    let file = dir
        .path()
        .join("mappings")
        .join(format!("rest_api_2_issue_p-1-{}.json", e.id));
    let on_disk: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(on_disk["response"]["body"], r#"{"key":"P-1"}"#);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let (recorded, _) = r.stop().unwrap();
    // Only what came after the start.
    assert_eq!(recorded.mappings.len(), 1);
    assert_eq!(r.status(), Status::Stopped);
    assert!(matches!(r.stop(), Err(RecorderError::NotRecording)));
    // The snapshot takes everything kept.
    let spec = RecordSpec {
        persist: false,
        ..RecordSpec::default()
    };
    assert_eq!(r.snapshot(&spec).unwrap().mappings.len(), 2);
}

fn on_disk(dir: &Path) -> Vec<Value> {
    let mut out: Vec<Value> = std::fs::read_dir(dir.join("mappings"))
        .unwrap()
        .map(|e| serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap())
        .collect();
    out.sort_by_key(|m| m["requiredScenarioState"].as_str().map(str::len));
    out
}

#[test]
fn a_repeat_turns_what_is_on_disk_into_a_scenario_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let r = Recorder::new(Some(dir.path().to_path_buf()));
    r.start(RecordSpec::default(), None).unwrap();
    r.capture(exchange("/rest/api/2/counter", r#"{"v":1}"#));
    assert_eq!(on_disk(dir.path())[0].get("scenarioName"), None);
    r.capture(exchange("/rest/api/2/other", "{}"));
    r.capture(exchange("/rest/api/2/counter", r#"{"v":2}"#));
    let files = on_disk(dir.path());
    assert_eq!(files.len(), 3);
    let scenario: Vec<&Value> = files
        .iter()
        .filter(|m| m.get("scenarioName").is_some())
        .collect();
    assert_eq!(scenario.len(), 2);
    assert_eq!(scenario[0]["requiredScenarioState"], "Started");
    assert_eq!(
        scenario[0]["newScenarioState"],
        "scenario-1-rest-api-2-counter-2"
    );
    assert_eq!(scenario[0]["response"]["body"], r#"{"v":1}"#);
    assert_eq!(scenario[1]["response"]["body"], r#"{"v":2}"#);
    // What stop writes is what is there already.
    let (recorded, _) = r.stop().unwrap();
    assert_eq!(recorded.mappings.len(), 3);
    assert_eq!(on_disk(dir.path()).len(), 3);
}

#[test]
fn without_scenarios_a_repeat_replaces_its_predecessor_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let r = Recorder::new(Some(dir.path().to_path_buf()));
    let spec = RecordSpec {
        repeats_as_scenarios: false,
        ..RecordSpec::default()
    };
    r.start(spec, None).unwrap();
    r.capture(exchange("/a", r#"{"v":1}"#));
    r.capture(exchange("/a", r#"{"v":2}"#));
    let files = on_disk(dir.path());
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["response"]["body"], r#"{"v":2}"#);
}

#[test]
fn a_full_recording_records_no_more_and_keeps_all_it_holds() {
    let r = Recorder::new(None);
    let spec = RecordSpec {
        persist: false,
        ..RecordSpec::default()
    };
    r.capture(exchange("/before", "{}"));
    r.start(spec, None).unwrap();
    for i in 0..MAX_KEPT + 5 {
        r.capture(exchange(&format!("/e{i}"), "{}"));
    }
    let (recorded, _) = r.stop().unwrap();
    // What came before made room; then the recording stopped growing, whole.
    assert_eq!(recorded.mappings.len(), MAX_KEPT);
    assert_eq!(recorded.mappings.last().unwrap()["request"]["url"], "/e0");
}

#[cfg(unix)]
#[test]
fn a_linked_mappings_folder_is_not_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("mappings")).unwrap();
    let r = Recorder::new(Some(dir.path().to_path_buf()));
    r.start(RecordSpec::default(), None).unwrap();
    r.capture(exchange("/x", "{}"));
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    assert!(matches!(r.stop(), Err(RecorderError::Write(..))));
}

#[test]
fn without_a_folder_a_persisted_recording_is_refused_before_it_starts() {
    let r = Recorder::new(None);
    assert!(matches!(
        r.start(RecordSpec::default(), None),
        Err(RecorderError::NoFolder)
    ));
    assert_eq!(r.status(), Status::NeverStarted);
}

#[test]
fn a_recording_that_cannot_be_written_keeps_recording_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the mappings folder should be: every write fails.
    std::fs::write(dir.path().join("mappings"), b"not a folder").unwrap();
    let r = Recorder::new(Some(dir.path().to_path_buf()));
    r.start(RecordSpec::default(), None).unwrap();
    r.capture(exchange("/a", "{}"));
    assert!(matches!(r.stop(), Err(RecorderError::Write(..))));
    assert_eq!(r.status(), Status::Recording);
    std::fs::remove_file(dir.path().join("mappings")).unwrap();
    let (recorded, _) = r.stop().unwrap();
    assert_eq!(recorded.mappings.len(), 1);
    assert_eq!(
        std::fs::read_dir(dir.path().join("mappings"))
            .unwrap()
            .count(),
        1
    );
}
