//! PROTOCOL.md §2 ids: the private id (a write credential) and the public id people see.

use sha2::{Digest, Sha256};

/// 32 random bytes, written as 64 lowercase hex characters. Never printed: its `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateId([u8; 32]);

impl PrivateId {
    /// The id of these bytes (logship draws them from the system's random source).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        PrivateId(bytes)
    }

    /// Parses 64 lowercase hex characters.
    pub fn parse(hex_id: &str) -> Result<Self, &'static str> {
        let valid = hex_id.len() == 64
            && hex_id
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let mut bytes = [0u8; 32];
        match valid && hex::decode_to_slice(hex_id, &mut bytes).is_ok() {
            true => Ok(PrivateId(bytes)),
            false => Err("must be 64 lowercase hex characters"),
        }
    }

    /// The hex form, for the upload URL only.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The public id: SHA-256 of the 32 raw bytes, in hex.
    pub fn public_id(&self) -> String {
        hex::encode(Sha256::digest(self.0))
    }
}

impl std::fmt::Debug for PrivateId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateId(<redacted>)")
    }
}

impl<'de> serde::Deserialize<'de> for PrivateId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        PrivateId::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_id_is_sha256_of_raw_bytes() {
        let id = PrivateId::from_bytes([0u8; 32]);
        assert_eq!(id.to_hex(), "0".repeat(64));
        assert_eq!(
            id.public_id(),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
        assert_eq!(format!("{id:?}"), "PrivateId(<redacted>)");
        assert!(PrivateId::parse(&"A".repeat(64)).is_err());
        assert!(PrivateId::parse(&"a".repeat(63)).is_err());
        assert_eq!(
            PrivateId::parse(&"ab".repeat(32)).unwrap().to_hex(),
            "ab".repeat(32)
        );
    }
}
