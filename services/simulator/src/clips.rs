//! The car's side of dashcam clips: the video a simulated dashcam kept, handed out in chunks.
//!
//! A real unit keeps its clips on board and uploads one only when asked; the simulator has no
//! video, so it makes the bytes up, deterministically, from what identifies the clip:
//!
//! - the vehicle id and the clip id seed a counter-based PRNG (SplitMix64: the `i`-th 8-byte word
//!   is a pure function of the seed and `i`), so any chunk is made on its own, without making the
//!   bytes before it, and the same request always gets the same bytes;
//! - the window (seconds before plus after the trigger) gives the length, at
//!   [`BYTES_PER_SECOND`] (about 5 MB for the usual 20 s), after a 32-byte MP4 header (an `ftyp`
//!   box and the header of the `mdat` box that holds the "video"), so the file looks like an MP4
//!   to `file(1)`.
//!
//! The trigger time does not change the bytes: the contract identifies a clip by its id, and the
//! window is there so a car can also cut a clip it did not keep by itself.
//!
//! [`clip_chunk`] answers one [`GetClipBytes`] and is pure; [`serve_clips`] serves it on the bus.

use anyhow::Context;
use broker_bridge::{Bridge, Incoming, Subscription};
use instadash_schemas::dashcam::get_clip_bytes::v1::GetClipBytes;
use instadash_schemas::dashcam::get_clip_bytes_reply::v1::GetClipBytesReply;

/// The media type of every clip.
pub const CONTENT_TYPE: &str = "video/mp4";

/// Bytes of video per second of clip: a modest 2 Mbit/s dashcam stream.
pub const BYTES_PER_SECOND: u64 = 250_000;

/// The most a single reply carries, as the contract allows (`max_bytes` ≤ 262144). Base64 makes
/// that about 350 KB on the wire, well inside the default 1 MiB message limit.
pub const MAX_CHUNK_BYTES: u32 = 262_144;

/// The MP4 header every clip starts with: a 24-byte `ftyp` box and the 8-byte header of the
/// `mdat` box that holds the rest.
pub const HEADER_BYTES: u64 = 32;

/// `ftyp`: size 24, brand `mp42`, minor version 0, compatible brands `mp42` and `isom`.
const FTYP: &[u8; 24] = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom";

/// Why the car cannot answer a chunk request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClipError {
    #[error("offset {offset} is beyond the end of clip {clip_id} ({size} bytes)")]
    OffsetBeyondEnd {
        clip_id: String,
        offset: u64,
        size: u64,
    },
    #[error("a chunk of 0 bytes was asked for")]
    EmptyChunk,
}

/// One clip as the car holds it: its seed and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clip {
    seed: u64,
    size: u64,
}

impl Clip {
    /// The clip of `vehicle_id` with id `clip_id`, cut `before_s` seconds before its trigger to
    /// `after_s` seconds after.
    pub fn new(vehicle_id: &str, clip_id: &str, before_s: u32, after_s: u32) -> Self {
        let seconds = u64::from(before_s) + u64::from(after_s);
        Self {
            seed: seed(vehicle_id, clip_id),
            size: HEADER_BYTES + seconds * BYTES_PER_SECOND,
        }
    }

    /// The clip a request asks about.
    pub fn of_request(request: &GetClipBytes) -> Self {
        Self::new(
            &request.vehicle_id,
            &request.clip_id,
            request.window_before_s,
            request.window_after_s,
        )
    }

    /// Its length in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Up to `max_bytes` bytes from `offset` (fewer at the end; none at the very end).
    pub fn read(&self, offset: u64, max_bytes: usize) -> Vec<u8> {
        let end = self
            .size
            .min(offset.saturating_add(max_bytes as u64))
            .max(offset);
        let len = usize::try_from(end - offset).unwrap_or(0);
        let mut out = Vec::with_capacity(len);
        let mut pos = offset;
        while pos < end && pos < HEADER_BYTES {
            out.push(self.header_byte(pos));
            pos += 1;
        }
        while pos < end {
            let index = pos - HEADER_BYTES;
            let word = payload_word(self.seed, index / 8).to_le_bytes();
            let from = (index % 8) as usize;
            let take = (8 - from).min(usize::try_from(end - pos).unwrap_or(8));
            out.extend_from_slice(&word[from..from + take]);
            pos += take as u64;
        }
        out
    }

