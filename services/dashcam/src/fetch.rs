//! Getting a clip's video from the car: request/reply, one chunk at a time.
//!
//! The car (the simulator, for simulated cars) is addressed by service name and answers
//! `get-clip-bytes` with at most `chunk_bytes` bytes and the clip's total size. Every reply is
//! checked against what was asked and what came before — same clip, the asked offset, the same
//! total, no more than asked, progress until `eof`, and `eof` exactly at the total — so a
//! confused or hostile car makes the job fail (and retry), never stores a wrong clip.

use std::time::Duration;

use broker_bridge::{Bridge, RequestError};
use instadash_schemas::dashcam::fetch_clip::v1::FetchClip;
use instadash_schemas::dashcam::get_clip_bytes::v1::GetClipBytes;
use instadash_schemas::dashcam::get_clip_bytes_reply::v1::GetClipBytesReply;

/// Where and how clips are fetched.
#[derive(Clone)]
pub struct ClipSource {
    pub bridge: Bridge,
    /// The service that answers for the cars.
    pub service: String,
    pub chunk_bytes: u32,
    /// How long one chunk may take.
    pub timeout: Duration,
    /// Larger clips are refused rather than held in memory.
    pub max_clip_bytes: u64,
}

/// A whole clip, as the car sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedClip {
    pub data: Vec<u8>,
    pub content_type: String,
}

/// What the car says about a clip without sending it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipFacts {
    pub total_size: u64,
    pub content_type: String,
}

/// Why a clip could not be fetched. All are worth retrying: the car may be back, or answer
/// better, next time.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("asking `{service}` for clip {clip_id} at offset {offset}: {source}")]
    Request {
        service: String,
        clip_id: String,
        offset: u64,
        // Boxed: the error travels through every `Result` of a fetch, the success path too.
        #[source]
        source: Box<RequestError>,
    },
    #[error("`{service}` answered badly for clip {clip_id} at offset {offset}: {problem}")]
    BadReply {
        service: String,
        clip_id: String,
        offset: u64,
        problem: String,
    },
    #[error("clip {clip_id} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        clip_id: String,
        size: u64,
        limit: u64,
    },
}

impl ClipSource {
    /// The clip's size and media type, from a one-byte request: cheap enough to check an object
    /// that is already stored.
    pub async fn facts(&self, job: &FetchClip) -> Result<ClipFacts, FetchError> {
        let reply = self.chunk(job, 0, 1).await?;
        Ok(ClipFacts {
            total_size: reply.total_size,
            content_type: reply.content_type,
        })
    }

    /// The whole clip, chunk by chunk.
    pub async fn fetch(&self, job: &FetchClip) -> Result<FetchedClip, FetchError> {
        let first = self.chunk(job, 0, self.chunk_bytes).await?;
        let total = first.total_size;
        if total > self.max_clip_bytes {
            return Err(FetchError::TooLarge {
                clip_id: job.clip_id.clone(),
                size: total,
                limit: self.max_clip_bytes,
            });
        }
        let content_type = first.content_type.clone();
        // Bounded by the check above, so a car cannot make the worker allocate at will.
        let mut data = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        let mut reply = first;
        loop {
            self.check(job, &reply, data.len() as u64, total)?;
            data.extend_from_slice(&reply.data);
            if reply.eof {
                return Ok(FetchedClip { data, content_type });
            }
            reply = self.chunk(job, data.len() as u64, self.chunk_bytes).await?;
        }
    }

    async fn chunk(
        &self,
        job: &FetchClip,
        offset: u64,
        max_bytes: u32,
    ) -> Result<GetClipBytesReply, FetchError> {
        let request = GetClipBytes {
            vehicle_id: job.vehicle_id.clone(),
            clip_id: job.clip_id.clone(),
            trigger_time_ms: job.trigger_time_ms,
            window_before_s: job.window_before_s,
            window_after_s: job.window_after_s,
            offset,
            max_bytes,
        };
        self.bridge
            .request(&self.service, &request, self.timeout)
            .await
            .map_err(|source| FetchError::Request {
                service: self.service.clone(),
                clip_id: job.clip_id.clone(),
                offset,
                source: Box::new(source),
            })
    }

    fn check(
        &self,
        job: &FetchClip,
        reply: &GetClipBytesReply,
        offset: u64,
        total: u64,
    ) -> Result<(), FetchError> {
        match problem_with(reply, &job.clip_id, offset, total, self.chunk_bytes) {
            None => Ok(()),
            Some(problem) => Err(FetchError::BadReply {
                service: self.service.clone(),
                clip_id: job.clip_id.clone(),
                offset,
                problem,
            }),
        }
    }
}

/// What is wrong with `reply` as the chunk at `offset` of clip `clip_id` of `total` bytes, asked
/// for at most `asked` bytes; `None` if nothing.
fn problem_with(
    reply: &GetClipBytesReply,
    clip_id: &str,
    offset: u64,
    total: u64,
    asked: u32,
) -> Option<String> {
    let len = reply.data.len() as u64;
    let end = offset.saturating_add(len);
    if reply.clip_id != clip_id {
        Some(format!("a chunk of clip {}", reply.clip_id))
    } else if reply.offset != offset {
        Some(format!("the chunk at offset {}", reply.offset))
    } else if reply.total_size != total {
        Some(format!(
            "total size {} after {total} before",
            reply.total_size
        ))
    } else if len > u64::from(asked) {
        Some(format!("{len} bytes, more than the {asked} asked"))
    } else if end > total {
        Some(format!("bytes up to {end}, past the end at {total}"))
    } else if reply.eof && end != total {
        Some(format!(
            "end of clip at {end}, but the clip has {total} bytes"
        ))
    } else if !reply.eof && len == 0 {
        Some("an empty chunk before the end".to_owned())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(offset: u64, data: &[u8], total: u64, eof: bool) -> GetClipBytesReply {
        GetClipBytesReply {
            clip_id: "c".into(),
            offset,
            total_size: total,
            content_type: "video/mp4".into(),
            data: data.to_vec(),
            eof,
        }
    }

    #[test]
    fn good_chunks_pass() {
        assert_eq!(
            problem_with(&reply(0, b"abcd", 8, false), "c", 0, 8, 4),
            None
        );
        assert_eq!(
            problem_with(&reply(4, b"efgh", 8, true), "c", 4, 8, 4),
            None
        );
        assert_eq!(problem_with(&reply(0, b"", 0, true), "c", 0, 0, 4), None);
    }

    #[test]
    fn every_inconsistency_is_named() {
        let cases = [
            (reply(0, b"ab", 8, false), "c", 0, "a chunk of clip"),
            (reply(2, b"ab", 8, false), "c", 0, "the chunk at offset 2"),
            (reply(0, b"ab", 9, false), "c", 0, "total size 9"),
            (
                reply(0, b"abcde", 8, false),
                "c",
                0,
                "more than the 4 asked",
            ),
            (reply(6, b"abc", 8, false), "c", 6, "past the end"),
            (reply(0, b"ab", 8, true), "c", 0, "end of clip at 2"),
            (reply(2, b"", 8, false), "c", 2, "empty chunk"),
        ];
        for (mut bad, clip_id, offset, expected) in cases {
            if expected == "a chunk of clip" {
                bad.clip_id = "other".into();
            }
            let problem = problem_with(&bad, clip_id, offset, 8, 4).expect("a problem");
            assert!(problem.contains(expected), "{problem}");
        }
    }
}
