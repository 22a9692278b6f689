//! The endpoints: one module per resource ([`sessions`], [`messages`], [`runs`],
//! [`skills`], [`knowledge`], [`data_assets`], [`app_stats`], [`agents`]), the seam
//! every endpoint plugs into ([`request`]: the `Endpoint` trait, paths and
//! operations; [`multipart`] bodies), the reply envelope ([`envelope`]), pages
//! ([`paginate`]), event streams ([`sse`]) and the lenient wire types shared by the
//! models (`wire`).

pub mod agents;
pub mod app_stats;
pub mod data_assets;
pub mod envelope;
pub mod knowledge;
pub mod messages;
pub mod multipart;
pub mod paginate;
pub mod request;
pub mod runs;
pub mod sessions;
pub mod skills;
pub mod sse;
pub(crate) mod wire;
