//! Following a list's pages: [`pages`], a `Stream` of items.

use std::collections::HashSet;
use std::collections::VecDeque;

use futures_core::Stream;
use tower::{Service, ServiceExt};

use crate::error::{BoxError, Error, ErrorKind};
use crate::request::ApiRequest;
use crate::sessions::{ListEndpoint, ListResponse};

/// The items of every page of `first`, in order, through `service`: it asks for the
/// next page with the previous page's `page_token` while `has_more` is true
/// (`next_page_token` is read too), stops on an empty token, and ends with a
/// [`Decode`](ErrorKind::Decode) error — not a loop — when the server repeats a
/// token. Nothing is sent until the stream is polled; an error ends the stream.
pub fn pages<E, S>(service: S, first: ApiRequest<E>) -> impl Stream<Item = Result<E::Item, Error>>
where
    E: ListEndpoint,
    S: Service<ApiRequest<E>, Response = ListResponse<E::Item>> + Clone,
    S::Error: Into<BoxError>,
{
    struct State<E: ListEndpoint, S> {
        service: S,
        next: Option<ApiRequest<E>>,
        seen: HashSet<String>,
        items: VecDeque<E::Item>,
    }
    let state = State {
        service,
        next: Some(first),
        seen: HashSet::new(),
        items: VecDeque::new(),
    };
    futures_util::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(item) = state.items.pop_front() {
                return Some((Ok(item), state));
            }
            let request = state.next.take()?;
            let reply = state.service.clone().oneshot(request.clone()).await;
            let page = match reply {
                Ok(reply) => reply.page,
                Err(e) => return Some((Err(Error::from_box(e.into())), state)),
            };
            if let Some(token) = page.next_page_token() {
                if !state.seen.insert(token.to_owned()) {
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
