//! A structural pre-check of request bodies, run before `kafka-protocol` decodes them.
//!
//! The crate trusts array counts: it calls `Vec::with_capacity(count)` before reading any
//! element, so a 4-byte count of 2^31 makes it try to allocate gigabytes and abort the
//! process. This walker follows the same wire layout (`layouts.rs`) for every API version we
//! advertise and checks each count against the bytes that remain (every element takes at
//! least one byte), and every length against the frame, without allocating anything.

mod layouts;
#[cfg(test)]
pub(crate) mod samples;

use kafka_protocol::messages::ApiKey;

use layouts::{layout, Field, Kind, Kind::*};

/// Whether this guard knows the layout of `api` (every advertised API must be known).
pub fn covers(api: ApiKey) -> bool {
    layout(api).is_some()
}

/// Checks that `body` (the request after its header) is structurally sound for `api` at
/// `version`. The error names the first problem.
pub fn check_body(api: ApiKey, version: i16, body: &[u8]) -> Result<(), String> {
    let (fields, flexible_since) = layout(api).ok_or_else(|| format!("no layout for {api:?}"))?;
    let mut walker = Walker {
        bytes: body,
        at: 0,
        version,
        flexible: version >= flexible_since,
    };
    walker.walk_struct(fields)
}

/// Checks a request header of `header_version` (1 or 2) and returns its length in bytes.
pub fn check_header(header_version: i16, frame: &[u8]) -> Result<usize, String> {
    let mut walker = Walker {
        bytes: frame,
        at: 0,
        version: 0,
        flexible: false,
    };
    walker.take(8)?;
    // The client id keeps its i16 length even in the flexible header v2.
    walker.string()?;
    if header_version >= 2 {
        walker.tagged_fields(&[])?;
    }
    Ok(walker.at)
}

struct Walker<'a> {
    bytes: &'a [u8],
    at: usize,
    version: i16,
    flexible: bool,
}

