//! Each validator on hand-picked values: the RFC 4475 shapes that must pass,
//! and one refusal per rule with the text a peer sees. Generated variants
//! are in `tests/grammar_fuzz.rs`.

use super::*;

type Check = fn(&[u8]) -> Result<(), Bad>;

fn cseq_only(v: &[u8]) -> Result<(), Bad> {
    cseq(v).map(|_| ())
}

fn request_uri_only(v: &[u8]) -> Result<(), Bad> {
    request_uri(v).map(|_| ())
}

fn passes(check: Check, values: &[&str]) {
    for v in values {
        if let Err(bad) = check(v.as_bytes()) {
            panic!("'{v}' should pass: {bad}");
        }
    }
}

fn refuses(check: Check, cases: &[(&str, &str)]) {
    for (v, want) in cases {
        match check(v.as_bytes()) {
            Ok(()) => panic!("'{v}' should be refused ({want})"),
            Err(bad) => assert_eq!(bad.to_string(), *want, "for '{v}'"),
        }
    }
}

#[test]
fn via_follows_rfc_3261_and_rfc_5118() {
    passes(
        via,
        &[
            "SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-1;rport",
            // wsinv: SWS around '/', ';', '=' and ','.
            "SIP  /   2.0 /UDP 192.0.2.2;branch=390skdjuw",
            "SIP  / 2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8  , \
             SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239",
            "sip/2.0/unknown t4.example.com;branch=z9hG4bKasd0f3en",
            "SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~",
            "SIP/2.0/UDP [2001:db8::9:1]:6050;received=2001:db8::9:255;branch=x",
            "SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=x",
            "SIP/2.0/UDP h.example.com;ttl=255;maddr=224.2.0.1;x=\"q\";y=[::1];z",
            "SIP/2.0/UDP example.com.:5060",
        ],
    );
    refuses(
        via,
        &[
            (
                "SIP/2.x/UDP h;branch=1",
                "expected SIP/2.0/<transport> (RFC 3261 section 8.1.1.7), found 'SIP/2.x/UDP'",
            ),
            (
                "SIPX/2.0/UDP h",
                "expected SIP/2.0/<transport> (RFC 3261 section 8.1.1.7), found 'SIPX/2.0/UDP'",
            ),
            (
                "SIP/2.0 h",
                "expected '/' after the protocol version, found ' h'",
            ),
            (
                "SIP/2.0/UDP",
                "expected whitespace and a sent-by host after the transport, found nothing",
            ),
            (
                "SIP/2.0/UDP h_1.example.com",
                "expected a host name, IPv4 address or [IPv6] reference, found 'h_1.example.com'",
            ),
            (
                "SIP/2.0/UDP h:65536",
                "expected a port number from 0 to 65535 after ':', found '65536'",
            ),
            (
                "SIP/2.0/UDP h;;x",
                "expected a parameter name (token) after ';', found ';x'",
            ),
            (
                "SIP/2.0/UDP h;branch",
                "expected '=' and a value after 'branch', found nothing",
            ),
            (
                "SIP/2.0/UDP h;branch=\"q\"",
                "expected a token as the value of 'branch', found '\"q\"'",
            ),
            (
                "SIP/2.0/UDP h;received=host.example.com",
                "expected an IPv4 or IPv6 address as the value of 'received', \
                 found 'host.example.com'",
            ),
            (
                "SIP/2.0/UDP h;ttl=256",
                "expected an integer from 0 to 255 as the value of 'ttl', found '256'",
            ),
            (
                "SIP/2.0/UDP h,",
                "expected a Via value (SIP/2.0/transport sent-by), found nothing",
            ),
            (
                "SIP/2.0/UDP h;branch=a\u{1}b",
                "expected ';', ',' or the end of the value, found '\\u{1}b'",
            ),
        ],
    );
}

