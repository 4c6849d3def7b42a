//! Kafka's classic (non-flexible) field encodings, for the records spool writes into its
//! internal topics (`__consumer_offsets`, `__transaction_state`): i16-length strings,
//! i32-length bytes. Readers return `None` on anything short or malformed.

use bytes::{Buf, BufMut, Bytes, BytesMut};

pub fn put_string(buf: &mut BytesMut, value: &str) {
    buf.put_i16(value.len() as i16);
    buf.put_slice(value.as_bytes());
}

pub fn put_nullable_string(buf: &mut BytesMut, value: Option<&str>) {
    match value {
        Some(value) => put_string(buf, value),
        None => buf.put_i16(-1),
    }
}

pub fn put_bytes(buf: &mut BytesMut, value: &[u8]) {
    buf.put_i32(value.len() as i32);
    buf.put_slice(value);
}

pub fn get_nullable_string(buf: &mut Bytes) -> Option<Option<String>> {
    if buf.remaining() < 2 {
        return None;
    }
    let len = buf.get_i16();
    if len < 0 {
        return Some(None);
    }
    if buf.remaining() < len as usize {
        return None;
    }
    String::from_utf8(buf.split_to(len as usize).to_vec())
        .ok()
        .map(Some)
}

pub fn get_string(buf: &mut Bytes) -> Option<String> {
    get_nullable_string(buf)?
}

/// Null bytes read as empty.
pub fn get_bytes(buf: &mut Bytes) -> Option<Bytes> {
    if buf.remaining() < 4 {
        return None;
    }
    let len = buf.get_i32();
    if len < 0 {
        return Some(Bytes::new());
    }
    (buf.remaining() >= len as usize).then(|| buf.split_to(len as usize))
}

pub fn get_i32(buf: &mut Bytes) -> Option<i32> {
    (buf.remaining() >= 4).then(|| buf.get_i32())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_refuse_short_input() {
        let mut buf = BytesMut::new();
        put_string(&mut buf, "abc");
        put_nullable_string(&mut buf, None);
        put_bytes(&mut buf, b"xy");
        let mut bytes = buf.freeze();
        assert_eq!(get_string(&mut bytes), Some("abc".to_owned()));
        assert_eq!(get_nullable_string(&mut bytes), Some(None));
        assert_eq!(get_bytes(&mut bytes), Some(Bytes::from_static(b"xy")));
        assert_eq!(get_i32(&mut bytes), None);
        assert_eq!(get_string(&mut Bytes::from_static(&[0, 5, b'a'])), None);
    }
}
