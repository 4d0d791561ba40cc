//! Object keys: where a clip lives in the object store.
//!
//! A key is `/`-separated segments of `[A-Za-z0-9._%-]`, none empty, none starting with `.` (so
//! no `.`, `..`, or hidden file), at most 1024 bytes (S3's limit and the contract's
//! `object_key.maxLength`). That makes a key safe to map onto a directory tree — it cannot name
//! anything outside the store's root or collide with the store's own temporary files (which start
//! with `.`) — and valid unchanged as an S3 key.

use std::fmt;

/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// A checked object key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

/// Why a text is not an object key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid object key `{key}`: {reason}")]
pub struct KeyError {
    pub key: String,
    pub reason: &'static str,
}

impl ObjectKey {
    /// Checks `key` (see the module documentation for the rules).
    pub fn new(key: impl Into<String>) -> Result<Self, KeyError> {
        let key = key.into();
        let invalid = |reason| {
            Err(KeyError {
                // Quoted in logs and dead letters: keep it short.
                key: key.chars().take(200).collect(),
                reason,
            })
        };
        if key.is_empty() {
            return invalid("empty");
        }
        if key.len() > MAX_KEY_BYTES {
            return invalid("longer than 1024 bytes");
        }
        for segment in key.split('/') {
            if segment.is_empty() {
                return invalid("empty segment (leading, trailing or double `/`)");
            }
            if segment.starts_with('.') {
                return invalid("a segment starts with `.`");
            }
            if !segment.bytes().all(is_key_byte) {
                return invalid("only letters, digits, `.`, `_`, `-`, `%` and `/` are allowed");
            }
        }
        Ok(Self(key))
    }

    /// `clips/<vehicle_id>/<clip_id>.mp4`: a pure function of the clip, so a job that is done
    /// twice finds the first one's object. Ids are written with every byte outside
    /// `[A-Za-z0-9_-]` as `%XX` (uppercase hex), which is injective and keeps UUIDs as they are;
    /// the only error left is a key over 1024 bytes.
    pub fn for_clip(vehicle_id: &str, clip_id: &str) -> Result<Self, KeyError> {
        Self::new(format!(
            "clips/{}/{}.mp4",
            escape(vehicle_id),
            escape(clip_id)
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The segments, e.g. `["clips", "car-1", "c.mp4"]`.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'%')
}

fn escape(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keys_follow_the_layout() {
        let key =
            ObjectKey::for_clip("car-0042", "7d5e0c1a-2f3b-4c6d-9e8f-001122334455").expect("valid");
        assert_eq!(
            key.as_str(),
            "clips/car-0042/7d5e0c1a-2f3b-4c6d-9e8f-001122334455.mp4"
        );
        assert_eq!(
            key.segments().collect::<Vec<_>>(),
            [
                "clips",
                "car-0042",
                "7d5e0c1a-2f3b-4c6d-9e8f-001122334455.mp4"
            ]
        );
    }

    #[test]
    fn hostile_ids_stay_one_segment_and_distinct() {
        for (clip_id, expected) in [
            ("../../etc/passwd", "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd"),
            (".hidden", "%2Ehidden"),
            ("a b", "a%20b"),
            ("a%20b", "a%2520b"),
            ("ü", "%C3%BC"),
            ("a\\b\0", "a%5Cb%00"),
        ] {
            let key = ObjectKey::for_clip("car-1", clip_id).expect("escaped");
            assert_eq!(key.as_str(), format!("clips/car-1/{expected}.mp4"));
            assert_eq!(key.segments().count(), 3);
        }
        let too_long = "/".repeat(400);
        assert!(ObjectKey::for_clip("car-1", &too_long).is_err());
    }

    #[test]
    fn keys_that_could_leave_the_root_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "clips/../../etc",
            "clips/./a",
            "clips//a",
            "clips/a/",
            "clips/.a.tmp",
            "..",
            "clips\\..\\a",
            "clips/a\0b",
            "clips/a b",
            "clips/ü",
        ] {
            assert!(ObjectKey::new(bad).is_err(), "`{bad}` accepted");
        }
        assert!(ObjectKey::new("a".repeat(1024)).is_ok());
        assert!(ObjectKey::new("a".repeat(1025)).is_err());
        assert!(ObjectKey::new("clips/car-1/a.b%2F.mp4").is_ok());
    }
}
