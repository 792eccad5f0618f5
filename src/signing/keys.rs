//! Ed25519 key files: the private key as PKCS#8 PEM (`BEGIN PRIVATE KEY`),
//! the public key as SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`), the forms
//! `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout` use, so keys
//! made or kept with other tools work too. A key is named by its [`KeyId`].

use std::fmt;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use sha2::{Digest, Sha256};

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the 32 key bytes follow.
const SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
const PUBLIC_LABEL: &str = "PUBLIC KEY";
const PRIVATE_LABEL: &str = "PRIVATE KEY";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error("{path} already exists; not overwriting a key")]
    Exists { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path}: a private key readable by group or others (mode {mode:03o}); run `chmod 600 {path}`")]
    Unprotected { path: PathBuf, mode: u32 },
    #[error("cannot generate a key: the system's random number generator failed")]
    Random,
}

/// First 8 bytes of the SHA-256 of the raw public key, shown as 16 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 8]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// An Ed25519 public key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey([u8; 32]);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.id())
    }
}

impl PublicKey {
    pub fn id(&self) -> KeyId {
        let digest = Sha256::digest(self.0);
        let mut id = [0; 8];
        id.copy_from_slice(&digest[..8]);
        KeyId(id)
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, self.0).verify(message, signature).is_ok()
    }

    pub fn to_pem(&self) -> String {
        let mut der = SPKI_PREFIX.to_vec();
        der.extend_from_slice(&self.0);
        pem_encode(PUBLIC_LABEL, &der)
    }

    pub fn from_pem(text: &str) -> Result<Self, String> {
        let der = pem_decode(text, PUBLIC_LABEL).map_err(|message| match pem_decode(text, PRIVATE_LABEL) {
            Ok(_) => "this is a private key; give the public key (the `.pub` file)".to_string(),
            Err(_) => message,
        })?;
        match der.strip_prefix(&SPKI_PREFIX[..]).map(<[u8; 32]>::try_from) {
            Some(Ok(key)) => Ok(Self(key)),
            _ => Err("not an Ed25519 public key".into()),
        }
    }

    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let text = read_text(path)?;
        Self::from_pem(&text).map_err(|message| KeyError::Format { path: path.to_owned(), message })
    }
}

/// An Ed25519 private key, able to sign.
pub struct SigningKey(Ed25519KeyPair);

impl SigningKey {
    /// Reads a PKCS#8 PEM private key (v1 as openssl writes it, or v2 as `flowctl keygen` does).
    /// A key file others may read is refused, as ssh does.
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let meta = std::fs::metadata(path).map_err(|source| KeyError::Read { path: path.to_owned(), source })?;
        if let Some(mode) = crate::secret_file::exposed_mode(&meta) {
            return Err(KeyError::Unprotected { path: path.to_owned(), mode });
        }
        let text = read_text(path)?;
        let format = |message: String| KeyError::Format { path: path.to_owned(), message };
        let der = pem_decode(&text, PRIVATE_LABEL).map_err(|message| match pem_decode(&text, PUBLIC_LABEL) {
            Ok(_) => format("this is a public key; signing needs the private key".into()),
            Err(_) => format(message),
        })?;
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
            .map_err(|e| format(format!("not an Ed25519 private key ({e})")))?;
        Ok(Self(pair))
    }

    pub fn public_key(&self) -> PublicKey {
        let mut key = [0; 32];
        key.copy_from_slice(self.0.public_key().as_ref());
        PublicKey(key)
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let mut signature = [0; 64];
        signature.copy_from_slice(self.0.sign(message).as_ref());
        signature
    }
}

/// Where [`generate`] wrote a new key pair.
#[derive(Debug)]
pub struct NewKeyPair {
    pub private: PathBuf,
    pub public: PathBuf,
    pub id: KeyId,
}

/// Makes a key pair: the private key at `private` (mode 0600), the public key
/// at `private` + `.pub`. Neither file may exist yet.
pub fn generate(private: &Path) -> Result<NewKeyPair, KeyError> {
    let mut public = private.as_os_str().to_owned();
    public.push(".pub");
    let public = PathBuf::from(public);
    for path in [private, &public] {
        if path.symlink_metadata().is_ok() {
            return Err(KeyError::Exists { path: path.to_owned() });
        }
    }
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Random)?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| KeyError::Random)?;
    let key = SigningKey(pair).public_key();
    write_new(private, 0o600, &pem_encode(PRIVATE_LABEL, pkcs8.as_ref()))?;
    if let Err(err) = write_new(&public, 0o644, &key.to_pem()) {
        // No half pair left behind: the private key alone could not be verified against.
        let _ = std::fs::remove_file(private);
        return Err(err);
    }
    Ok(NewKeyPair { private: private.to_owned(), public, id: key.id() })
}