#[test]
fn from_and_to_follow_rfc_3261() {
    passes(
        from_to,
        &[
            "\"Caller\" <sip:0312345678@192.0.2.9>;tag=a1",
            "sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n",
            "\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com> ;  tag = 98asjd8",
            // lwsdisp and intmeth.
            "caller<sip:caller@example.com>;tag=323",
            "token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;\
             fromParam''~+*_!.-%=\"\u{441}\u{43b}\";tag=_token~1'+`*%!-.",
            "\"BEL:\\\u{7} NUL:\\\u{0} DEL:\\\u{7f}\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>",
            // esc01, escnull, unksm2, RFC 5118.
            "sip:%75se%72@example.com",
            "sip:null-%00-null@example.com;tag=839923423",
            "isbn:2983792873",
            "<http://www.example.com>;tag=3234233",
            "sip:user@[2001:db8::10]",
            "<sips:a:pw@example.com:5061;transport=tls;lr?subject=x&h=>",
        ],
    );
    refuses(
        from_to,
        &[
            ("", "expected a name-addr or addr-spec, found nothing"),
            (
                "\"Mr. J. User <sip:j.user@example.com>",
                "expected a closing '\"' for the quoted string, \
                 found '\"Mr. J. User <sip:j.user@example.com>'",
            ),
            (
                "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
                "expected a display name of tokens, or a quoted string, before '<', \
                 found 'Bell, Alexander '",
            ),
            (
                "< sip:t.watson@example.org >",
                "expected a URI without whitespace inside '<>', found ' sip:t.watson@example.org '",
            ),
            (
                "<sip:a@example.com;tag=1",
                "expected a URI closed by '>', found '<sip:a@example.com;tag=1'",
            ),
            (
                "<user@example.com>",
                "expected a URI that starts with a scheme such as 'sip:', found 'user@example.com'",
            ),
            (
                "<sip:a@b@example.com>",
                "expected a host name, IPv4 address or [IPv6] reference, found 'b@example.com'",
            ),
            (
                "<sip:a%4@example.com>",
                "expected '%' followed by two hex digits, found '%4@example.com'",
            ),
            (
                "sip:a@example.com;tag=\"x\"",
                "expected a token as the value of 'tag', found '\"x\"'",
            ),
            (
                "sip:a@example.com;tag=",
                "expected a token as the value of 'tag', found nothing",
            ),
            (
                "sip:a@example.com;tag=a@b",
                "expected ';' or the end of the value, found '@b'",
            ),
            (
                "<sip:a@example.com>, <sip:b@example.com>",
                "expected ';' or the end of the value, found ', <sip:b@example.com>'",
            ),
            (
                "sip:a@example.com?x=y",
                "expected a URI without '?' (one with it must be enclosed in '<>'), \
                 found 'sip:a@example.com?x=y'",
            ),
            (
                "\"a\u{1}b\" <sip:a@example.com>",
                "expected text without control characters inside the quoted string \
                 (escape them with '\\'), found '\\u{1}b\" <sip:a@example.com>'",
            ),
            (
                "<sip:a@example.com> junk",
                "expected ';' or the end of the value, found 'junk'",
            ),
        ],
    );
}

#[test]
fn contact_follows_rfc_3261() {
    passes(
        contact,
        &[
            "*",
            "\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam = newvalue ; \
             secondparam ; q = 0.33",
            "sip:+19725552222@gw1.example.net;unknownparam",
            "<sip:user@example.com?Route=%3Csip:sip.example.com%3E>",
            "<sip:a@b.example>;q=1.000;expires=4294967295, <sip:c@d.example>;q=0",
            "<name:John_Smith>",
            "<sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>",
        ],
    );
    refuses(
        contact,
        &[
            (
                "\"Joe\" <sip:joe@example.org>;;;;",
                "expected a parameter name (token) after ';', found ';;;'",
            ),
            (
                "<sip:a@example.com>,,<sip:b@example.com>",
                "expected a Contact value (name-addr or addr-spec), found ',<sip:b@example.com>'",
            ),
            (
                "<sip:a@example.com>;q=1.5",
                "expected a qvalue from 0 to 1 with at most 3 decimals as the value of 'q', \
                 found '1.5'",
            ),
            (
                "<sip:a@example.com>;expires=4294967296",
                "expected delta-seconds from 0 to 4294967295 as the value of 'expires', \
                 found '4294967296'",
            ),
            (
                "<sip:a@example.com>;expires=-1",
                "expected delta-seconds from 0 to 4294967295 as the value of 'expires', \
                 found '-1'",
            ),
            (
                "*, <sip:a@example.com>",
                "expected a URI that starts with a scheme such as 'sip:', found '*'",
            ),
        ],
    );
}

