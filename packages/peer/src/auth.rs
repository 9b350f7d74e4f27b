//! Signed requests: the caller signs with its chain key (secp256k1, as
//! Cosmos accounts are), so the axon knows which registered peer calls.
//!
//! The signed payload is `METHOD \n PATH \n TIMESTAMP \n hex(sha256(body))`,
//! signed with ECDSA over SHA-256. Three headers carry it: the public key
//! (SEC1 compressed, hex), the timestamp (Unix seconds) and the signature
//! (64 bytes `r ‖ s`, hex). A timestamp outside the axon's skew window is
//! refused, so a captured request cannot be replayed later.

use k256::ecdsa::signature::{Signer, Verifier};
use k256::ecdsa::{Signature, SigningKey, VerifyingKey};
use k256::sha2::{Digest, Sha256};

pub const HEADER_KEY: &str = "x-agora-key";
pub const HEADER_TIMESTAMP: &str = "x-agora-timestamp";
pub const HEADER_SIGNATURE: &str = "x-agora-signature";

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AuthError {
    #[error("unsigned request: header {0} is missing")]
    Missing(&'static str),
    #[error("header {0} is malformed")]
    Malformed(&'static str),
    #[error("the signature does not match the request")]
    BadSignature,
    #[error("timestamp {timestamp} is outside the window around {now}")]
    Stale { timestamp: u64, now: u64 },
    #[error("{address} is not registered in graph {graph}")]
    NotRegistered { address: String, graph: String },
    #[error("a key is 32 bytes of secret scalar")]
    BadSecret,
}

/// A peer's chain key.
#[derive(Clone)]
pub struct PeerKey {
    signing: SigningKey,
}

impl PeerKey {
    /// The key with secret scalar `secret`.
    pub fn from_secret(secret: &[u8; 32]) -> Result<Self, AuthError> {
        SigningKey::from_bytes(secret.into())
            .map(|signing| Self { signing })
            .map_err(|_| AuthError::BadSecret)
    }

    /// The secp256k1 key itself: the chain signs its transactions with it.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// SEC1 compressed public key (33 bytes).
    pub fn public_key(&self) -> Vec<u8> {
        self.signing
            .verifying_key()
            .to_encoded_point(true)
            .as_bytes()
            .to_vec()
    }

    /// The three headers of a signed request.
    pub fn sign(
        &self,
        method: &str,
        path: &str,
        timestamp: u64,
        body: &[u8],
    ) -> [(&'static str, String); 3] {
        let signature: Signature = self.signing.sign(&payload(method, path, timestamp, body));
        [
            (HEADER_KEY, hex::encode(self.public_key())),
            (HEADER_TIMESTAMP, timestamp.to_string()),
            (HEADER_SIGNATURE, hex::encode(signature.to_bytes())),
        ]
    }
}

impl PeerKey {
    /// A number only this key's holder can compute: HMAC-SHA-256 keyed by
    /// the secret, over `purpose` and `index`. A validator draws its
    /// held-out text and batches from it (whitepaper §9), so no neighbour
    /// can tell which inputs it is judged on.
    pub fn private_number(&self, purpose: &str, index: u64) -> u64 {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.signing.to_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(purpose.as_bytes());
        mac.update(&index.to_le_bytes());
        let digest = mac.finalize().into_bytes();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }
}

fn payload(method: &str, path: &str, timestamp: u64, body: &[u8]) -> Vec<u8> {
    format!(
        "{method}\n{path}\n{timestamp}\n{}",
        hex::encode(Sha256::digest(body))
    )
    .into_bytes()
}

/// Checks a request's headers against its body; returns the caller's
/// public key.
pub fn verify(
    header: impl Fn(&'static str) -> Option<String>,
    method: &str,
    path: &str,
    body: &[u8],
    now: u64,
    skew: u64,
) -> Result<Vec<u8>, AuthError> {
    let get = |name: &'static str| header(name).ok_or(AuthError::Missing(name));
    let key = hex::decode(get(HEADER_KEY)?).map_err(|_| AuthError::Malformed(HEADER_KEY))?;
    let timestamp: u64 = get(HEADER_TIMESTAMP)?
        .parse()
        .map_err(|_| AuthError::Malformed(HEADER_TIMESTAMP))?;
    let signature = hex::decode(get(HEADER_SIGNATURE)?)
        .ok()
        .and_then(|bytes| Signature::from_slice(&bytes).ok())
        .ok_or(AuthError::Malformed(HEADER_SIGNATURE))?;
    let verifying =
        VerifyingKey::from_sec1_bytes(&key).map_err(|_| AuthError::Malformed(HEADER_KEY))?;
    if timestamp.abs_diff(now) > skew {
        return Err(AuthError::Stale { timestamp, now });
    }
    verifying
        .verify(&payload(method, path, timestamp, body), &signature)
        .map_err(|_| AuthError::BadSignature)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_binds_key_request_and_time() {
        let key = PeerKey::from_secret(&[7; 32]).unwrap();
        let headers = key.sign("POST", "/forward", 1000, b"body");
        let header = |headers: [(&'static str, String); 3]| {
            move |name: &'static str| {
                headers
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.clone())
            }
        };
        let ok = verify(
            header(headers.clone()),
            "POST",
            "/forward",
            b"body",
            1005,
            30,
        );
        assert_eq!(ok.unwrap(), key.public_key());
        for (method, path, body, now) in [
            ("GET", "/forward", &b"body"[..], 1000),
            ("POST", "/health", &b"body"[..], 1000),
            ("POST", "/forward", &b"other"[..], 1000),
        ] {
            assert_eq!(
                verify(header(headers.clone()), method, path, body, now, 30),
                Err(AuthError::BadSignature)
            );
        }
        assert_eq!(
            verify(
                header(headers.clone()),
                "POST",
                "/forward",
                b"body",
                1031,
                30
            ),
            Err(AuthError::Stale {
                timestamp: 1000,
                now: 1031
            })
        );
        assert_eq!(
            verify(|_| None, "POST", "/forward", b"body", 1000, 30),
            Err(AuthError::Missing(HEADER_KEY))
        );
        assert!(PeerKey::from_secret(&[0; 32]).is_err());
    }

    #[test]
    fn private_numbers_depend_on_the_secret_purpose_and_index() {
        let (a, b) = (
            PeerKey::from_secret(&[7; 32]).unwrap(),
            PeerKey::from_secret(&[8; 32]).unwrap(),
        );
        assert_eq!(a.private_number("x", 1), a.private_number("x", 1));
        for other in [
            b.private_number("x", 1),
            a.private_number("y", 1),
            a.private_number("x", 2),
        ] {
            assert_ne!(a.private_number("x", 1), other);
        }
    }
}