/// Creates `path` (never replacing a file, never following a planted symlink) with `mode`.
fn write_new(path: &Path, mode: u32, text: &str) -> Result<(), KeyError> {
    let write = |source| KeyError::Write { path: path.to_owned(), source };
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path).map_err(
        |source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => KeyError::Exists { path: path.to_owned() },
            _ => write(source),
        },
    )?;
    file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(write)
}

fn read_text(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|source| KeyError::Read { path: path.to_owned(), source })
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut text = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        text.push_str(&String::from_utf8_lossy(chunk));
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}

/// The DER inside the first `label` block of `text`.
fn pem_decode(text: &str, label: &str) -> Result<Vec<u8>, String> {
    let (begin, end) = (format!("-----BEGIN {label}-----"), format!("-----END {label}-----"));
    let mut lines = text.lines().map(str::trim).skip_while(|l| *l != begin);
    if lines.next().is_none() {
        return Err(format!("not a PEM file with a `{begin}` line"));
    }
    let mut body = String::new();
    for line in lines {
        if line == end {
            return base64::engine::general_purpose::STANDARD
                .decode(body)
                .map_err(|e| format!("the {label} block is not base64: {e}"));
        }
        body.push_str(line);
    }
    Err(format!("no `{end}` line"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_read_back_and_sign() {
        let dir = tempfile::tempdir().unwrap();
        let new = generate(&dir.path().join("k")).unwrap();
        assert_eq!(new.public, dir.path().join("k.pub"));
        assert_eq!(std::os::unix::fs::MetadataExt::mode(&std::fs::metadata(&new.private).unwrap()) & 0o777, 0o600);
        let private = SigningKey::read(&new.private).unwrap();
        let public = PublicKey::read(&new.public).unwrap();
        assert_eq!(private.public_key(), public);
        assert_eq!(public.id(), new.id);
        assert_eq!(new.id.to_string().len(), 16);
        let signature = private.sign(b"message");
        assert!(public.verifies(b"message", &signature));
        assert!(!public.verifies(b"other", &signature));
    }

    #[test]
    fn generate_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k.pub"), "keep").unwrap();
        let err = generate(&dir.path().join("k")).unwrap_err();
        assert!(matches!(&err, KeyError::Exists { path } if path.ends_with("k.pub")), "{err}");
        assert!(!dir.path().join("k").exists());
        assert_eq!(std::fs::read_to_string(dir.path().join("k.pub")).unwrap(), "keep");
    }

    #[test]
    fn openssl_style_keys_are_read() {
        // `openssl genpkey -algorithm ed25519` (PKCS#8 v1) and its `-pubout`: RFC 8410's example key.
        let private = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
        let public = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        write_new(&path, 0o600, private).unwrap();
        let key = SigningKey::read(&path).unwrap();
        assert_eq!(key.public_key(), PublicKey::from_pem(public).unwrap());
        assert_eq!(PublicKey::from_pem(&key.public_key().to_pem()).unwrap(), key.public_key());
    }

    #[test]
    fn wrong_files_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        let new = generate(&dir.path().join("k")).unwrap();
        let private_text = std::fs::read_to_string(&new.private).unwrap();
        assert!(PublicKey::from_pem(&private_text).unwrap_err().contains("private key"));
        assert!(PublicKey::from_pem("hello").unwrap_err().contains("not a PEM file"));
        std::fs::set_permissions(&new.private, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        assert!(matches!(SigningKey::read(&new.private), Err(KeyError::Unprotected { mode: 0o644, .. })));
        let copy = dir.path().join("pub-as-private");
        write_new(&copy, 0o600, &std::fs::read_to_string(&new.public).unwrap()).unwrap();
        let err = SigningKey::read(&copy).err().unwrap();
        assert!(err.to_string().contains("this is a public key"), "{err}");
    }
}
