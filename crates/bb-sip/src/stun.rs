//! The smallest useful STUN (RFC 5389): a Binding request, the server's
//! Binding success response with XOR-MAPPED-ADDRESS (and FINGERPRINT, so it
//! can share a port with SIP), and reading the mapped address back.
//!
//! Our own few lines rather than a crate: a Binding request is a 20-byte
//! header, and the answer one attribute; no authentication, no TURN. The
//! XOR encoding is checked against RFC 5769's test vectors, the CRC-32
//! against its check value.
//!
//! **Architecture invariant:** sans-IO, like the rest of bb-sip.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// RFC 5389's magic cookie.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const MAPPED_ADDRESS: u16 = 0x0001;
const XOR_MAPPED_ADDRESS: u16 = 0x0020;
const FINGERPRINT: u16 = 0x8028;
const FINGERPRINT_XOR: u32 = 0x5354_554e;

/// A transaction ID (96 bits).
pub type TransactionId = [u8; 12];

/// A Binding request with `txid`.
pub fn binding_request(txid: &TransactionId) -> [u8; 20] {
    let mut m = [0u8; 20];
    m[0..2].copy_from_slice(&BINDING_REQUEST.to_be_bytes());
    // Length 0: no attributes.
    m[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    m[8..20].copy_from_slice(txid);
    m
}

/// Whether `d` looks like a STUN message (RFC 5389 section 6 and RFC 7983:
/// the two top bits zero, the magic cookie, a length that fits) rather than
/// SIP, RTP or a keep-alive.
pub fn is_stun(d: &[u8]) -> bool {
    d.len() >= 20
        && d[0] & 0xc0 == 0
        && d[4..8] == MAGIC_COOKIE.to_be_bytes()
        && usize::from(u16::from_be_bytes([d[2], d[3]])) + 20 == d.len()
        && d[3].is_multiple_of(4)
}

fn message_type(d: &[u8]) -> u16 {
    u16::from_be_bytes([d[0], d[1]])
}

/// The server side: the Binding success response to the request `req`
/// received from `from` (XOR-MAPPED-ADDRESS = `from`, then FINGERPRINT);
/// `None` when `req` is not a Binding request.
pub fn binding_response(req: &[u8], from: SocketAddr) -> Option<Vec<u8>> {
    if !is_stun(req) || message_type(req) != BINDING_REQUEST {
        return None;
    }
    let mut txid = [0u8; 12];
    txid.copy_from_slice(&req[8..20]);
    let value = xor_address(from, &txid);
    let mut m = Vec::with_capacity(20 + 4 + value.len() + 8);
    m.extend_from_slice(&BINDING_SUCCESS.to_be_bytes());
    m.extend_from_slice(&[0, 0]); // length, set below
    m.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    m.extend_from_slice(&txid);
    m.extend_from_slice(&XOR_MAPPED_ADDRESS.to_be_bytes());
    m.extend_from_slice(&(value.len() as u16).to_be_bytes());
    m.extend_from_slice(&value);
    // FINGERPRINT covers the message with the length already counting it.
    let len = (m.len() - 20 + 8) as u16;
    m[2..4].copy_from_slice(&len.to_be_bytes());
    let crc = crc32(&m) ^ FINGERPRINT_XOR;
    m.extend_from_slice(&FINGERPRINT.to_be_bytes());
    m.extend_from_slice(&4u16.to_be_bytes());
    m.extend_from_slice(&crc.to_be_bytes());
    Some(m)
}

/// The client side: the mapped address in the Binding success response
/// `d` to our request `txid` (XOR-MAPPED-ADDRESS, else the RFC 3489
/// MAPPED-ADDRESS); `None` for anything else.
pub fn mapped_address(d: &[u8], txid: &TransactionId) -> Option<SocketAddr> {
    if !is_stun(d) || message_type(d) != BINDING_SUCCESS || d[8..20] != txid[..] {
        return None;
    }
    let mut plain = None;
    let mut at = 20;
    while at + 4 <= d.len() {
        let kind = u16::from_be_bytes([d[at], d[at + 1]]);
        let len = usize::from(u16::from_be_bytes([d[at + 2], d[at + 3]]));
        let value = d.get(at + 4..at + 4 + len)?;
        match kind {
            XOR_MAPPED_ADDRESS => return unxor_address(value, txid),
            MAPPED_ADDRESS => plain = address(value),
            _ => {}
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    plain
}

/// XOR-MAPPED-ADDRESS's value for `a` (RFC 5389 section 15.2).
fn xor_address(a: SocketAddr, txid: &TransactionId) -> Vec<u8> {
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let port = a.port() ^ (MAGIC_COOKIE >> 16) as u16;
    let mut v = vec![0u8];
    match a.ip() {
        IpAddr::V4(ip) => {
            v.push(1);
            v.extend_from_slice(&port.to_be_bytes());
            v.extend(ip.octets().iter().zip(cookie).map(|(b, c)| b ^ c));
        }
        IpAddr::V6(ip) => {
            v.push(2);
            v.extend_from_slice(&port.to_be_bytes());
            let key = cookie.iter().chain(txid.iter());
            v.extend(ip.octets().iter().zip(key).map(|(b, k)| b ^ k));
        }
    }
    v
}

fn unxor_address(v: &[u8], txid: &TransactionId) -> Option<SocketAddr> {
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let port = u16::from_be_bytes([*v.get(2)?, *v.get(3)?]) ^ (MAGIC_COOKIE >> 16) as u16;
    let ip: IpAddr = match v.get(1)? {
        1 => {
            let b: [u8; 4] = v.get(4..8)?.try_into().ok()?;
            let mut o = [0u8; 4];
            for i in 0..4 {
                o[i] = b[i] ^ cookie[i];
            }
            Ipv4Addr::from(o).into()
        }
        2 => {
            let b: [u8; 16] = v.get(4..20)?.try_into().ok()?;
            let key: Vec<u8> = cookie.iter().chain(txid.iter()).copied().collect();
            let mut o = [0u8; 16];
            for i in 0..16 {
                o[i] = b[i] ^ key[i];
            }
            Ipv6Addr::from(o).into()
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

fn address(v: &[u8]) -> Option<SocketAddr> {
    let port = u16::from_be_bytes([*v.get(2)?, *v.get(3)?]);
    let ip: IpAddr = match v.get(1)? {
        1 => Ipv4Addr::from(<[u8; 4]>::try_from(v.get(4..8)?).ok()?).into(),
        2 => Ipv6Addr::from(<[u8; 16]>::try_from(v.get(4..20)?).ok()?).into(),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// CRC-32 (ISO-HDLC, the one FINGERPRINT uses), bit by bit: a message is
/// a few dozen bytes.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5769's transaction ID.
    const TXID: TransactionId = [
        0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
    ];

    #[test]
    fn crc32_gives_the_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn xor_mapped_addresses_match_rfc_5769() {
        // Section 2.2: 192.0.2.1 port 32853.
        let v4: SocketAddr = "192.0.2.1:32853".parse().expect("addr");
        assert_eq!(
            xor_address(v4, &TXID),
            [0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43]
        );
        // Section 2.3: 2001:db8:1234:5678:11:2233:4455:6677 port 32853.
        let v6: SocketAddr = "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
            .parse()
            .expect("addr");
        assert_eq!(
            xor_address(v6, &TXID),
            [
                0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25,
                0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9
            ]
        );
        assert_eq!(unxor_address(&xor_address(v4, &TXID), &TXID), Some(v4));
        assert_eq!(unxor_address(&xor_address(v6, &TXID), &TXID), Some(v6));
    }

    #[test]
    fn a_binding_request_is_answered_with_where_it_came_from() {
        let req = binding_request(&TXID);
        assert!(is_stun(&req));
        let from: SocketAddr = "198.51.100.1:40123".parse().expect("addr");
        let resp = binding_response(&req, from).expect("a Binding request");
        assert!(is_stun(&resp));
        assert_eq!(mapped_address(&resp, &TXID), Some(from));
        // Another transaction's answer is not ours.
        assert_eq!(mapped_address(&resp, &[0; 12]), None);
        // FINGERPRINT: CRC-32 of everything before it, XOR 0x5354554e.
        let (body, fp) = resp.split_at(resp.len() - 4);
        let want = crc32(&body[..body.len() - 4]) ^ FINGERPRINT_XOR;
        assert_eq!(fp, want.to_be_bytes());
        // A response is not a request.
        assert_eq!(binding_response(&resp, from), None);
    }

    #[test]
    fn sip_rtp_and_keepalives_are_not_stun() {
        assert!(!is_stun(b"REGISTER sip:x SIP/2.0\r\n\r\n"));
        assert!(!is_stun(b"\r\n\r\n"));
        let mut rtp = [0u8; 32];
        rtp[0] = 0x80;
        assert!(!is_stun(&rtp));
        // A truncated request.
        assert!(!is_stun(&binding_request(&TXID)[..19]));
    }

    #[test]
    fn the_old_mapped_address_is_read_when_there_is_no_xor_one() {
        let mut m = vec![0x01, 0x01, 0x00, 0x0c];
        m.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        m.extend_from_slice(&TXID);
        m.extend_from_slice(&[0x00, 0x01, 0x00, 0x08, 0x00, 0x01, 0x1f, 0x90, 10, 0, 0, 7]);
        assert_eq!(
            mapped_address(&m, &TXID),
            Some("10.0.0.7:8080".parse().expect("addr"))
        );
    }
}
