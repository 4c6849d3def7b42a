//! An encoded response as it goes to the socket: bytes, and ranges of segment files that are
//! sent as they are (Fetch records), so they never pass through the broker's memory.

use bytes::Bytes;

use crate::file_slice::FileSlice;

/// One piece of a response frame, in wire order.
#[derive(Debug, Clone)]
pub enum FramePart {
    Bytes(Bytes),
    File(FileSlice),
}

/// A whole response frame, size prefix included.
#[derive(Debug, Clone, Default)]
pub struct ResponseFrame {
    parts: Vec<FramePart>,
}

impl ResponseFrame {
    pub fn push_bytes(&mut self, bytes: Bytes) {
        if !bytes.is_empty() {
            self.parts.push(FramePart::Bytes(bytes));
        }
    }

    pub fn push_file(&mut self, slice: FileSlice) {
        if !slice.is_empty() {
            self.parts.push(FramePart::File(slice));
        }
    }

    /// Appends the parts of `other`.
    pub fn append(&mut self, other: ResponseFrame) {
        self.parts.extend(other.parts);
    }

    pub fn parts(&self) -> &[FramePart] {
        &self.parts
    }

    /// Bytes on the wire.
    pub fn len(&self) -> u64 {
        self.parts
            .iter()
            .map(|part| match part {
                FramePart::Bytes(bytes) => bytes.len() as u64,
                FramePart::File(slice) => slice.len(),
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The frame as one buffer, file ranges read in.
    #[cfg(test)]
    pub fn to_bytes(&self) -> std::io::Result<Bytes> {
        let mut out = Vec::with_capacity(self.len() as usize);
        for part in &self.parts {
            match part {
                FramePart::Bytes(bytes) => out.extend_from_slice(bytes),
                FramePart::File(slice) => out.extend_from_slice(&slice.read()?),
            }
        }
        Ok(Bytes::from(out))
    }
}

impl From<Bytes> for ResponseFrame {
    fn from(bytes: Bytes) -> Self {
        let mut frame = Self::default();
        frame.push_bytes(bytes);
        frame
    }
}