    /// The whole clip (for tests and checks; the bus only ever carries chunks).
    pub fn to_vec(&self) -> Vec<u8> {
        self.read(0, usize::try_from(self.size).unwrap_or(usize::MAX))
    }

    fn header_byte(&self, pos: u64) -> u8 {
        match pos {
            0..24 => FTYP[pos as usize],
            24..28 => {
                // The `mdat` box: its own 8 header bytes plus the payload. Clips are at most
                // 600 s (150 MB), far below the 4 GiB where MP4 needs the 64-bit size form.
                let mdat = u32::try_from(self.size - 24).unwrap_or(u32::MAX);
                mdat.to_be_bytes()[(pos - 24) as usize]
            }
            _ => b"mdat"[(pos - 28) as usize],
        }
    }
}

/// Answers one chunk request: up to `max_bytes` (at most [`MAX_CHUNK_BYTES`]) from `offset`.
/// Asking at exactly the end gets an empty chunk with `eof`; beyond it is an error.
pub fn clip_chunk(request: &GetClipBytes) -> Result<GetClipBytesReply, ClipError> {
    if request.max_bytes == 0 {
        return Err(ClipError::EmptyChunk);
    }
    let clip = Clip::of_request(request);
    if request.offset > clip.size() {
        return Err(ClipError::OffsetBeyondEnd {
            clip_id: request.clip_id.clone(),
            offset: request.offset,
            size: clip.size(),
        });
    }
    let max_bytes = request.max_bytes.min(MAX_CHUNK_BYTES) as usize;
    let data = clip.read(request.offset, max_bytes);
    Ok(GetClipBytesReply {
        clip_id: request.clip_id.clone(),
        offset: request.offset,
        total_size: clip.size(),
        content_type: CONTENT_TYPE.to_owned(),
        eof: request.offset + data.len() as u64 == clip.size(),
        data,
    })
}

/// The request handler, for [`Subscription::answer`]: the error goes back to the caller.
pub async fn answer_clip_bytes(
    request: Incoming<GetClipBytes>,
) -> anyhow::Result<GetClipBytesReply> {
    Ok(clip_chunk(&request.data)?)
}

/// Adds clip requests to a `serve()` builder. The inbox is one queue: every consumer of it must
/// answer every request type the service offers (a consumer without a handler for a type
/// dead-letters it as unknown), so a service that answers other requests too adds them to the
/// same builder: `answer_clip_requests(bridge.serve().answer(other)).start()`.
pub fn answer_clip_requests(serve: Subscription) -> Subscription {
    serve.answer(answer_clip_bytes)
}

/// Serves the simulator's clips on its inbox, for a simulator that answers no other requests.
///
/// One consumer: a chunk costs about a millisecond, and several consumers of the inbox declaring
/// it at the same moment in a fresh vhost can make RabbitMQ 3.10 fail one's consume
/// (`{badmatch,{error,noproc}}` in `rabbit_quorum_queue:consume`), closing the connection.
pub async fn serve_clips(bridge: &Bridge) -> anyhow::Result<()> {
    answer_clip_requests(bridge.serve())
        .start()
        .await
        .context("serving dashcam clip requests")
}

