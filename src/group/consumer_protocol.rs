//! The parts of Kafka's consumer embedded protocol the broker reads: the topics in a member's
//! subscription, and the partitions in its assignment (for OffsetDelete and lag reports).
//! Everything else in these blobs is the clients' business and stays opaque.

use bytes::Buf;

/// `"consumer"`: the protocol type of groups whose metadata follows this format.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

fn string(buf: &mut &[u8]) -> Option<String> {
    if buf.remaining() < 2 {
        return None;
    }
    let len = buf.get_i16();
    if len < 0 || buf.remaining() < len as usize {
        return None;
    }
    let text = String::from_utf8(buf[..len as usize].to_vec()).ok()?;
    buf.advance(len as usize);
    Some(text)
}

fn count(buf: &mut &[u8], element_min_bytes: usize) -> Option<usize> {
    if buf.remaining() < 4 {
        return None;
    }
    let count = buf.get_i32();
    (count >= 0 && (count as usize).saturating_mul(element_min_bytes) <= buf.remaining())
        .then_some(count as usize)
}

/// Topics of a ConsumerProtocolSubscription (any version: they all start with them).
pub fn subscription_topics(mut bytes: &[u8]) -> Option<Vec<String>> {
    let buf = &mut bytes;
    if buf.remaining() < 2 {
        return None;
    }
    buf.get_i16();
    let topics = count(buf, 2)?;
    (0..topics).map(|_| string(buf)).collect()
}

/// `(topic, partitions)` of a ConsumerProtocolAssignment (any version).
pub fn assignment_partitions(mut bytes: &[u8]) -> Option<Vec<(String, Vec<i32>)>> {
    let buf = &mut bytes;
    if buf.remaining() < 2 {
        return None;
    }
    buf.get_i16();
    let topics = count(buf, 6)?;
    (0..topics)
        .map(|_| {
            let topic = string(buf)?;
            let partitions = count(buf, 4)?;
            Some((topic, (0..partitions).map(|_| buf.get_i32()).collect()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    #[test]
    fn reads_subscriptions_and_assignments() {
        let mut subscription = Vec::new();
        subscription.put_i16(3);
        subscription.put_i32(2);
        for topic in ["a", "bc"] {
            subscription.put_i16(topic.len() as i16);
            subscription.put_slice(topic.as_bytes());
        }
        subscription.put_i32(-1); // user data, ignored
        assert_eq!(
            subscription_topics(&subscription),
            Some(vec!["a".to_owned(), "bc".to_owned()])
        );

        let mut assignment = Vec::new();
        assignment.put_i16(1);
        assignment.put_i32(1);
        assignment.put_i16(1);
        assignment.put_slice(b"a");
        assignment.put_i32(2);
        assignment.put_i32(0);
        assignment.put_i32(5);
        assert_eq!(
            assignment_partitions(&assignment),
            Some(vec![("a".to_owned(), vec![0, 5])])
        );
        assert_eq!(
            assignment_partitions(&assignment[..assignment.len() - 1]),
            None
        );
        assert_eq!(
            subscription_topics(&[0, 1, 0x7f, 0xff, 0xff, 0xff]),
            None,
            "huge count refused"
        );
    }
}
