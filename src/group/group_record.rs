//! Group metadata records of `__consumer_offsets` in Kafka's schemas (key v2, value v3): a
//! group's generation, protocol, leader and members with their subscription and assignment,
//! written when a group becomes Stable or Empty and replayed on start.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::records::fields::{
    get_bytes, get_i32, get_nullable_string, get_string, put_bytes, put_nullable_string, put_string,
};

/// Kafka's key schema version for group metadata.
pub const GROUP_KEY_VERSION: i16 = 2;
/// The value schema version written.
const GROUP_VALUE_VERSION: i16 = 3;

/// A member as stored in a group metadata record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSnapshot {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// The member's metadata for the group's protocol.
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// A group as stored in a group metadata record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSnapshot {
    pub protocol_type: String,
    pub generation_id: i32,
    pub protocol_name: Option<String>,
    pub leader_id: Option<String>,
    pub state_timestamp_ms: i64,
    pub members: Vec<MemberSnapshot>,
}

/// The record key of a group's metadata.
pub fn encode_key(group_id: &str) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(GROUP_KEY_VERSION);
    put_string(&mut buf, group_id);
    buf.freeze()
}

/// The group id of a group metadata key whose version was already read.
pub fn decode_key_body(mut bytes: Bytes) -> Option<String> {
    get_string(&mut bytes)
}

/// The record value of a group's metadata.
pub fn encode_value(group: &GroupSnapshot) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(GROUP_VALUE_VERSION);
    put_string(&mut buf, &group.protocol_type);
    buf.put_i32(group.generation_id);
    put_nullable_string(&mut buf, group.protocol_name.as_deref());
    put_nullable_string(&mut buf, group.leader_id.as_deref());
    buf.put_i64(group.state_timestamp_ms);
    buf.put_i32(group.members.len() as i32);
    for member in &group.members {
        put_string(&mut buf, &member.member_id);
        put_nullable_string(&mut buf, member.group_instance_id.as_deref());
        put_string(&mut buf, &member.client_id);
        put_string(&mut buf, &member.client_host);
        buf.put_i32(member.rebalance_timeout_ms);
        buf.put_i32(member.session_timeout_ms);
        put_bytes(&mut buf, &member.subscription);
        put_bytes(&mut buf, &member.assignment);
    }
    buf.freeze()
}

/// Decodes a group metadata value (schema versions 0–3).
pub fn decode_value(mut bytes: Bytes) -> Option<GroupSnapshot> {
    let buf = &mut bytes;
    if buf.remaining() < 2 {
        return None;
    }
    let version = buf.get_i16();
    if !(0..=GROUP_VALUE_VERSION).contains(&version) {
        return None;
    }
    let protocol_type = get_string(buf)?;
    let generation_id = get_i32(buf)?;
    let protocol_name = get_nullable_string(buf)?;
    let leader_id = get_nullable_string(buf)?;
    let state_timestamp_ms = if version >= 2 {
        if buf.remaining() < 8 {
            return None;
        }
        buf.get_i64()
    } else {
        -1
    };
    let count = get_i32(buf)?;
    if count < 0 || count as usize > buf.remaining() {
        return None;
    }
    let members = (0..count)
        .map(|_| {
            let member_id = get_string(buf)?;
            let group_instance_id = if version >= 3 {
                get_nullable_string(buf)?
            } else {
                None
            };
            let client_id = get_string(buf)?;
            let client_host = get_string(buf)?;
            let rebalance_timeout_ms = if version >= 1 { get_i32(buf)? } else { -1 };
            let session_timeout_ms = get_i32(buf)?;
            let rebalance_timeout_ms = if version >= 1 {
                rebalance_timeout_ms
            } else {
                session_timeout_ms
            };
            Some(MemberSnapshot {
                member_id,
                group_instance_id,
                client_id,
                client_host,
                rebalance_timeout_ms,
                session_timeout_ms,
                subscription: get_bytes(buf)?,
                assignment: get_bytes(buf)?,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(GroupSnapshot {
        protocol_type,
        generation_id,
        protocol_name,
        leader_id,
        state_timestamp_ms,
        members,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_metadata_round_trips() {
        let snapshot = GroupSnapshot {
            protocol_type: "consumer".into(),
            generation_id: 7,
            protocol_name: Some("range".into()),
            leader_id: Some("m1".into()),
            state_timestamp_ms: 1_700,
            members: vec![MemberSnapshot {
                member_id: "m1".into(),
                group_instance_id: Some("i1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 30_000,
                session_timeout_ms: 10_000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"asg"),
            }],
        };
        let mut key = encode_key("g");
        assert_eq!(key.get_i16(), GROUP_KEY_VERSION);
        assert_eq!(decode_key_body(key), Some("g".to_owned()));
        assert_eq!(
            decode_value(encode_value(&snapshot)),
            Some(snapshot.clone())
        );
        let empty = GroupSnapshot {
            protocol_name: None,
            leader_id: None,
            members: Vec::new(),
            ..snapshot
        };
        assert_eq!(decode_value(encode_value(&empty)), Some(empty));
        assert_eq!(decode_value(Bytes::from_static(&[0, 3, 0])), None);
    }
}