/// FNV-1a over the identity, so the seed is the same on every platform and Rust version (the
/// standard library's hashers promise neither).
fn seed(vehicle_id: &str, clip_id: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in vehicle_id
        .bytes()
        .chain(std::iter::once(0))
        .chain(clip_id.bytes())
    {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The `index`-th output of SplitMix64 seeded with `seed`: random access into the stream.
fn payload_word(seed: u64, index: u64) -> u64 {
    let mut z = seed.wrapping_add(index.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(offset: u64, max_bytes: u32) -> GetClipBytes {
        GetClipBytes {
            vehicle_id: "car-0042".into(),
            clip_id: "clip-1".into(),
            trigger_time_ms: 1_793_693_730_250,
            window_before_s: 10,
            window_after_s: 10,
            offset,
            max_bytes,
        }
    }

    #[test]
    fn a_clip_is_about_250_kb_per_second_with_an_mp4_header() {
        let clip = Clip::new("car-0042", "clip-1", 10, 10);
        assert_eq!(clip.size(), 32 + 20 * 250_000);
        let bytes = clip.to_vec();
        assert_eq!(bytes.len() as u64, clip.size());
        assert_eq!(&bytes[4..8], b"ftyp");
        assert_eq!(&bytes[28..32], b"mdat");
        let mdat = u32::from_be_bytes(bytes[24..28].try_into().unwrap());
        assert_eq!(u64::from(mdat), clip.size() - 24, "mdat spans the rest");
        assert_eq!(Clip::new("car-1", "c", 0, 0).to_vec().len(), 32);
    }

    #[test]
    fn the_same_clip_always_has_the_same_bytes_and_others_differ() {
        let a = Clip::new("car-0042", "clip-1", 1, 1).to_vec();
        assert_eq!(a, Clip::new("car-0042", "clip-1", 1, 1).to_vec());
        let other_clip = Clip::new("car-0042", "clip-2", 1, 1).to_vec();
        let other_car = Clip::new("car-0043", "clip-1", 1, 1).to_vec();
        assert_ne!(a[32..], other_clip[32..]);
        assert_ne!(a[32..], other_car[32..]);
        // Not a constant or short cycle: every byte value shows up in 500 KB.
        let mut seen = [false; 256];
        a.iter().for_each(|b| seen[*b as usize] = true);
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn chunks_cover_the_whole_clip_exactly_whatever_the_chunk_size() {
        for max_bytes in [1, 7, 8, 31, 32, 33, 1000, 65_536, MAX_CHUNK_BYTES] {
            let mut request = request(0, max_bytes);
            request.window_before_s = 0;
            request.window_after_s = 1;
            let whole = Clip::of_request(&request).to_vec();
            let mut joined = Vec::new();
            loop {
                let reply = clip_chunk(&request).expect("in range");
                assert_eq!(reply.offset, request.offset);
                assert_eq!(reply.total_size, whole.len() as u64);
                assert!(reply.data.len() <= max_bytes as usize);
                joined.extend_from_slice(&reply.data);
                request.offset += reply.data.len() as u64;
                if reply.eof {
                    break;
                }
                assert!(!reply.data.is_empty(), "progress until eof");
            }
            assert_eq!(joined, whole, "chunks of {max_bytes}");
        }
    }

    #[test]
    fn out_of_range_requests_are_refused_and_the_end_is_an_empty_eof() {
        let size = Clip::of_request(&request(0, 1)).size();
        let at_end = clip_chunk(&request(size, 10)).expect("at the end");
        assert!(at_end.eof && at_end.data.is_empty());
        assert!(matches!(
            clip_chunk(&request(size + 1, 10)),
            Err(ClipError::OffsetBeyondEnd { .. })
        ));
        assert_eq!(clip_chunk(&request(0, 0)), Err(ClipError::EmptyChunk));
        let big = clip_chunk(&request(0, u32::MAX)).expect("clamped");
        assert_eq!(big.data.len(), MAX_CHUNK_BYTES as usize);
        assert!(!big.eof);
    }

    #[test]
    fn a_chunk_reply_fits_the_default_message_limit() {
        let reply = clip_chunk(&request(0, MAX_CHUNK_BYTES)).expect("in range");
        let json = serde_json::to_vec(&reply).expect("encodes");
        assert!(json.len() < 1024 * 1024 - 4096, "{} bytes", json.len());
    }
}
