//! `__transaction_state` records in Kafka's schemas: key v0 (transactional id), value v0
//! (producer id and epoch, timeout, status, partitions, timestamps).

use std::collections::BTreeSet;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::state::{TxnMetadata, TxnStatus};
use crate::records::fields::{get_string, put_string};

const KEY_VERSION: i16 = 0;
const VALUE_VERSION: i16 = 0;

pub fn encode_key(transactional_id: &str) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(KEY_VERSION);
    put_string(&mut buf, transactional_id);
    buf.freeze()
}

pub fn decode_key(mut bytes: Bytes) -> Option<String> {
    if bytes.remaining() < 2 || bytes.get_i16() != KEY_VERSION {
        return None;
    }
    get_string(&mut bytes)
}

pub fn encode_value(meta: &TxnMetadata) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(VALUE_VERSION);
    buf.put_i64(meta.producer_id);
    buf.put_i16(meta.epoch);
    buf.put_i32(meta.timeout_ms);
    buf.put_i8(meta.status as i8);
    let mut by_topic: Vec<(&str, Vec<i32>)> = Vec::new();
    for (topic, partition) in &meta.partitions {
        match by_topic.last_mut() {
            Some((last, partitions)) if *last == topic.as_str() => partitions.push(*partition),
            _ => by_topic.push((topic, vec![*partition])),
        }
    }
    buf.put_i32(by_topic.len() as i32);
    for (topic, partitions) in by_topic {
        put_string(&mut buf, topic);
        buf.put_i32(partitions.len() as i32);
        partitions
            .iter()
            .for_each(|partition| buf.put_i32(*partition));
    }
    buf.put_i64(meta.last_update_ms);
    buf.put_i64(meta.start_ms);
    buf.freeze()
}

pub fn decode_value(mut bytes: Bytes) -> Option<TxnMetadata> {
    let buf = &mut bytes;
    if buf.remaining() < 2 + 8 + 2 + 4 + 1 + 4 || buf.get_i16() != VALUE_VERSION {
        return None;
    }
    let producer_id = buf.get_i64();
    let epoch = buf.get_i16();
    let timeout_ms = buf.get_i32();
    let status = TxnStatus::from_code(buf.get_i8())?;
    let topics = buf.get_i32();
    if topics < 0 || topics as usize > buf.remaining() {
        return None;
    }
    let mut partitions = BTreeSet::new();
    for _ in 0..topics {
        let topic = get_string(buf)?;
        if buf.remaining() < 4 {
            return None;
        }
        let count = buf.get_i32();
        if count < 0 || (count as usize) * 4 > buf.remaining() {
            return None;
        }
        for _ in 0..count {
            partitions.insert((topic.clone(), buf.get_i32()));
        }
    }
    if buf.remaining() < 16 {
        return None;
    }
    let last_update_ms = buf.get_i64();
    let start_ms = buf.get_i64();
    Some(TxnMetadata {
        producer_id,
        epoch,
        timeout_ms,
        status,
        partitions,
        start_ms,
        last_update_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_records_round_trip() {
        let meta = TxnMetadata {
            producer_id: 9,
            epoch: 3,
            timeout_ms: 60_000,
            status: TxnStatus::Ongoing,
            partitions: [
                ("a".to_owned(), 0),
                ("a".to_owned(), 2),
                ("b".to_owned(), 1),
            ]
            .into(),
            start_ms: 100,
            last_update_ms: 200,
        };
        assert_eq!(decode_value(encode_value(&meta)), Some(meta));
        assert_eq!(decode_key(encode_key("tx")), Some("tx".to_owned()));
        assert_eq!(decode_value(Bytes::from_static(&[0, 0, 1])), None);
    }
}
