//! Fuzzes reply decoding: any status, any `X-Tt-Logid` bytes, any body through
//! `AilyRequest::decode` (cancel and get) and `envelope::envelope_code`. Never a
//! panic; `Ok` only for code 0 with a run; errors of a reply kind carrying the
//! reply's status and code (see `check_decode`).
//!
//! Input: 2 bytes of status, 1 byte of log-id length (0 to 40; 0 = no header),
//! the log id, then the body.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/invariants.rs"]
mod invariants;

fuzz_target!(|data: &[u8]| {
    let (status, rest) = match data {
        [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]) % 900 + 100, rest),
        _ => (200, data),
    };
    let (log_id, body) = match rest.split_first() {
        Some((&n, rest)) if n % 41 != 0 && usize::from(n % 41) <= rest.len() => {
            let (log_id, body) = rest.split_at(usize::from(n % 41));
            (Some(log_id), body)
        }
        Some((_, rest)) => (None, rest),
        None => (None, rest),
    };
    invariants::check_decode(invariants::reply(status, log_id, body.to_vec()));
});
