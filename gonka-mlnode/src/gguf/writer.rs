//! A minimal GGUF v3 writer: typed metadata key/values and F32 tensors, 32-byte aligned.
//!
//! Layout: magic `GGUF`, version 3, tensor count, metadata count (u64), metadata entries, tensor
//! infos (name, dims fastest-varying first, type, offset), padding to the alignment, then the
//! tensor data, each tensor padded to the alignment. All integers little-endian.

use std::io::{self, Write};

const ALIGN: usize = 32;
const GGML_TYPE_F32: u32 = 0;

/// A GGUF metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    /// `GGUF_TYPE_UINT32`.
    U32(u32),
    /// `GGUF_TYPE_INT32`.
    I32(i32),
    /// `GGUF_TYPE_FLOAT32`.
    F32(f32),
    /// `GGUF_TYPE_BOOL`.
    Bool(bool),
    /// `GGUF_TYPE_STRING`.
    Str(String),
    /// Array of strings.
    StrArray(Vec<String>),
    /// Array of f32.
    F32Array(Vec<f32>),
    /// Array of i32.
    I32Array(Vec<i32>),
}

impl GgufValue {
    fn type_id(&self) -> u32 {
        match self {
            GgufValue::U32(_) => 4,
            GgufValue::I32(_) => 5,
            GgufValue::F32(_) => 6,
            GgufValue::Bool(_) => 7,
            GgufValue::Str(_) => 8,
            GgufValue::StrArray(_) | GgufValue::F32Array(_) | GgufValue::I32Array(_) => 9,
        }
    }
}

struct Tensor {
    name: String,
    /// Shape in row-major order (slowest-varying first), as in numpy.
    shape: Vec<usize>,
    data: Vec<f32>,
}

/// Collects metadata and tensors, then writes a GGUF v3 file.
#[derive(Default)]
pub struct GgufWriter {
    metadata: Vec<(String, GgufValue)>,
    tensors: Vec<Tensor>,
}

impl std::fmt::Debug for GgufWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufWriter")
            .field("metadata", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl GgufWriter {
    /// An empty file description.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a metadata entry (written in insertion order).
    pub fn kv(&mut self, key: impl Into<String>, value: GgufValue) -> &mut Self {
        self.metadata.push((key.into(), value));
        self
    }

    /// Adds an F32 tensor with a row-major `shape` (e.g. `[n_vocab, dim]`).
    ///
    /// # Errors
    /// `InvalidInput` when `data.len()` is not the product of `shape`.
    pub fn tensor(
        &mut self,
        name: impl Into<String>,
        shape: &[usize],
        data: Vec<f32>,
    ) -> io::Result<&mut Self> {
        let name = name.into();
        let expected: usize = shape.iter().product();
        if data.len() != expected {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "tensor {name}: {} values for shape {shape:?} ({expected})",
                    data.len()
                ),
            ));
        }
        self.tensors.push(Tensor {
            name,
            shape: shape.to_vec(),
            data,
        });
        Ok(self)
    }

    /// Serializes the whole file into `out`.
    ///
    /// # Errors
    /// Any I/O error of `out`.
    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        let mut head = Vec::new();
        head.extend_from_slice(b"GGUF");
        head.extend_from_slice(&3u32.to_le_bytes());
        head.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        head.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            put_str(&mut head, key);
            head.extend_from_slice(&value.type_id().to_le_bytes());
            put_value(&mut head, value);
        }
        let mut offset = 0usize;
        for t in &self.tensors {
            put_str(&mut head, &t.name);
            head.extend_from_slice(&(t.shape.len() as u32).to_le_bytes());
            for dim in t.shape.iter().rev() {
                head.extend_from_slice(&(*dim as u64).to_le_bytes());
            }
            head.extend_from_slice(&GGML_TYPE_F32.to_le_bytes());
            head.extend_from_slice(&(offset as u64).to_le_bytes());
            offset += pad(t.data.len() * 4);
        }
        head.resize(pad(head.len()), 0);
        out.write_all(&head)?;
        let mut buf = Vec::new();
        for t in &self.tensors {
            buf.clear();
            buf.reserve(pad(t.data.len() * 4));
            for v in &t.data {
                buf.extend_from_slice(&v.to_le_bytes());
            }
            buf.resize(pad(buf.len()), 0);
            out.write_all(&buf)?;
        }
        Ok(())
    }
}

fn pad(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

fn put_value(buf: &mut Vec<u8>, value: &GgufValue) {
    match value {
        GgufValue::U32(v) => buf.extend_from_slice(&v.to_le_bytes()),
        GgufValue::I32(v) => buf.extend_from_slice(&v.to_le_bytes()),
        GgufValue::F32(v) => buf.extend_from_slice(&v.to_le_bytes()),
        GgufValue::Bool(v) => buf.push(u8::from(*v)),
        GgufValue::Str(s) => put_str(buf, s),
        GgufValue::StrArray(items) => {
            buf.extend_from_slice(&8u32.to_le_bytes());
            buf.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for s in items {
                put_str(buf, s);
            }
        }
        GgufValue::F32Array(items) => {
            buf.extend_from_slice(&6u32.to_le_bytes());
            buf.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for v in items {
                buf.extend_from_slice(&v.to_le_bytes());
            }
        }
        GgufValue::I32Array(items) => {
            buf.extend_from_slice(&5u32.to_le_bytes());
            buf.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for v in items {
                buf.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_tensor_info_and_alignment() {
        let mut w = GgufWriter::new();
        w.kv("general.architecture", GgufValue::Str("llama".into()));
        w.tensor("t", &[2, 3], vec![1.0; 6]).unwrap();
        let mut out = Vec::new();
        w.write(&mut out).unwrap();
        assert_eq!(&out[..4], b"GGUF");
        assert_eq!(u32::from_le_bytes(out[4..8].try_into().unwrap()), 3);
        assert_eq!(u64::from_le_bytes(out[8..16].try_into().unwrap()), 1);
        assert_eq!(u64::from_le_bytes(out[16..24].try_into().unwrap()), 1);
        // Data section starts aligned and holds 6 f32 padded to 32 bytes.
        assert_eq!(out.len() % 32, 0);
        let data = &out[out.len() - 32..];
        assert_eq!(f32::from_le_bytes(data[..4].try_into().unwrap()), 1.0);
        // Dims are written fastest-varying first: 3 then 2.
        let name = [1, 0, 0, 0, 0, 0, 0, 0, b't'];
        let pos = out.windows(9).position(|w| w == name).unwrap() + 9;
        assert_eq!(u32::from_le_bytes(out[pos..pos + 4].try_into().unwrap()), 2);
        let dims = &out[pos + 4..pos + 4 + 16];
        assert_eq!(u64::from_le_bytes(dims[..8].try_into().unwrap()), 3);
        assert_eq!(u64::from_le_bytes(dims[8..].try_into().unwrap()), 2);
    }

    #[test]
    fn wrong_tensor_size_is_an_error() {
        assert!(GgufWriter::new()
            .tensor("t", &[2, 2], vec![0.0; 3])
            .is_err());
    }
}
