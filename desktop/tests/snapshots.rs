//! The sign-in screen rendered with wgpu and compared with the committed picture
//! (`tests/snapshots/`); `UPDATE_SNAPSHOTS=1` writes a new one after an intended change.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use egui_kittest::Harness;
use tokenauth_desktop::profiles::Profiles;
use tokenauth_desktop::{DesktopApp, KeychainChoice, Launch};

#[test]
fn the_sign_in_screen_looks_as_designed() {
    let launch = Launch {
        url: Some("http://127.0.0.1:2990".into()),
        user: Some("admin".into()),
        keychain: KeychainChoice::Off,
        ..Launch::default()
    };
    let mut app = Harness::builder()
        .with_size([720.0, 320.0])
        .wgpu()
        .build_eframe(move |cc| {
            DesktopApp::new(&cc.egui_ctx, Profiles::default(), launch).unwrap()
        });
    app.run();
    app.snapshot("sign_in");
}
