//! Cryptography shared by the whole process, below every other module:
//! AES-256-GCM sealing with a versioned keyring (the Vault's primitives),
//! and the process-wide TLS provider.
//!
//! * a fresh random 96-bit nonce per encryption, from the OS RNG (`getrandom`);
//! * associated data binds every ciphertext to its row — credential id,
//!   user id, provider, key name and key version — so a value copied into
//!   another row fails to open;
//! * web tokens (connect links, CSRF tokens) are signed with HMAC-SHA256
//!   under a key derived from each master key for that purpose only, so a
//!   token never reveals or reuses the encryption key;
//! * keys live in `zeroize`d memory; nothing here implements `Display`, and
//!   `Debug` output never contains key or plaintext bytes.

use std::collections::BTreeMap;
use std::fmt;

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::Mac;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use zeroize::Zeroizing;

/// Install the process-wide TLS crypto provider (ring) once. Every TLS client
/// in the process (database, engines) uses it.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Why a seal or open failed. Carries no key or plaintext material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("no key for key version {0} is configured")]
    UnknownKeyVersion(i32),
    #[error("stored ciphertext or nonce is not valid base64 or has the wrong length")]
    Malformed,
    #[error(
        "decryption failed: the value was tampered with, moved to another row, or sealed with another key"
    )]
    Authentication,
    #[error("decrypted value is not valid UTF-8")]
    NotUtf8,
    #[error("the operating system's random number generator failed")]
    Rng,
}

/// A 256-bit master key. Zeroized on drop; never printed.
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(fingerprint={})", self.fingerprint())
    }
}

impl MasterKey {
    /// Parse base64 (standard or URL-safe, padding optional) of exactly 32 bytes.
    /// The error never contains the input.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("is empty; expected base64 of 32 random bytes (generate one with `vieagent vault generate-key`)".into());
        }
        let decoded = Zeroizing::new(
            B64.decode(text)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
                .map_err(|_| {
                    "is not valid base64; expected base64 of 32 random bytes (generate one with `vieagent vault generate-key`)"
                        .to_string()
                })?,
        );
        if decoded.len() != 32 {
            return Err(format!(
                "decodes to {} bytes; AES-256 needs exactly 32 (generate one with `vieagent vault generate-key`)",
                decoded.len()
            ));
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(&decoded);
        Ok(Self(bytes))
    }

    /// A new random key from the OS RNG.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).map_err(|_| CryptoError::Rng)?;
        Ok(Self(bytes))
    }

    /// The key as base64, for writing a key file once.
    pub fn to_base64(&self) -> SecretString {
        SecretString::from(B64.encode(self.0.as_ref()))
    }

    /// A key check value: identifies a key without revealing it
    /// (SHA-256 over a domain label and the key, first 16 bytes, hex).
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"vieagent/vault/key-fingerprint/v1\0");
        h.update(self.0.as_ref());
        hex::encode(&h.finalize()[..16])
    }

    /// A key for signing web tokens, derived from this key
    /// (HMAC-SHA256 over a domain label): independent of the encryption key.
    pub fn signing_key(&self) -> SigningKey {
        let mut mac =
            HmacSha256::new_from_slice(self.0.as_ref()).expect("HMAC takes any key length");
        mac.update(b"vieagent/web/signing-key/v1");
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&mac.finalize().into_bytes());
        SigningKey(key)
    }

    fn cipher(&self) -> Aes256Gcm {
        // Infallible: the slice is exactly 32 bytes.
        let bytes: &[u8; 32] = &self.0;
        Aes256Gcm::new(bytes.into())
    }
}

type HmacSha256 = hmac::Hmac<Sha256>;

/// An HMAC-SHA256 key for web tokens. Zeroized on drop; never printed.
pub struct SigningKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

impl SigningKey {
    fn mac(&self, message: &[u8]) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(self.0.as_ref()).expect("HMAC takes any key length");
        mac.update(message);
        mac
    }

    /// The tag of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 32] {
        self.mac(message).finalize().into_bytes().into()
    }

    /// Whether `tag` is `message`'s tag (compared in constant time).
    pub fn verify(&self, message: &[u8], tag: &[u8]) -> bool {
        self.mac(message).verify_slice(tag).is_ok()
    }
}

