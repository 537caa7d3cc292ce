//! The storage node's gRPC interface, written by hand: what `protoc` would
//! generate from
//!
//! ```text
//! package alamos.example;
//! service Storage {
//!   rpc Append(AppendRequest) returns (AppendReply);
//!   rpc Read(ReadRequest) returns (ReadReply);
//! }
//! ```
//!
//! Two messages each way need no build script: prost's derive makes them
//! protobuf messages, and `tonic_prost::ProstCodec` carries them.

/// The service's full name, as gRPC paths spell it.
pub(crate) const SERVICE: &str = "alamos.example.Storage";
/// `Append`'s path: the route both edges record for it.
pub(crate) const APPEND: &str = "/alamos.example.Storage/Append";
/// `Read`'s path.
pub(crate) const READ: &str = "/alamos.example.Storage/Read";

/// Values to add to a channel.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct AppendRequest {
    #[prost(string, tag = "1")]
    pub(crate) channel: String,
    #[prost(double, repeated, tag = "2")]
    pub(crate) values: Vec<f64>,
}

/// How many values the channel holds after the append.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct AppendReply {
    #[prost(uint64, tag = "1")]
    pub(crate) stored: u64,
}

/// Which channel to read.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ReadRequest {
    #[prost(string, tag = "1")]
    pub(crate) channel: String,
}

/// A channel's values, oldest first.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ReadReply {
    #[prost(double, repeated, tag = "1")]
    pub(crate) values: Vec<f64>,
}
