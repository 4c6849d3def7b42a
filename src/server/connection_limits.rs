//! Kafka's connection limits at accept time: `max.connections.per.ip` (a connection over it
//! is closed at once), an IP's `connection_creation_rate` quota (a connection over it is
//! closed once its throttle time has passed, so a client reconnecting at once cannot spin),
//! and `max.connection.creation.rate` (the listener waits before accepting more).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::broker::Broker;

/// Open connections by IP, shared by every listener.
#[derive(Debug, Default)]
pub struct OpenByIp {
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// Whether an accepted connection is served.
pub enum Admission {
    /// Served; the slot is given back when it drops.
    Open(IpSlot),
    /// Closed at once: the IP already has its maximum.
    TooMany(usize),
    /// Closed after this long: the IP opens connections faster than its quota.
    Throttled(Duration),
}

/// One open connection of an IP.
#[derive(Debug)]
pub struct IpSlot {
    open: Arc<OpenByIp>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut counts = self.open.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

impl OpenByIp {
    /// Decides on a connection accepted from `ip`, in Kafka's order: the IP's creation rate,
    /// then its count.
    pub fn admit(self: &Arc<Self>, broker: &Broker, ip: IpAddr) -> Admission {
        let throttle = broker.record_connection(&ip.to_string());
        if !throttle.is_zero() {
            return Admission::Throttled(throttle);
        }
        let max = broker.config.connections_per_ip.of(ip);
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(ip).or_default();
        if *count >= max {
            if *count == 0 {
                counts.remove(&ip);
            }
            return Admission::TooMany(max);
        }
        *count += 1;
        Admission::Open(IpSlot {
            open: Arc::clone(self),
            ip,
        })
    }
}
