//! Byte-level SDP edits the B2BUA makes when it relays a body from one leg to
//! another: its own origin line per leg (so each endpoint sees one session
//! whose version only grows, across transfers too), and reading or setting
//! the audio direction (hold).
//!
//! Bodies are relayed as they came otherwise: codecs, crypto and anything we
//! do not model pass through untouched. Nothing here fails: a body that is not
//! text SDP is passed on unchanged.

use bb_sip::sdp::Direction;

/// Replaces the `o=` line with `o=- {session} {version} IN IPx ADDR`, keeping
/// the original address.
pub fn rewrite_origin(body: &[u8], session: u64, version: u64) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(body) else {
        return body.to_vec();
    };
    let mut out = String::with_capacity(text.len() + 16);
    let mut done = false;
    for line in split_lines(text) {
        let content = line.trim_end_matches(['\r', '\n']);
        if !done && content.starts_with("o=") {
            done = true;
            let fields: Vec<&str> = content[2..].split_whitespace().collect();
            let (kind, addr) = match fields.as_slice() {
                [_, _, _, _, kind, addr, ..] => (*kind, *addr),
                _ => ("IP4", "0.0.0.0"),
            };
            out.push_str(&format!("o=- {session} {version} IN {kind} {addr}\r\n"));
        } else {
            out.push_str(line);
        }
    }
    out.into_bytes()
}

fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive('\n')
}

/// The audio direction a body asks for (media-level attribute first, then
/// session-level; `c=0.0.0.0` counts as `sendonly`, RFC 3264 section 8.4).
pub fn direction(body: &[u8]) -> Direction {
    let text = String::from_utf8_lossy(body);
    let mut session = None;
    let mut media = None;
    let mut in_audio = false;
    let mut seen_media = false;
    let mut zero_addr = false;
    for line in text.lines() {
        let line = line.trim();
        if let Some(m) = line.strip_prefix("m=") {
            seen_media = true;
            in_audio = m.starts_with("audio");
            continue;
        }
        if (!seen_media || in_audio) && line.starts_with("c=") && line.ends_with(" 0.0.0.0") {
            zero_addr = true;
        }
        let dir = match line {
            "a=sendrecv" => Some(Direction::SendRecv),
            "a=sendonly" => Some(Direction::SendOnly),
            "a=recvonly" => Some(Direction::RecvOnly),
            "a=inactive" => Some(Direction::Inactive),
            _ => None,
        };
        if let Some(d) = dir {
            if !seen_media {
                session = Some(d);
            } else if in_audio && media.is_none() {
                media = Some(d);
            }
        }
    }
    let d = media.or(session).unwrap_or(Direction::SendRecv);
    if zero_addr && d == Direction::SendRecv {
        Direction::SendOnly
    } else {
        d
    }
}

/// Whether the sender of `body` puts the call on hold (it will not receive).
pub fn is_hold(body: &[u8]) -> bool {
    !direction(body).receives()
}

/// The body with every direction attribute replaced by `dir` (added to the
/// audio section when there is none).
pub fn set_direction(body: &[u8], dir: Direction) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(body) else {
        return body.to_vec();
    };
    let attr = format!("a={}\r\n", dir.as_str());
    let mut out = String::with_capacity(text.len() + 16);
    let mut replaced = false;
    let mut in_audio = false;
    let mut audio_seen = false;
    for line in split_lines(text) {
        let content = line.trim_end_matches(['\r', '\n']);
        if content.starts_with("m=") {
            if in_audio && !replaced {
                out.push_str(&attr);
                replaced = true;
            }
            in_audio = content.starts_with("m=audio");
            audio_seen |= in_audio;
        }
        if matches!(
            content,
            "a=sendrecv" | "a=sendonly" | "a=recvonly" | "a=inactive"
        ) {
            out.push_str(&attr);
            replaced = true;
            continue;
        }
        out.push_str(line);
        if !line.ends_with('\n') {
            out.push_str("\r\n");
        }
    }
    if in_audio && audio_seen && !replaced {
        out.push_str(&attr);
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "v=0\r\no=bob 77 3 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

    #[test]
    fn origin_is_ours_and_the_rest_untouched() {
        let out = String::from_utf8(rewrite_origin(BODY.as_bytes(), 9, 4)).expect("utf8");
        assert!(out.contains("o=- 9 4 IN IP4 10.0.0.2\r\n"), "{out}");
        assert_eq!(
            out.replace("o=- 9 4 IN IP4 10.0.0.2", "o=bob 77 3 IN IP4 10.0.0.2"),
            BODY
        );
        assert_eq!(rewrite_origin(&[0xff, 0xfe], 1, 1), vec![0xff, 0xfe]);
    }

    #[test]
    fn directions_and_hold() {
        assert_eq!(direction(BODY.as_bytes()), Direction::SendRecv);
        let held = set_direction(BODY.as_bytes(), Direction::SendOnly);
        assert_eq!(direction(&held), Direction::SendOnly);
        assert!(is_hold(&held));
        let old_style = BODY.replace("c=IN IP4 10.0.0.2", "c=IN IP4 0.0.0.0");
        assert!(is_hold(old_style.as_bytes()));
        let no_attr = BODY.replace("a=sendrecv\r\n", "");
        assert_eq!(direction(no_attr.as_bytes()), Direction::SendRecv);
        let added = set_direction(no_attr.as_bytes(), Direction::Inactive);
        assert_eq!(direction(&added), Direction::Inactive);
        let session_level = "v=0\r\na=sendonly\r\nm=audio 1 RTP/AVP 0\r\n";
        assert_eq!(direction(session_level.as_bytes()), Direction::SendOnly);
    }
}
