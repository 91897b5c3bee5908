//! sealed-secrets' hybrid encryption, byte-compatible with
//! `github.com/bitnami-labs/sealed-secrets/pkg/crypto` `HybridEncrypt`:
//!
//! ```text
//! uint16_be(len(rsa_ct)) || rsa_ct || aes_gcm_ct_with_tag
//! rsa_ct = RSA-OAEP(SHA-256, MGF1-SHA-256, label)(session_key)   session_key: 32 random bytes
//! aes_gcm_ct_with_tag = AES-256-GCM(session_key, nonce = 12 zero bytes)(plaintext)
//! ```
//!
//! The zero nonce is safe because every value gets a fresh session key.

use aes_gcm::aead::Aead;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use rsa::sha2::Sha256;
use rsa::{Oaep, PrivateKey as RsaPrivateKey, PublicKey as RsaPublicKey};

use crate::{Result, SecretsError};

/// Length of the AES-256 session key.
pub const SESSION_KEY_BYTES: usize = 32;

/// Encrypt `plaintext` for the holder of the private key matching `public_key`,
/// bound to `label` (see [`crate::Scope::label`]).
pub fn hybrid_encrypt(
    public_key: &RsaPublicKey,
    plaintext: &[u8],
    label: &[u8],
) -> Result<Vec<u8>> {
    let mut session_key = [0u8; SESSION_KEY_BYTES];
    getrandom::fill(&mut session_key)
        .map_err(|e| SecretsError::Crypto(format!("no system randomness: {e}")))?;
    let padding = Oaep::<Sha256>::new_with_label(label.to_vec());
    let rsa_ct = public_key
        .encrypt(&mut getrandom::SysRng, padding, &session_key)
        .map_err(|e| SecretsError::Crypto(format!("RSA-OAEP: {e}")))?;
    let rsa_len = u16::try_from(rsa_ct.len()).map_err(|_| {
        SecretsError::Crypto(format!(
            "RSA ciphertext of {} bytes does not fit the 2-byte length prefix",
            rsa_ct.len()
        ))
    })?;
    let aes = Aes256Gcm::new_from_slice(&session_key)
        .map_err(|e| SecretsError::Crypto(format!("AES key: {e}")))?;
    let aes_ct = aes
        .encrypt(&Nonce::default(), plaintext)
        .map_err(|e| SecretsError::Crypto(format!("AES-GCM: {e}")))?;
    session_key.fill(0);
    let mut out = Vec::with_capacity(2 + rsa_ct.len() + aes_ct.len());
    out.extend_from_slice(&rsa_len.to_be_bytes());
    out.extend_from_slice(&rsa_ct);
    out.extend_from_slice(&aes_ct);
    Ok(out)
}

/// The inverse of [`hybrid_encrypt`] (what the controller does). Used by tests
/// and for round-trip checks; the CLI never holds a controller private key.
pub fn hybrid_decrypt(
    private_key: &RsaPrivateKey,
    ciphertext: &[u8],
    label: &[u8],
) -> Result<Vec<u8>> {
    let short = || SecretsError::Crypto("sealed data is too short".into());
    let len_bytes: [u8; 2] =
        ciphertext.get(..2).ok_or_else(short)?.try_into().map_err(|_| short())?;
    let rsa_len = usize::from(u16::from_be_bytes(len_bytes));
    let rsa_ct = ciphertext.get(2..2 + rsa_len).ok_or_else(short)?;
    let aes_ct = ciphertext.get(2 + rsa_len..).ok_or_else(short)?;
    let session_key = private_key
        .decrypt(Oaep::<Sha256>::new_with_label(label.to_vec()), rsa_ct)
        .map_err(|e| SecretsError::Crypto(format!("RSA-OAEP: {e}")))?;
    let aes = Aes256Gcm::new_from_slice(&session_key)
        .map_err(|e| SecretsError::Crypto(format!("AES key: {e}")))?;
    aes.decrypt(&Nonce::default(), aes_ct)
        .map_err(|e| SecretsError::Crypto(format!("AES-GCM: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keypair() -> (RsaPrivateKey, RsaPublicKey) {
        let mut rng = rsa::rand_core::UnwrapErr(getrandom::SysRng);
        let private = RsaPrivateKey::new(&mut rng, 2048).expect("keygen");
        let public = private.to_public_key();
        (private, public)
    }

    #[test]
    fn round_trips_and_is_bound_to_the_label() {
        let (private, public) = keypair();
        let ct = hybrid_encrypt(&public, b"hunter2", b"ns/name").expect("encrypt");
        // Layout: 2-byte big-endian RSA length (256 for 2048-bit), RSA part, AES-GCM (7 + 16-byte tag).
        assert_eq!(u16::from_be_bytes([ct[0], ct[1]]), 256);
        assert_eq!(ct.len(), 2 + 256 + 7 + 16);
        assert_eq!(hybrid_decrypt(&private, &ct, b"ns/name").expect("decrypt"), b"hunter2");
        assert!(
            hybrid_decrypt(&private, &ct, b"ns/other").is_err(),
            "another label must not decrypt"
        );
        assert!(hybrid_decrypt(&private, &ct, b"").is_err());
        // A fresh session key per call: the same plaintext never seals the same way twice.
        let again = hybrid_encrypt(&public, b"hunter2", b"ns/name").expect("encrypt");
        assert_ne!(ct, again);
        assert!(
            hybrid_decrypt(&private, &[0, 5, 1], b"").is_err(),
            "short input is an error, not a panic"
        );
    }
}