#[test]
fn call_id_cseq_and_numbers_follow_rfc_3261() {
    passes(
        call_id,
        &[
            "c1@192.0.2.9",
            "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{",
            "3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..",
            "a@::1",
        ],
    );
    refuses(
        call_id,
        &[
            (
                "",
                "expected Call-ID characters (word [\"@\" word]), found nothing",
            ),
            (
                "a@b@c",
                "expected Call-ID characters (word [\"@\" word]), found '@c'",
            ),
            (
                "a@",
                "expected Call-ID characters (word [\"@\" word]) after '@', found nothing",
            ),
            (
                "ZjE=",
                "expected Call-ID characters (word [\"@\" word]), found '='",
            ),
            (
                "a;b",
                "expected Call-ID characters (word [\"@\" word]), found ';b'",
            ),
        ],
    );
    passes(
        cseq_only,
        &["1 INVITE", "0009 \tINVITE", "2147483647 OPTIONS"],
    );
    refuses(
        cseq_only,
        &[
            (
                "-1 INVITE",
                "expected a sequence number (1*DIGIT), found '-1 INVITE'",
            ),
            (
                "2147483648 INVITE",
                "expected a sequence number below 2**31 (RFC 3261 section 8.1.1.5), \
                 found '2147483648'",
            ),
            (
                "1INVITE",
                "expected whitespace and a method after the sequence number, found 'INVITE'",
            ),
            (
                "1",
                "expected whitespace and a method after the sequence number, found nothing",
            ),
            (
                "1 INV@ITE",
                "expected the end of the value after the method, found '@ITE'",
            ),
        ],
    );
    passes(max_forwards, &["0", "0068", "255"]);
    refuses(
        max_forwards,
        &[
            (
                "256",
                "expected an integer from 0 to 255 (1*DIGIT), found '256'",
            ),
            (
                "-1",
                "expected an integer from 0 to 255 (1*DIGIT), found '-1'",
            ),
            (
                "",
                "expected an integer from 0 to 255 (1*DIGIT), found nothing",
            ),
        ],
    );
    passes(
        expires,
        &["0", "3600", "4294967295", "000000000000000000001"],
    );
    refuses(
        expires,
        &[
            (
                "4294967296",
                "expected delta-seconds from 0 to 4294967295 (1*DIGIT), found '4294967296'",
            ),
            (
                "Thu, 01 Dec 1994 16:00:00 GMT",
                "expected delta-seconds from 0 to 4294967295 (1*DIGIT), \
                 found 'Thu, 01 Dec 1994 16:00:00 GMT'",
            ),
            (
                "3600s",
                "expected delta-seconds from 0 to 4294967295 (1*DIGIT), found '3600s'",
            ),
        ],
    );
}

#[test]
fn request_uris_follow_rfc_3261() {
    passes(
        request_uri_only,
        &[
            "sip:vivekg@chair-dnrc.example.com;unknownparam",
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
            "sip:sips%3Auser%40example.com@example.net",
            "sip:user;par=u%40example.net@example.com",
            "sip:[2001:db8::10]:5070",
            "sip:[2001:db8::10:5070]",
            "tel:+1-201-555-0123",
            "nobodyKnowsThisScheme:totallyopaquecontent",
            "soap.beep://192.0.2.103:3002",
            "SIP:AGENT@EXAMPLE.COM",
        ],
    );
    refuses(
        request_uri_only,
        &[
            (
                "sip:2001:db8::10",
                "expected a host name, IPv4 address or [IPv6] reference, found '2001'",
            ),
            (
                "sip:user@[2001:db8:::192.0.2.1]",
                "expected an IPv6 address inside '[ ]', found '[2001:db8:::192.0.2.1]'",
            ),
            (
                "sip:@example.com",
                "expected a user part before '@', found '@example.com'",
            ),
            (
                "sip:a@256.1.1.1",
                "expected a host name, IPv4 address or [IPv6] reference, found '256.1.1.1'",
            ),
            (
                "sip:a@example.123",
                "expected a host name, IPv4 address or [IPv6] reference, found 'example.123'",
            ),
            (
                "sip:a@-x.example.com",
                "expected a host name, IPv4 address or [IPv6] reference, found '-x.example.com'",
            ),
            (
                "sip:a@h;=x",
                "expected a URI parameter name after ';', found '=x'",
            ),
            (
                "sip:a@h;x=",
                "expected a URI parameter value after '=', found nothing",
            ),
            (
                "sip:a@h?x",
                "expected '=' after the URI header name, found nothing",
            ),
            (
                "sip:a@h:",
                "expected a port number from 0 to 65535 after ':', found nothing",
            ),
            (
                "sip:a\"b@h",
                "expected '@' after the user part (user: unreserved, %HH or &=+$,;?/ characters), \
                 found '\"b@h'",
            ),
            (
                "tel:+1 2",
                "expected URI characters (reserved, unreserved or %HH) after the scheme, \
                 found ' 2'",
            ),
            (
                "sip:",
                "expected a host name, IPv4 address or [IPv6] reference, found nothing",
            ),
            (
                "example.com",
                "expected a URI that starts with a scheme such as 'sip:', found 'example.com'",
            ),
        ],
    );
    assert_eq!(
        request_uri(b"sip:a@h?Route=%3Csip:x%3E"),
        Ok(RequestUri::Sip {
            headers: Some(&b"?Route=%3Csip:x%3E"[..])
        })
    );
    assert_eq!(
        request_uri(b"mailto:a@b"),
        Ok(RequestUri::Other { scheme: b"mailto" })
    );
}

#[test]
fn long_values_are_not_limited_and_shown_truncated() {
    let long = format!(
        "sip:{}@example.com;tag={}",
        "a".repeat(5000),
        "1".repeat(5000)
    );
    assert_eq!(from_to(long.as_bytes()), Ok(()));
    let bad = format!("sip:a@example.com;tag=1{}", "\u{1}".repeat(100));
    let text = from_to(bad.as_bytes()).err().map(|b| b.to_string());
    let text = text.unwrap_or_default();
    assert!(text.ends_with("...'"), "{text}");
    assert!(text.len() < 500, "{text}");
}