/// Which row a ciphertext belongs to; serialized as the GCM associated data.
#[derive(Debug, Clone, Copy)]
pub struct CredentialAad<'a> {
    pub credential_id: Uuid,
    pub user_id: Uuid,
    pub provider: &'a str,
    pub key_name: &'a str,
}

impl CredentialAad<'_> {
    fn bytes(&self, key_version: i32) -> Vec<u8> {
        // A JSON array is unambiguous whatever the fields contain.
        serde_json::json!([
            "vieagent.credential.v1",
            self.credential_id.to_string(),
            self.user_id.to_string(),
            self.provider,
            self.key_name,
            key_version
        ])
        .to_string()
        .into_bytes()
    }
}

fn canary_aad(key_version: i32) -> Vec<u8> {
    serde_json::json!(["vieagent.vault.canary.v1", key_version])
        .to_string()
        .into_bytes()
}

pub(crate) const CANARY_PLAINTEXT: &str = "vieagent vault canary";

/// A sealed value in the seed's storage format.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// base64 ciphertext + 16-byte tag (the `encrypted_value` column).
    pub ciphertext: String,
    /// base64 96-bit nonce (the `iv` column).
    pub iv: String,
    pub key_version: i32,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("key_version", &self.key_version)
            .finish_non_exhaustive()
    }
}

/// Versioned keys: the active one seals and signs, any of them opens and
/// verifies.
pub struct Keyring {
    active: i32,
    keys: BTreeMap<i32, VersionKeys>,
}

/// What one master key version is used as.
struct VersionKeys {
    cipher: Aes256Gcm,
    signer: SigningKey,
}

