//! Fuzzes request paths: for any pair of ids, `CancelRequest::new` and
//! `GetRunRequest::new` either fail naming the invalid field, or build exactly
//! `/open-apis/aily/v1/sessions/<seg>/runs/<seg>[/cancel]` with each segment free of
//! `/`, `?`, `#`, never `.`/`..`, decoding back to its id, and kept as is in the
//! HTTP request and in the absolute URI for every base (see `check_ids`).
//!
//! Input: the session id and the run id, separated by the first 0xFF byte (which
//! never occurs in UTF-8); each is read as UTF-8, invalid sequences replaced.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/invariants.rs"]
mod invariants;

fuzz_target!(|data: &[u8]| {
    let (session, run) = match data.iter().position(|&b| b == 0xFF) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &b""[..]),
    };
    let session = String::from_utf8_lossy(session);
    let run = String::from_utf8_lossy(run);
    invariants::check_ids(&session, &run);
});
