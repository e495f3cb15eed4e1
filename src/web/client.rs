//! Who is on the other end: the client's address, believed from `X-Forwarded-For` / `Forwarded`
//! only when the TCP peer is one of `TRUSTED_PROXIES`, and the request id (always ours).
//!
//! Behind Caddy or nginx every request comes from the proxy's address; without this, rate limits,
//! logs and the audit trail would see one client. The header is read right to left, skipping
//! trusted proxies, and the first address that is not one is the client: a client can prepend
//! whatever it likes, but cannot change what the proxy appended after it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

use crate::context::Ctx;

/// The client's address, as this request's extension (set by [`identify`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// A request id a trusted proxy sent along, kept apart from ours.
#[derive(Clone, Debug)]
pub struct UpstreamRequestId(pub String);

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    let ip = canonical(ip);
    proxies.iter().any(|net| net.contains(&ip))
}

/// `::ffff:10.0.0.1` is `10.0.0.1`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client address of a request that came from `peer`.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, proxies: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    if !trusted(peer, proxies) {
        return peer;
    }
    // Proxies that set X-Forwarded-For (Caddy, nginx) pass a client's `Forwarded` through
    // untouched, so it is read only when X-Forwarded-For is absent.
    let chain = if headers.contains_key("x-forwarded-for") {
        forwarded_for(headers)
    } else {
        forwarded(headers)
    };
    let Some(chain) = chain else { return peer };
    let mut client = peer;
    for hop in chain.iter().rev() {
        match hop {
            Some(ip) if trusted(*ip, proxies) => client = *ip,
            Some(ip) => return *ip,
            // An entry we cannot read: everything left of it is the client's word.
            None => return client,
        }
    }
    // Every hop is a trusted proxy: the left-most is the closest we know to the client.
    client
}

/// The addresses of every `X-Forwarded-For` line, in order; `None` for an unreadable entry.
/// `None` overall when a value is not text.
fn forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut chain = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        for part in value.to_str().ok()?.split(',') {
            chain.push(parse_node(part.trim()));
        }
    }
    Some(chain)
}

/// The `for=` of every element of every RFC 7239 `Forwarded` line, in order.
fn forwarded(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut chain = Vec::new();
    for value in headers.get_all("forwarded") {
        for element in value.to_str().ok()?.split(',') {
            let node = element.split(';').find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                key.trim().eq_ignore_ascii_case("for").then(|| value.trim())
            });
            if let Some(node) = node {
                chain.push(parse_node(node));
            }
        }
    }
    (!chain.is_empty()).then_some(chain)
}

/// `192.0.2.1`, `192.0.2.1:4711`, `"[2001:db8::1]:4711"`, `2001:db8::1`.
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(canonical(addr.ip()));
    }
    let inner = text.strip_prefix('[')?.split(']').next()?;
    inner.parse::<IpAddr>().ok().map(canonical)
}

/// The outermost layer: works out the client's address, and replaces any request id the client
/// sent with our own (keeping a trusted proxy's apart, for correlation).
pub async fn identify(State(state): State<Ctx>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let proxies = &state.config.trusted_proxies;
    let client = client_address(peer, req.headers(), proxies);
    if let Some(theirs) = req.headers_mut().remove(REQUEST_ID)
        && trusted(peer, proxies)
        && let Ok(text) = theirs.to_str()
    {
        let text: String = text.chars().filter(|c| c.is_ascii_graphic()).take(128).collect();
        req.extensions_mut().insert(UpstreamRequestId(text));
    }
    let ours = uuid::Uuid::new_v4().to_string();
    if let Ok(value) = HeaderValue::from_str(&ours) {
        req.headers_mut().insert(REQUEST_ID, value);
    }
    req.extensions_mut().insert(ClientAddr(client));
    crate::request::serving(client, next.run(req)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peers_are_the_client_whatever_they_send() {
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=5.6.7.8")]);
        assert_eq!(client_address(ip("9.9.9.9"), &h, &[]), ip("9.9.9.9"));
        assert_eq!(
            client_address(ip("9.9.9.9"), &h, &nets(&["127.0.0.1/32"])),
            ip("9.9.9.9")
        );
    }

    #[test]
    fn the_right_most_untrusted_address_wins() {
        let proxies = nets(&["127.0.0.1/32", "10.0.0.0/8"]);
        // The client prepended a lie; the proxy appended the truth.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7")]);
        assert_eq!(client_address(ip("127.0.0.1"), &h, &proxies), ip("203.0.113.7"));
        // Two proxies in a row, both trusted.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.1.2.3")]);
        assert_eq!(client_address(ip("127.0.0.1"), &h, &proxies), ip("203.0.113.7"));
        // Several header lines count as one list, in order.
        let h = headers(&[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "198.51.100.2")]);
        assert_eq!(client_address(ip("127.0.0.1"), &h, &proxies), ip("198.51.100.2"));
    }

    #[test]
    fn forwarded_is_read_when_there_is_no_x_forwarded_for() {
        let proxies = nets(&["::1/128"]);
        let h = headers(&[(
            "forwarded",
            r#"for=192.0.2.60;proto=http, for="[2001:db8:cafe::17]:4711""#,
        )]);
        assert_eq!(client_address(ip("::1"), &h, &proxies), ip("2001:db8:cafe::17"));
        // With both, only X-Forwarded-For counts (the proxy passes a client's Forwarded through).
        let h = headers(&[("forwarded", "for=6.6.6.6"), ("x-forwarded-for", "198.51.100.9")]);
        assert_eq!(client_address(ip("::1"), &h, &proxies), ip("198.51.100.9"));
    }

    #[test]
    fn odd_headers_fall_back_to_what_is_known() {
        let proxies = nets(&["127.0.0.1/32"]);
        assert_eq!(
            client_address(ip("127.0.0.1"), &HeaderMap::new(), &proxies),
            ip("127.0.0.1")
        );
        let h = headers(&[("x-forwarded-for", "garbage")]);
        assert_eq!(client_address(ip("127.0.0.1"), &h, &proxies), ip("127.0.0.1"));
        let h = headers(&[("x-forwarded-for", "6.6.6.6, unknown, 127.0.0.1")]);
        assert_eq!(client_address(ip("127.0.0.1"), &h, &proxies), ip("127.0.0.1"));
        let h = headers(&[("x-forwarded-for", "203.0.113.5:443")]);
        assert_eq!(client_address(ip("127.0.0.1"), &h, &proxies), ip("203.0.113.5"));
        // IPv4-mapped peers match IPv4 ranges.
        let h = headers(&[("x-forwarded-for", "203.0.113.5")]);
        assert_eq!(client_address(ip("::ffff:127.0.0.1"), &h, &proxies), ip("203.0.113.5"));
    }
}
