//! Credentials in memory: a wrapper that never prints its value, and keyed fingerprints that let
//! status tell tokens apart without revealing them.

use std::fmt;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A credential (API key, auth token, API client token). `Debug` and `Display` print
/// `<redacted>`, so it cannot reach a log line, an event or a panic message by accident. There is
/// deliberately no `Serialize`; the value is read only through [`Sensitive::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Sensitive<T>(T);

impl<T> Sensitive<T> {
    /// Wraps a credential.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The credential itself, for the one place that must send it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<T> fmt::Display for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for Sensitive<String> {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Sensitive<String> {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// The placeholder put wherever a credential was removed from a message.
pub const REDACTED: &str = "<redacted>";

/// Removes every credential in `secrets` (and anything after the phrases TrackVia's OAuth layer
/// uses to echo a token) from a message coming from a server, so it can be kept in errors and
/// status. Short values are ignored: they cannot be told apart from ordinary words.
pub fn scrub(message: &str, secrets: &[&str]) -> String {
    let mut out = message.to_owned();
    for s in secrets.iter().filter(|s| s.len() >= 8) {
        if out.contains(*s) {
            out = out.replace(*s, REDACTED);
        }
    }
    for phrase in ["Invalid access token: ", "Access token expired: "] {
        if let Some(at) = out.find(phrase) {
            let rest = at + phrase.len();
            let end = out[rest..]
                .find(|c: char| c.is_whitespace() || c == '"')
                .map_or(out.len(), |e| rest + e);
            out.replace_range(rest..end, REDACTED);
        }
    }
    out
}

/// Keyed fingerprint of a credential: `hmac-sha256:<first 16 hex digits>`. The key is the
/// operator's own (not stored with the fingerprint), so a fingerprint in status cannot be matched
/// against guessed tokens by anyone who lacks it.
pub fn fingerprint(key: &[u8], value: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new(&hmac_key_block(key).into());
    mac.update(value.as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("hmac-sha256:{hex}")
}

/// HMAC's own key preparation (RFC 2104): keys longer than the block are hashed, shorter ones are
/// zero-padded. Done here so the MAC is built from a fixed-size block, which cannot fail.
fn hmac_key_block(key: &[u8]) -> [u8; 64] {
    use sha2::Digest;
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Sensitive::new("tok-1234567890".to_string());
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(&s)), "Some(<redacted>)");
        assert_eq!(s.expose(), "tok-1234567890");
    }

    #[test]
    fn scrub_removes_known_secrets_and_echoed_tokens() {
        let msg = "401 Unauthorized: Invalid access token: abcdef0123456789 (user_key=key-0123456789)";
        let out = scrub(msg, &["key-0123456789"]);
        assert_eq!(
            out,
            "401 Unauthorized: Invalid access token: <redacted> (user_key=<redacted>)"
        );
        assert_eq!(
            scrub("Access token expired: zzz", &[]),
            "Access token expired: <redacted>"
        );
        assert_eq!(scrub("nothing secret", &["short"]), "nothing secret");
    }

    #[test]
    fn fingerprint_is_standard_hmac_sha256() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            fingerprint(b"Jefe", "what do ya want for nothing?"),
            "hmac-sha256:5bdcc146bf60754e"
        );
        let long_key = [0xaau8; 131]; // RFC 4231 test case 6 (key longer than the block)
        assert_eq!(
            fingerprint(
                &long_key,
                "Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "hmac-sha256:60e431591ee0b67f"
        );
    }

    #[test]
    fn fingerprints_are_stable_keyed_and_short() {
        let a = fingerprint(b"k1", "token");
        assert_eq!(a, fingerprint(b"k1", "token"));
        assert_ne!(a, fingerprint(b"k2", "token"));
        assert_ne!(a, fingerprint(b"k1", "token2"));
        assert!(a.starts_with("hmac-sha256:") && a.len() == "hmac-sha256:".len() + 16);
        assert!(!a.contains("token"));
    }
}
