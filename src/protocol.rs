//! The rules of the wire protocol ([docs/PROTOCOL.md]) that a server applies as well as the SDK,
//! written once: a collector that depends on `logship` checks ids and names, and recognizes
//! batch ids and the dropped-entries notice, with the same code that produces them.
//!
//! - §2 ids: an upload goes to `POST {base_url}/c/{collection}/{private_id}`. The private id is
//!   32 random bytes as 64 lowercase hex characters, a write credential that is never shown;
//!   the public id people see is the hex SHA-256 of the 32 raw bytes ([`PrivateId`]).
//! - §2 collection names: [`is_valid_collection`], [`COLLECTION_RULE`].
//! - §2 the body: a JSON array of entries, each still ending in `\n` ([`logtail_body`]).
//! - §2 batch ids: every upload carries a [`BATCH_HEADER`] of the form
//!   `<16 hex instance id>-<decimal batch sequence>` ([`BatchIds`]); a retry of a batch carries
//!   the same id, so a server stores each batch once.
//! - §4 loss accounting: the next upload after a loss carries a text entry
//!   [`dropped_notice`]`(n)`, `logship: dropped N entries`, without client time.
//!
//! ```
//! use logship::protocol::{self, PrivateId};
//!
//! let id = PrivateId::parse(&"00".repeat(32)).unwrap();
//! assert_eq!(id.public_id(), "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925");
//! assert!(protocol::is_valid_collection("myapp.example.com"));
//! assert!(!protocol::is_valid_collection("a/b"));
//!
//! let mut ids = protocol::BatchIds::new(0xab);
//! assert_eq!(ids.next_id(), "00000000000000ab-1");
//! assert_eq!(protocol::logtail_body([&b"{\"text\":\"a\"}\n"[..], b"{}\n"]), b"[{\"text\":\"a\"}\n,{}\n]");
//! assert_eq!(protocol::dropped_notice(3), "logship: dropped 3 entries");
//! ```
//!
//! [docs/PROTOCOL.md]: https://github.com/logship/logship/blob/main/docs/PROTOCOL.md

pub use crate::core::batch::{
    dropped_notice, logtail_body, BatchIds, BATCH_HEADER, DROPPED_NOTICE_PREFIX,
};
pub use crate::core::config::{is_valid_collection, COLLECTION_RULE};
pub use crate::core::ids::PrivateId;