impl VersionKeys {
    fn of(key: &MasterKey) -> Self {
        Self {
            cipher: key.cipher(),
            signer: key.signing_key(),
        }
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("active", &self.active)
            .field("versions", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Keyring {
    pub fn new(active_version: i32, active: &MasterKey) -> Self {
        Self {
            active: active_version,
            keys: BTreeMap::from([(active_version, VersionKeys::of(active))]),
        }
    }

    pub fn add(&mut self, version: i32, key: &MasterKey) {
        self.keys.insert(version, VersionKeys::of(key));
    }

    /// Sign a web token with the active key: `(key version, tag)`.
    pub fn sign(&self, message: &[u8]) -> (i32, [u8; 32]) {
        let active = self
            .keys
            .get(&self.active)
            .expect("the active version is in the keyring from `new` on, and never removed");
        (self.active, active.signer.sign(message))
    }

    /// Whether `tag` was made by [`Keyring::sign`] under `version`'s key.
    pub fn verify(&self, version: i32, message: &[u8], tag: &[u8]) -> bool {
        self.keys
            .get(&version)
            .is_some_and(|k| k.signer.verify(message, tag))
    }

    pub fn active_version(&self) -> i32 {
        self.active
    }

    pub fn versions(&self) -> Vec<i32> {
        self.keys.keys().copied().collect()
    }

    pub fn has_version(&self, version: i32) -> bool {
        self.keys.contains_key(&version)
    }

    fn cipher(&self, version: i32) -> Result<&Aes256Gcm, CryptoError> {
        self.keys
            .get(&version)
            .map(|k| &k.cipher)
            .ok_or(CryptoError::UnknownKeyVersion(version))
    }

    fn seal_raw(&self, version: i32, aad: &[u8], plaintext: &[u8]) -> Result<Sealed, CryptoError> {
        let cipher = self.cipher(version)?;
        let nonce = Nonce::try_generate().map_err(|_| CryptoError::Rng)?;
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| CryptoError::Authentication)?;
        Ok(Sealed {
            ciphertext: B64.encode(ciphertext),
            iv: B64.encode(nonce.as_slice()),
            key_version: version,
        })
    }

    fn open_raw(&self, sealed: &Sealed, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let cipher = self.cipher(sealed.key_version)?;
        let iv = B64.decode(&sealed.iv).map_err(|_| CryptoError::Malformed)?;
        let nonce = Nonce::try_from(iv.as_slice()).map_err(|_| CryptoError::Malformed)?;
        let ciphertext = B64
            .decode(&sealed.ciphertext)
            .map_err(|_| CryptoError::Malformed)?;
        cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: &ciphertext,
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Authentication)
    }

    /// Seal a credential value for its row under the active key.
    pub fn seal(
        &self,
        aad: &CredentialAad<'_>,
        secret: &SecretString,
    ) -> Result<Sealed, CryptoError> {
        self.seal_with(self.active, aad, secret)
    }

    /// Seal under a given key version (rotation).
    pub fn seal_with(
        &self,
        version: i32,
        aad: &CredentialAad<'_>,
        secret: &SecretString,
    ) -> Result<Sealed, CryptoError> {
        self.seal_raw(
            version,
            &aad.bytes(version),
            secret.expose_secret().as_bytes(),
        )
    }

    /// Open a credential value; fails unless `aad` is exactly the row it was sealed for.
    pub fn open(
        &self,
        aad: &CredentialAad<'_>,
        sealed: &Sealed,
    ) -> Result<SecretString, CryptoError> {
        let bytes = self.open_raw(sealed, &aad.bytes(sealed.key_version))?;
        let text = std::str::from_utf8(&bytes).map_err(|_| CryptoError::NotUtf8)?;
        Ok(SecretString::from(text))
    }

    pub(crate) fn seal_canary(&self, version: i32) -> Result<Sealed, CryptoError> {
        self.seal_raw(version, &canary_aad(version), CANARY_PLAINTEXT.as_bytes())
    }

    pub(crate) fn open_canary(&self, sealed: &Sealed) -> Result<(), CryptoError> {
        let bytes = self.open_raw(sealed, &canary_aad(sealed.key_version))?;
        if bytes.as_slice() == CANARY_PLAINTEXT.as_bytes() {
            Ok(())
        } else {
            Err(CryptoError::Authentication)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn aad<'a>(user: Uuid, provider: &'a str) -> CredentialAad<'a> {
        CredentialAad {
            credential_id: Uuid::from_u128(7),
            user_id: user,
            provider,
            key_name: "default",
        }
    }

    #[test]
    fn web_tokens_verify_under_their_version_only() {
        let (k1, k2) = (
            MasterKey::generate().expect("k1"),
            MasterKey::generate().expect("k2"),
        );
        let mut ring = Keyring::new(2, &k2);
        ring.add(1, &k1);
        let (version, tag) = ring.sign(b"claims");
        assert_eq!(version, 2);
        assert!(ring.verify(2, b"claims", &tag));
        assert!(!ring.verify(2, b"claimz", &tag), "another message");
        assert!(!ring.verify(1, b"claims", &tag), "another key version");
        assert!(!ring.verify(3, b"claims", &tag), "an unknown version");
        // The old key still verifies what it signed (links issued before a rotation).
        let old = Keyring::new(1, &k1).sign(b"claims").1;
        assert!(ring.verify(1, b"claims", &old));
    }

    #[test]
    fn round_trip_and_binding() {
        let key = MasterKey::generate().expect("key");
        let ring = Keyring::new(1, &key);
        let user = Uuid::from_u128(1);
        let secret = SecretString::from("sk-live-0123456789");
        let sealed = ring.seal(&aad(user, "openai"), &secret).expect("seal");
        assert_eq!(
            B64.decode(&sealed.iv).expect("iv").len(),
            12,
            "96-bit nonce"
        );
        let opened = ring.open(&aad(user, "openai"), &sealed).expect("open");
        assert_eq!(opened.expose_secret(), "sk-live-0123456789");

        // Another user, provider, key name, row id or key version: refused.
        assert_eq!(
            ring.open(&aad(Uuid::from_u128(2), "openai"), &sealed).err(),
            Some(CryptoError::Authentication)
        );
        assert_eq!(
            ring.open(&aad(user, "anthropic"), &sealed).err(),
            Some(CryptoError::Authentication)
        );
        let other_name = CredentialAad {
            key_name: "work",
            ..aad(user, "openai")
        };
        assert_eq!(
            ring.open(&other_name, &sealed).err(),
            Some(CryptoError::Authentication)
        );
        let other_row = CredentialAad {
            credential_id: Uuid::from_u128(8),
            ..aad(user, "openai")
        };
        assert_eq!(
            ring.open(&other_row, &sealed).err(),
            Some(CryptoError::Authentication)
        );
        let mut relabelled = sealed.clone();
        relabelled.key_version = 2;
        assert_eq!(
            ring.open(&aad(user, "openai"), &relabelled).err(),
            Some(CryptoError::UnknownKeyVersion(2))
        );
    }

    #[test]
    fn tampering_is_detected_not_garbage() {
        let key = MasterKey::generate().expect("key");
        let ring = Keyring::new(1, &key);
        let user = Uuid::from_u128(1);
        let sealed = ring
            .seal(&aad(user, "openai"), &SecretString::from("secret-value"))
            .expect("seal");

        let mut bytes = B64.decode(&sealed.ciphertext).expect("b64");
        for i in [0, bytes.len() / 2, bytes.len() - 1] {
            bytes[i] ^= 0x01;
            let tampered = Sealed {
                ciphertext: B64.encode(&bytes),
                ..sealed.clone()
            };
            assert_eq!(
                ring.open(&aad(user, "openai"), &tampered).err(),
                Some(CryptoError::Authentication)
            );
            bytes[i] ^= 0x01;
        }
        let mut iv = B64.decode(&sealed.iv).expect("b64");
        iv[0] ^= 0x80;
        let tampered = Sealed {
            iv: B64.encode(&iv),
            ..sealed.clone()
        };
        assert_eq!(
            ring.open(&aad(user, "openai"), &tampered).err(),
            Some(CryptoError::Authentication)
        );
        let short_iv = Sealed {
            iv: B64.encode([0u8; 8]),
            ..sealed.clone()
        };
        assert_eq!(
            ring.open(&aad(user, "openai"), &short_iv).err(),
            Some(CryptoError::Malformed)
        );
        let junk = Sealed {
            ciphertext: "***not base64***".into(),
            ..sealed.clone()
        };
        assert_eq!(
            ring.open(&aad(user, "openai"), &junk).err(),
            Some(CryptoError::Malformed)
        );
        let truncated = Sealed {
            ciphertext: B64.encode(&bytes[..4]),
            ..sealed.clone()
        };
        assert_eq!(
            ring.open(&aad(user, "openai"), &truncated).err(),
            Some(CryptoError::Authentication)
        );

        // A different key cannot open it.
        let other = Keyring::new(1, &MasterKey::generate().expect("key"));
        assert_eq!(
            other.open(&aad(user, "openai"), &sealed).err(),
            Some(CryptoError::Authentication)
        );
    }

    #[test]
    fn nonces_never_repeat_over_100k_encryptions() {
        let ring = Keyring::new(1, &MasterKey::generate().expect("key"));
        let a = aad(Uuid::from_u128(1), "openai");
        let secret = SecretString::from("x".repeat(100));
        let mut seen = HashSet::with_capacity(100_000);
        for _ in 0..100_000 {
            let sealed = ring.seal(&a, &secret).expect("seal");
            assert!(seen.insert(sealed.iv), "nonce repeated");
        }
        assert_eq!(seen.len(), 100_000);
    }

    #[test]
    fn master_key_parsing_names_the_problem_without_echoing() {
        let good = MasterKey::generate().expect("key").to_base64();
        assert!(MasterKey::from_base64(good.expose_secret()).is_ok());
        let short = B64.encode([7u8; 16]);
        let err = MasterKey::from_base64(&short).expect_err("16 bytes");
        assert!(err.contains("16 bytes") && !err.contains(&short), "{err}");
        let err = MasterKey::from_base64("not base64 at all!!").expect_err("garbage");
        assert!(
            err.contains("not valid base64") && !err.contains("at all"),
            "{err}"
        );
        assert!(MasterKey::from_base64("").is_err());
        let key = MasterKey::from_base64(good.expose_secret()).expect("key");
        assert!(!format!("{key:?}").contains(good.expose_secret()));
    }

    #[test]
    fn canary_round_trip_per_version() {
        let k1 = MasterKey::generate().expect("key");
        let k2 = MasterKey::generate().expect("key");
        let mut ring = Keyring::new(2, &k2);
        ring.add(1, &k1);
        let c1 = ring.seal_canary(1).expect("seal");
        let c2 = ring.seal_canary(2).expect("seal");
        ring.open_canary(&c1).expect("v1 opens");
        ring.open_canary(&c2).expect("v2 opens");
        let swapped = Sealed {
            key_version: 2,
            ..c1
        };
        assert!(ring.open_canary(&swapped).is_err());
        assert_ne!(k1.fingerprint(), k2.fingerprint());
    }
}
