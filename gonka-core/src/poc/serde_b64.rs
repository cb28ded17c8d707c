//! Serde helpers for the base64 fields of the proof wire format (`vector_bytes`, `proof`).

/// `Vec<u8>` as one standard base64 string.
pub mod bytes {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

/// `Vec<[u8; 32]>` as an array of standard base64 strings, each exactly 32 bytes decoded.
pub mod hashes {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::poc::mmr::Hash;

    pub fn serialize<S: Serializer>(hashes: &[Hash], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(hashes.len()))?;
        for h in hashes {
            seq.serialize_element(&STANDARD.encode(h))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Hash>, D::Error> {
        Vec::<String>::deserialize(d)?
            .into_iter()
            .map(|text| {
                let bytes = STANDARD.decode(text).map_err(serde::de::Error::custom)?;
                Hash::try_from(bytes.as_slice()).map_err(|_| {
                    serde::de::Error::custom(format!(
                        "proof hash has {} bytes, expected 32",
                        bytes.len()
                    ))
                })
            })
            .collect()
    }
}
