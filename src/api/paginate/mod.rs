//! Lists: the page model ([`Page`], [`PageItem`], [`ListEndpoint`],
//! [`ListResponse`]) and following a list's pages, [`pages`], a `Stream` of items.
//!
//! A server cannot make a listing endless or big: it stops with an error after
//! [`MAX_PAGES`] pages, at a page token longer than [`MAX_PAGE_TOKEN_LEN`] bytes,
//! and at a repeated token; the tokens seen are kept as 64-bit hashes only (at most
//! [`MAX_PAGES`] of them), so a listing's memory is bounded whatever it is sent.

pub mod page;

pub use page::{ListEndpoint, ListResponse, Page, PageItem};

use std::collections::HashSet;
use std::collections::VecDeque;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};

use futures_core::Stream;
use tower::{Service, ServiceExt};

use crate::api::request::ApiRequest;
use crate::error::{Error, ErrorKind};
use crate::layers::api_call::Reply;

/// The most pages one listing follows (100,000 items at the server's largest page
/// size): past it, [`pages`] ends with a [`Decode`](ErrorKind::Decode) error instead
/// of following a server that hands out new page tokens forever.
pub const MAX_PAGES: usize = 1_000;

/// The longest page token followed, in bytes (the platform's are a few dozen): a
/// longer one ends [`pages`] with a [`Decode`](ErrorKind::Decode) error.
pub const MAX_PAGE_TOKEN_LEN: usize = 1_024;

/// The items of every page of `first`, in order, through `service`: it asks for the
/// next page with the previous page's `page_token` while `has_more` is true
/// (`next_page_token` is read too), stops on an empty token, and ends with a
/// [`Decode`](ErrorKind::Decode) error — not a loop — when the server repeats a
/// token, sends one longer than [`MAX_PAGE_TOKEN_LEN`], or would have it ask for
/// more than [`MAX_PAGES`] pages. Nothing is sent until the stream is polled; an
/// error ends the stream.
pub fn pages<E, S>(service: S, first: ApiRequest<E>) -> impl Stream<Item = Result<E::Item, Error>>
where
    E: ListEndpoint,
    S: Service<ApiRequest<E>, Response = Reply<ListResponse<E::Item>>> + Clone,
    S::Error: Into<Error>,
{
    struct State<E: ListEndpoint, S> {
        service: S,
        next: Option<ApiRequest<E>>,
        /// Hashes of the tokens followed: at most `MAX_PAGES` of them.
        seen: HashSet<u64>,
        pages: usize,
        items: VecDeque<E::Item>,
    }
    let state = State {
        service,
        next: Some(first),
        seen: HashSet::new(),
        pages: 0,
        items: VecDeque::new(),
    };
    futures_util::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(item) = state.items.pop_front() {
                return Some((Ok(item), state));
            }
            let request = state.next.take()?;
            state.pages += 1;
            let reply = state.service.clone().oneshot(request.clone()).await;
            let page = match reply {
                Ok(reply) => reply.into_data().page,
                Err(e) => return Some((Err(e.into()), state)),
            };
            if let Some(token) = page.next_page_token() {
                let stop = if token.len() > MAX_PAGE_TOKEN_LEN {
                    Some(format!(
                        "the server sent a page token of {} bytes (at most {MAX_PAGE_TOKEN_LEN} \
                         are followed): stopping",
                        token.len()
                    ))
                } else if state.pages >= MAX_PAGES {
                    Some(format!(
                        "the server has more than {MAX_PAGES} pages: stopping instead of \
                         following it forever"
                    ))
                } else {
                    None
                };
                if let Some(why) = stop {
                    return Some((Err(Error::new(ErrorKind::Decode, why)), state));
                }
                // A fixed-key hasher: a collision can only stop a listing early.
                let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(token);
                if !state.seen.insert(hash) {
                    let err = Error::new(
                        ErrorKind::Decode,
                        "the server repeated a page token: stopping instead of looping",
                    );
                    return Some((Err(err), state));
                }
                state.next = Some(request.page_token(token));
            }
            state.items.extend(page.items);
        }
    })
}
