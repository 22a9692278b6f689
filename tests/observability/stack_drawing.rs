//! The README's drawing of the stack lists the typed tier's layers exactly as
//! `Client::stack` builds them (read off the stack's own type), outer to inner.

use aily_client::{CancelRequest, Client, Credentials, GetRunRequest};

/// The layer names of the drawing's typed tier (the first word of each line, up to
/// a `(`): the same with or without the feature `metrics`, whose instruments are
/// observers of the operation and attempt layers, not layers.
fn drawing() -> Vec<String> {
    include_str!("../../README.md")
        .lines()
        .skip_while(|l| !l.starts_with("typed tier"))
        .skip(1)
        .take_while(|l| !l.starts_with("http tier"))
        .map(|l| {
            let word = l.split_whitespace().next().expect("a layer per line");
            word.split('(').next().unwrap_or(word).to_owned()
        })
        .collect()
}

#[test]
fn the_readme_drawing_is_the_typed_tier_of_the_default_stack() {
    let client = Client::builder()
        .credentials(Credentials::tenant_token("t-drawing"))
        .build()
        .unwrap();
    let drawn = drawing();
    assert!(drawn.len() >= 8, "{drawn:?}");
    assert_eq!(client.typed_layers::<CancelRequest>(), drawn);
    assert_eq!(client.typed_layers::<GetRunRequest>(), drawn);
}
