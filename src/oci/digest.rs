//! Content digests (`sha256:<64 lowercase hex>`) and a writer that computes one while bytes pass.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

const PREFIX: &str = "sha256:";

/// A validated sha256 content digest. Only sha256 is accepted: it is what every registry and
/// runtime we target produces, and a single algorithm keeps `blobs/sha256/<hex>` paths trivial.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(String);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::from_hasher(Sha256::new_with_prefix(bytes))
    }

    fn from_hasher(hasher: Sha256) -> Digest {
        Digest(format!("{PREFIX}{}", hex::encode(hasher.finalize())))
    }

    /// Parse `sha256:<hex>`; anything else is a user error naming the bad value.
    pub fn parse(s: &str) -> Result<Digest> {
        let valid = s.strip_prefix(PREFIX).is_some_and(is_sha256_hex);
        if !valid {
            return Err(Error::user(format!(
                "invalid digest `{s}`: expected `sha256:` followed by 64 lowercase hex digits"
            )));
        }
        Ok(Digest(s.to_owned()))
    }

    /// Build from the 64 hex digits alone, as found in a `blobs/sha256/<hex>` file name.
    pub fn from_hex(hex: &str) -> Result<Digest> {
        Digest::parse(&format!("{PREFIX}{hex}"))
    }

    /// The 64 hex digits, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.0[PREFIX.len()..]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The blob's path relative to an OCI layout root: `blobs/sha256/<hex>`.
    pub fn blob_path(&self) -> String {
        format!("blobs/sha256/{}", self.hex())
    }
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Digest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Digest> {
        Digest::parse(s)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl From<&Digest> for oci_spec::image::Digest {
    fn from(d: &Digest) -> Self {
        // Our grammar is a strict subset of oci-spec's, so this cannot fail.
        oci_spec::image::Digest::from_str(d.as_str()).expect("sha256 digest is a valid OCI digest")
    }
}

impl TryFrom<&oci_spec::image::Digest> for Digest {
    type Error = Error;
    fn try_from(d: &oci_spec::image::Digest) -> Result<Digest> {
        Digest::parse(d.as_ref())
    }
}

/// Passes bytes through to `inner` while computing their sha256 and counting them, so a blob is
/// hashed exactly once, as it is written.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The inner writer (not flushed), the digest and the size of everything written.
    pub fn finish(self) -> (W, Digest, u64) {
        (self.inner, Digest::from_hasher(self.hasher), self.size)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Hash only what the inner writer accepted, so a short write never skews the digest.
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Computes the sha256 of everything read through it, to check a blob while it is copied.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// The digest of everything read so far.
    pub fn digest(&self) -> Digest {
        Digest::from_hasher(self.hasher.clone())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn digest_of_empty_input_is_the_well_known_value() {
        assert_eq!(Digest::of(b"").as_str(), EMPTY);
    }

    #[test]
    fn parse_rejects_other_algorithms_uppercase_and_bad_length() {
        assert!(Digest::parse(EMPTY).is_ok());
        assert!(Digest::parse(&EMPTY.to_uppercase()).is_err());
        assert!(Digest::parse(&EMPTY.replace("sha256", "sha512")).is_err());
        assert!(Digest::parse(&EMPTY[..70]).is_err());
        let err = Digest::parse("nope").unwrap_err();
        assert!(err.message().contains("`nope`"), "{}", err.message());
    }

    #[test]
    fn hex_and_blob_path_drop_the_algorithm() {
        let d = Digest::parse(EMPTY).unwrap();
        assert_eq!(d.hex(), &EMPTY[7..]);
        assert_eq!(d.blob_path(), format!("blobs/sha256/{}", &EMPTY[7..]));
        assert_eq!(Digest::from_hex(d.hex()).unwrap(), d);
    }

    #[test]
    fn serde_round_trips_and_validates() {
        let d = Digest::of(b"x");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{d}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"sha256:00\"").is_err());
    }

    #[test]
    fn hashing_writer_matches_one_shot_digest_and_counts_bytes() {
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"hello ").unwrap();
        w.write_all(b"world").unwrap();
        let (bytes, digest, size) = w.finish();
        assert_eq!(bytes, b"hello world");
        assert_eq!(size, 11);
        assert_eq!(digest, Digest::of(b"hello world"));
    }

    #[test]
    fn hashing_reader_matches_one_shot_digest() {
        let mut r = HashingReader::new(&b"hello world"[..]);
        let mut out = String::new();
        r.read_to_string(&mut out).unwrap();
        assert_eq!(r.digest(), Digest::of(b"hello world"));
    }
}
