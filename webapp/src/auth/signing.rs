//! HMAC-SHA256 signatures for the app's own tokens (signed blob URLs, history cursors). Each use
//! gets its own key, derived from the one signing secret with a label, so a signature made for
//! one purpose never verifies for another.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};

type HmacSha256 = Hmac<sha2::Sha256>;

#[derive(Clone)]
pub struct Signer {
    key: [u8; 32],
}

impl Signer {
    pub fn derive(secret: &[u8], purpose: &str) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(&self, parts: &[&[u8]]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        for part in parts {
            // Length-prefixed so that ("ab", "c") and ("a", "bc") differ.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }

    /// The signature of `parts`, base64url without padding.
    pub fn sign(&self, parts: &[&[u8]]) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(parts).finalize().into_bytes())
    }

    /// Checks a signature from [`Self::sign`] in constant time.
    pub fn verify(&self, parts: &[&[u8]], signature: &str) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        self.mac(parts).verify_slice(&bytes).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_purpose_and_parts() {
        let urls = Signer::derive(b"secret", "blob-url");
        let cursors = Signer::derive(b"secret", "cursor");
        let sig = urls.sign(&[b"ab", b"c"]);
        assert!(urls.verify(&[b"ab", b"c"], &sig));
        assert!(!urls.verify(&[b"a", b"bc"], &sig));
        assert!(!cursors.verify(&[b"ab", b"c"], &sig));
        assert!(!urls.verify(&[b"ab", b"c"], "not base64!"));
    }
}
