//! The artifact vector format (docs/poc-v2.md §2 step 8): [`K_DIM`] IEEE half-precision values,
//! little-endian, [`VECTOR_BYTES`] bytes, standard base64 with padding (32 characters).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use half::f16;

/// Number of coordinates in an artifact vector (`k_dim`).
pub const K_DIM: usize = 12;
/// Size of an encoded artifact vector in bytes (`K_DIM` × 2).
pub const VECTOR_BYTES: usize = K_DIM * 2;

/// Why an artifact vector could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodingError {
    /// The text is not valid standard (padded) base64.
    #[error("vector_b64 is not valid base64: {0}")]
    Base64(String),
    /// The decoded vector does not have exactly [`VECTOR_BYTES`] bytes.
    #[error("vector has {actual} bytes, expected {VECTOR_BYTES} ({K_DIM} float16 values)")]
    WrongLength {
        /// The number of bytes received.
        actual: usize,
    },
    /// A coordinate is NaN or infinite (fp16 exponent 0x1F).
    #[error("vector coordinate {index} is not finite")]
    NonFinite {
        /// 0-based position of the offending coordinate.
        index: usize,
    },
}

/// Encodes float32 values as float16 little-endian bytes (round to nearest even, subnormals
/// kept, overflow to ±infinity). Any length is accepted; artifacts use [`K_DIM`] values.
pub fn to_f16_le_bytes(values: &[f32]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|&v| f16::from_f32(v).to_le_bytes())
        .collect()
}

/// Encodes a vector as the artifact wire text: float16 little-endian bytes in standard base64.
pub fn encode_vector_b64(values: &[f32; K_DIM]) -> String {
    STANDARD.encode(to_f16_le_bytes(values))
}

/// Encodes raw bytes as standard padded base64 (the wire form of `vector_bytes`).
pub fn encode_b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes base64 text to raw bytes without looking at their length.
///
/// # Errors
/// [`EncodingError::Base64`] when the text is not standard padded base64.
pub fn decode_b64(text: &str) -> Result<Vec<u8>, EncodingError> {
    STANDARD
        .decode(text)
        .map_err(|e| EncodingError::Base64(e.to_string()))
}

/// Decodes raw artifact bytes into float32 values.
///
/// # Errors
/// [`EncodingError::WrongLength`] unless there are exactly [`VECTOR_BYTES`] bytes;
/// [`EncodingError::NonFinite`] when a coordinate is NaN or infinite.
pub fn decode_vector_bytes(bytes: &[u8]) -> Result<[f32; K_DIM], EncodingError> {
    if bytes.len() != VECTOR_BYTES {
        return Err(EncodingError::WrongLength {
            actual: bytes.len(),
        });
    }
    let mut out = [0f32; K_DIM];
    for (index, (slot, pair)) in out.iter_mut().zip(bytes.chunks_exact(2)).enumerate() {
        let value = f16::from_le_bytes([pair[0], pair[1]]);
        if !value.is_finite() {
            return Err(EncodingError::NonFinite { index });
        }
        *slot = value.to_f32();
    }
    Ok(out)
}

/// Decodes the artifact wire text (`vector_b64`) into float32 values.
///
/// # Errors
/// Any [`EncodingError`]: bad base64, wrong length, or a non-finite coordinate.
pub fn decode_vector_b64(text: &str) -> Result<[f32; K_DIM], EncodingError> {
    decode_vector_bytes(&decode_b64(text)?)
}

/// Rounds float32 values through float16 and back, i.e. what a receiver of
/// [`encode_vector_b64`] sees.
pub fn quantize_f16(values: &[f32; K_DIM]) -> [f32; K_DIM] {
    values.map(|v| f16::from_f32(v).to_f32())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A fixed unit-ish vector with exactly representable, subnormal and rounding cases.
    const SAMPLE: [f32; K_DIM] = [
        0.5,
        -0.25,
        1.0,
        -1.0,
        0.1,
        -0.1,
        0.333_333_34,
        6.0e-8,
        -3.0e-5,
        0.0,
        -0.0,
        0.999_9,
    ];

    #[test]
    fn known_answer_encoding_of_a_fixed_vector() {
        // Obtained once with Python's standard library: the values rounded to float32 with
        // struct.unpack('<12f', struct.pack('<12f', *SAMPLE)), then struct.pack('<12e', ...)
        // (IEEE half, round to nearest even) and base64.b64encode.
        assert_eq!(
            hex(&to_f16_le_bytes(&SAMPLE)),
            "0038 00b4 003c 00bc 662e 66ae 5535 0100 f781 0000 0080 003c".replace(' ', "")
        );
        assert_eq!(
            encode_vector_b64(&SAMPLE),
            "ADgAtAA8ALxmLmauVTUBAPeBAAAAgAA8"
        );
    }

    #[test]
    fn encoded_vector_is_24_bytes_and_32_base64_chars() {
        let text = encode_vector_b64(&SAMPLE);
        assert_eq!(text.len(), 32);
        assert_eq!(decode_b64(&text).unwrap().len(), VECTOR_BYTES);
    }

    #[test]
    fn decode_inverts_encode_up_to_f16_rounding() {
        let decoded = decode_vector_b64(&encode_vector_b64(&SAMPLE)).unwrap();
        assert_eq!(decoded, quantize_f16(&SAMPLE));
    }

    #[test]
    fn wrong_length_is_reported_with_the_length() {
        let text = STANDARD.encode([0u8; 22]);
        assert_eq!(
            decode_vector_b64(&text),
            Err(EncodingError::WrongLength { actual: 22 })
        );
        assert_eq!(
            decode_vector_b64(""),
            Err(EncodingError::WrongLength { actual: 0 })
        );
    }

    #[test]
    fn bad_base64_is_reported() {
        assert!(matches!(
            decode_vector_b64("not base64!"),
            Err(EncodingError::Base64(_))
        ));
        // Unpadded text is not standard base64.
        let unpadded = STANDARD.encode([1u8; 23]).trim_end_matches('=').to_string();
        assert!(matches!(
            decode_vector_b64(&unpadded),
            Err(EncodingError::Base64(_))
        ));
    }

    #[test]
    fn nan_and_infinity_coordinates_are_rejected_with_their_index() {
        let mut bytes = to_f16_le_bytes(&SAMPLE);
        bytes[6..8].copy_from_slice(&f16::INFINITY.to_le_bytes());
        assert_eq!(
            decode_vector_bytes(&bytes),
            Err(EncodingError::NonFinite { index: 3 })
        );
        bytes[6..8].copy_from_slice(&f16::NAN.to_le_bytes());
        assert_eq!(
            decode_vector_bytes(&bytes),
            Err(EncodingError::NonFinite { index: 3 })
        );
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_text_never_panics(text in ".{0,64}") {
            let _ = decode_vector_b64(&text);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_vector_bytes(&bytes);
            let _ = decode_vector_b64(&STANDARD.encode(&bytes));
        }

        #[test]
        fn finite_vectors_round_trip_through_the_wire_format(values in proptest::array::uniform12(-2.0f32..2.0)) {
            let decoded = decode_vector_b64(&encode_vector_b64(&values)).unwrap();
            prop_assert_eq!(decoded, quantize_f16(&values));
        }
    }
}
