//! Reading a broker's Prometheus endpoint.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;

/// `GET path` on the endpoint at `url` (`http://HOST:PORT/metrics`); returns (status line,
/// body).
pub fn get(url: &str, path: &str) -> (String, String) {
    let address = url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics");
    let mut stream = TcpStream::connect(address).expect("connect to metrics");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\n\r\n").expect("send GET");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read the response");
    let (head, body) = text.split_once("\r\n\r\n").expect("http response");
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

/// Samples by their full name with labels, e.g. `spool_fsyncs_total`.
pub fn samples(body: &str) -> HashMap<String, f64> {
    body.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The samples the endpoint at `url` serves now.
pub fn scrape(url: &str) -> HashMap<String, f64> {
    samples(&get(url, "/metrics").1)
}
