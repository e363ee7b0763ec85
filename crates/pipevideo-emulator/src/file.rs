//! The video behind every signed URL, generated rather than stored, and the `Range` rules of
//! serving it.
//!
//! With the default size the video is the small sample MP4 of `mp4.rs`. With
//! [`EmulatorBuilder::video_size`](crate::EmulatorBuilder::video_size) it is an MP4 of exactly
//! that many bytes: the sample's `ftyp` and `moov` boxes, then one `mdat` box filled with a
//! fixed pseudo-random pattern. Any byte range is computed on demand, 64 KiB at a time, so a
//! gigabyte costs no memory.

use bytes::Bytes;

use crate::mp4::{mdat_header, sample_mp4};

/// Length of the repeating fill pattern: a prime, so that no power-of-two chunk lines up
/// with it and a misplaced resume shows in a byte comparison.
const PERIOD: usize = 65_521;

/// The bytes of one generated chunk.
pub(crate) const CHUNK: usize = 64 * 1024;

/// The served video: a head of real MP4 boxes, then the fill pattern up to `size` bytes.
#[derive(Debug)]
pub(crate) struct Video {
    head: Bytes,
    size: u64,
    fill: Vec<u8>,
}

impl Video {
    /// The sample MP4 (about 180 bytes), or an MP4 of `size` bytes (never smaller than the
    /// sample's boxes).
    pub(crate) fn new(size: Option<u64>) -> Self {
        let sample = sample_mp4(12_000);
        let mut state: u32 = 0x9E37_79B9;
        let fill = (0..PERIOD)
            .map(|_| {
                // xorshift32: fixed, cheap, no period shorter than the table.
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state.to_le_bytes()[0]
            })
            .collect();
        match size {
            None => Self {
                size: sample.len() as u64,
                head: Bytes::from(sample),
                fill,
            },
            Some(size) => {
                let head = mdat_header(size);
                Self {
                    size: size.max(head.len() as u64),
                    head: Bytes::from(head),
                    fill,
                }
            }
        }
    }

    /// The size in bytes.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// The bytes from `at`, at most `max` of them and never past `end` (which may lie beyond
    /// the video's size, for an endless body: the pattern goes on).
    pub(crate) fn chunk(&self, at: u64, end: u64, max: usize) -> Bytes {
        let len = usize::try_from(end.saturating_sub(at))
            .unwrap_or(usize::MAX)
            .min(max);
        let mut out = Vec::with_capacity(len);
        let mut pos = at;
        while out.len() < len {
            if let Some(i) = usize::try_from(pos).ok().filter(|&i| i < self.head.len()) {
                let take = (self.head.len() - i).min(len - out.len());
                out.extend_from_slice(&self.head[i..i + take]);
                pos += take as u64;
            } else {
                let i = (pos % PERIOD as u64) as usize;
                let take = (PERIOD - i).min(len - out.len());
                out.extend_from_slice(&self.fill[i..i + take]);
                pos += take as u64;
            }
        }
        Bytes::from(out)
    }

    /// The whole video in memory: for tests that compare a download byte for byte.
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        self.chunk(0, self.size, usize::MAX).to_vec()
    }
}

/// What a `Range` header asks of a video of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeAsk {
    /// No usable range: the whole video, `200`.
    Whole,
    /// Bytes `start..end` (exclusive), `206`.
    Part { start: u64, end: u64 },
    /// A range beyond the end: `416`.
    Unsatisfiable,
}

/// One `bytes=` range: `N-`, `N-M` or `-SUFFIX`. Several ranges, other units and malformed
/// values are ignored (the whole video), as RFC 9110 allows.
pub(crate) fn parse_range(value: Option<&str>, size: u64) -> RangeAsk {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return RangeAsk::Whole;
    };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAsk::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        return match last.parse::<u64>() {
            Ok(0) => RangeAsk::Unsatisfiable,
            Ok(n) => RangeAsk::Part {
                start: size.saturating_sub(n),
                end: size,
            },
            Err(_) => RangeAsk::Whole,
        };
    }
    let Ok(start) = first.parse::<u64>() else {
        return RangeAsk::Whole;
    };
    let end = match last {
        "" => size,
        l => match l.parse::<u64>() {
            Ok(l) if l >= start => (l + 1).min(size),
            _ => return RangeAsk::Whole,
        },
    };
    if start >= size {
        RangeAsk::Unsatisfiable
    } else {
        RangeAsk::Part { start, end }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), RangeAsk::Whole);
        assert_eq!(
            parse_range(Some("bytes=4-"), 10),
            RangeAsk::Part { start: 4, end: 10 }
        );
        assert_eq!(
            parse_range(Some("bytes=4-5"), 10),
            RangeAsk::Part { start: 4, end: 6 }
        );
        assert_eq!(
            parse_range(Some("bytes=-3"), 10),
            RangeAsk::Part { start: 7, end: 10 }
        );
        assert_eq!(parse_range(Some("bytes=10-"), 10), RangeAsk::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), RangeAsk::Whole);
        assert_eq!(parse_range(Some("items=0-1"), 10), RangeAsk::Whole);
    }

    #[test]
    fn any_range_is_a_slice_of_the_whole() {
        let video = Video::new(Some(300_000));
        let whole = video.to_vec();
        assert_eq!(whole.len(), 300_000);
        assert_eq!(&whole[4..8], b"ftyp");
        for (at, len) in [(0, 10), (150, 70_000), (65_000, 66_000), (299_990, 10)] {
            let part = video.chunk(at, at + len, usize::MAX);
            assert_eq!(&part[..], &whole[at as usize..(at + len) as usize]);
        }
        assert_eq!(Video::new(None).to_vec(), sample_mp4(12_000));
    }
}