impl<'a> Walker<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], String> {
        if len > self.remaining() {
            return Err(format!(
                "needs {len} bytes at {}, {} remain",
                self.at,
                self.remaining()
            ));
        }
        let bytes = self.bytes;
        let taken = &bytes[self.at..self.at + len];
        self.at += len;
        Ok(taken)
    }

    fn int16(&mut self) -> Result<i16, String> {
        let bytes = self.take(2)?;
        Ok(i16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn int32(&mut self) -> Result<i32, String> {
        let bytes = self.take(4)?;
        Ok(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn unsigned_varint(&mut self) -> Result<u32, String> {
        let mut value = 0u32;
        for shift in (0..35).step_by(7) {
            let byte = self.take(1)?[0];
            value |= u32::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint longer than 5 bytes".into())
    }

    /// A length or count: `None` for null, else checked to fit in what remains, each unit
    /// taking at least `unit_bytes`.
    fn length(
        &mut self,
        classic: Result<i64, String>,
        unit_bytes: usize,
    ) -> Result<Option<usize>, String> {
        let length = classic?;
        if length < 0 {
            return Ok(None);
        }
        let length = length as usize;
        if length.saturating_mul(unit_bytes) > self.remaining() {
            return Err(format!(
                "length {length} exceeds the {} bytes that remain",
                self.remaining()
            ));
        }
        Ok(Some(length))
    }

    fn classic_or_compact(&mut self, classic_i16: bool) -> Result<i64, String> {
        if self.flexible {
            Ok(i64::from(self.unsigned_varint()?) - 1)
        } else if classic_i16 {
            Ok(i64::from(self.int16()?))
        } else {
            Ok(i64::from(self.int32()?))
        }
    }

    fn string(&mut self) -> Result<(), String> {
        let length = self.classic_or_compact(true);
        if let Some(length) = self.length(length, 1)? {
            self.take(length)?;
        }
        Ok(())
    }

    fn bytes(&mut self) -> Result<(), String> {
        let length = self.classic_or_compact(false);
        if let Some(length) = self.length(length, 1)? {
            self.take(length)?;
        }
        Ok(())
    }

    fn array(
        &mut self,
        mut element: impl FnMut(&mut Self) -> Result<(), String>,
        element_min_bytes: usize,
    ) -> Result<(), String> {
        let count = self.classic_or_compact(false);
        if let Some(count) = self.length(count, element_min_bytes)? {
            for _ in 0..count {
                element(self)?;
            }
        }
        Ok(())
    }

    /// A struct's tagged fields: unknown ones are skipped by their size; the value of one of
    /// `known` must take exactly its size.
    fn tagged_fields(&mut self, known: &[Field]) -> Result<(), String> {
        let count = self.unsigned_varint()? as usize;
        if count.saturating_mul(2) > self.remaining() {
            return Err(format!(
                "{count} tagged fields cannot fit in {} bytes",
                self.remaining()
            ));
        }
        for _ in 0..count {
            let tag = self.unsigned_varint()?;
            let size = self.unsigned_varint()? as usize;
            let value = known.iter().find_map(|field| match field.kind {
                Tagged(known_tag, value) if known_tag == tag && self.has(field) => Some(value),
                _ => None,
            });
            let Some(value) = value else {
                self.take(size)?;
                continue;
            };
            let start = self.at;
            self.walk(*value)?;
            if self.at - start != size {
                return Err(format!(
                    "tagged field {tag} takes {} bytes, not the {size} its size says",
                    self.at - start
                ));
            }
        }
        Ok(())
    }

    /// Whether the version walked has `field`.
    fn has(&self, field: &Field) -> bool {
        (field.since..=field.until).contains(&self.version)
    }

    fn walk_struct(&mut self, fields: &'static [Field]) -> Result<(), String> {
        for field in fields {
            if self.has(field) && !matches!(field.kind, Tagged(..)) {
                self.walk(field.kind)?;
            }
        }
        if self.flexible {
            self.tagged_fields(fields)?;
        }
        Ok(())
    }

    fn walk(&mut self, kind: Kind) -> Result<(), String> {
        match kind {
            Int8 => drop(self.take(1)?),
            Int16 => drop(self.take(2)?),
            Int32 => drop(self.take(4)?),
            Int64 => drop(self.take(8)?),
            Uuid => drop(self.take(16)?),
            Str => self.string()?,
            Bytes => self.bytes()?,
            Int32s => self.array(|walker| walker.take(4).map(drop), 4)?,
            Int64s => self.array(|walker| walker.take(8).map(drop), 8)?,
            Strs => self.array(Self::string, 1)?,
            Structs(inner) => self.array(|walker| walker.walk_struct(inner), 1)?,
            OptStruct(inner) => {
                if self.take(1)?[0] == 1 {
                    self.walk_struct(inner)?;
                }
            }
            Struct(inner) => self.walk_struct(inner)?,
            // Walked among the tagged fields, by tagged_fields.
            Tagged(..) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_huge_array_count() {
        let mut body = Vec::new();
        body.extend_from_slice(&(-1i32).to_be_bytes()); // replica id
        body.extend_from_slice(&[0; 13]); // max wait, min bytes, max bytes, isolation
        body.extend_from_slice(&[0; 8]); // session id, epoch
        body.extend_from_slice(&i32::MAX.to_be_bytes()); // topics count
        assert!(check_body(ApiKey::Fetch, 7, &body)
            .unwrap_err()
            .contains("exceeds"));
    }

    /// The crate decodes a known tagged field's value whatever size the sender gave it; a
    /// size that disagrees would have the crate read counts the guard never checked (found by
    /// the fuzzer: a 16 GiB allocation).
    #[test]
    fn a_known_tagged_field_must_fill_the_size_it_claims() {
        use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
        use kafka_protocol::messages::FetchRequest;
        use kafka_protocol::protocol::Encodable;
        let directory = [0xd1; 16];
        let request = FetchRequest::default().with_topics(vec![FetchTopic::default()
            .with_topic_id(uuid::Uuid::from_u128(7))
            .with_partitions(vec![FetchPartition::default()
                .with_replica_directory_id(uuid::Uuid::from_bytes(directory))])]);
        let mut body = bytes::BytesMut::new();
        request.encode(&mut body, 17).unwrap();
        check_body(ApiKey::Fetch, 17, &body).unwrap();
        let value_at = body
            .windows(16)
            .position(|window| window == directory)
            .unwrap();
        assert_eq!(body[value_at - 1], 16, "the tagged field's size");
        body[value_at - 1] = 0;
        assert!(check_body(ApiKey::Fetch, 17, &body)
            .unwrap_err()
            .contains("tagged field 0 takes 16 bytes, not the 0"));
    }
}
