//! Who a request came from: the TCP peer, unless that peer is a configured trusted proxy
//! (`api.trusted_proxies`, `notify.trusted_proxies`), in which case the last hop of
//! `X-Forwarded-For` that is not itself trusted. It must not believe a forwarding header
//! from anyone else: whoever sends one chooses its content.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use actix_web::http::header::HeaderMap;

/// A listener's trusted proxies (app data of each listener).
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(pub Arc<Vec<IpAddr>>);

impl TrustedProxies {
    /// The client address of a request from `peer` with `headers`: the peer itself when
    /// it is not trusted; otherwise `X-Forwarded-For` read from the right, skipping
    /// trusted hops, up to the first one that is not (an unreadable hop stops the walk at
    /// the last trusted one, which is then the client as far as we can tell).
    pub fn client(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?.ip();
        if !self.trusts(peer) {
            return Some(peer);
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) if self.trusts(ip) => client = ip,
                Ok(ip) => return Some(ip),
                Err(_) => break,
            }
        }
        Some(client)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append(
                HeaderName::from_static("x-forwarded-for"),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn trusted(ips: &[&str]) -> TrustedProxies {
        TrustedProxies(Arc::new(ips.iter().map(|i| i.parse().unwrap()).collect()))
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let t = trusted(&["10.0.0.1"]);
        let peer = "203.0.113.9:4000".parse().ok();

        assert_eq!(
            t.client(peer, &headers(&["6.6.6.6"])),
            "203.0.113.9".parse().ok()
        );
    }

    #[test]
    fn behind_trusted_proxies_the_last_untrusted_hop_is_the_client() {
        let t = trusted(&["10.0.0.1", "10.0.0.2"]);
        let peer = "10.0.0.1:4000".parse().ok();

        let cases = [
            (vec!["6.6.6.6, 198.51.100.7, 10.0.0.2"], "198.51.100.7"),
            (vec!["6.6.6.6", "198.51.100.7"], "198.51.100.7"),
            (vec!["not-an-ip, 10.0.0.2"], "10.0.0.2"),
            (vec![], "10.0.0.1"),
        ];
        for (xff, client) in cases {
            assert_eq!(
                t.client(peer, &headers(&xff)),
                client.parse().ok(),
                "{xff:?}"
            );
        }
    }
}
