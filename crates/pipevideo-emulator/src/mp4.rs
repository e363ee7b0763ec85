//! A tiny, structurally valid MP4 file (ftyp + moov/mvhd + mdat), generated in code.

fn mp4_box(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let size = u32::try_from(8 + payload.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(payload);
    out
}

/// The bytes served for every completed generation's `video_url`: an `ftyp` box (`isom`), a
/// `moov` box holding an `mvhd` (timescale 1000, duration `duration_ms`), and an `mdat` box.
pub fn sample_mp4(duration_ms: u32) -> Vec<u8> {
    let mut ftyp = Vec::new();
    ftyp.extend_from_slice(b"isom");
    ftyp.extend_from_slice(&0x200u32.to_be_bytes());
    for brand in [b"isom", b"iso2", b"avc1", b"mp41"] {
        ftyp.extend_from_slice(brand);
    }

    let mut mvhd = Vec::new();
    mvhd.extend_from_slice(&[0, 0, 0, 0]); // version 0, flags
    mvhd.extend_from_slice(&0u32.to_be_bytes()); // creation time
    mvhd.extend_from_slice(&0u32.to_be_bytes()); // modification time
    mvhd.extend_from_slice(&1000u32.to_be_bytes()); // timescale
    mvhd.extend_from_slice(&duration_ms.to_be_bytes()); // duration
    mvhd.extend_from_slice(&0x0001_0000u32.to_be_bytes()); // rate 1.0
    mvhd.extend_from_slice(&0x0100u16.to_be_bytes()); // volume 1.0
    mvhd.extend_from_slice(&[0; 10]); // reserved
    for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        mvhd.extend_from_slice(&v.to_be_bytes()); // unity matrix
    }
    mvhd.extend_from_slice(&[0; 24]); // pre-defined
    mvhd.extend_from_slice(&1u32.to_be_bytes()); // next track id

    let moov = mp4_box(b"moov", &mp4_box(b"mvhd", &mvhd));
    let mdat = mp4_box(b"mdat", b"pipevideo-emulator sample video");

    let mut out = mp4_box(b"ftyp", &ftyp);
    out.extend_from_slice(&moov);
    out.extend_from_slice(&mdat);
    out
}

/// The first bytes of an MP4 of `total` bytes: the sample's `ftyp` and `moov` boxes, then the
/// header of one `mdat` box that runs to the end (a 64-bit `largesize` past 4 GiB). The box's
/// contents are the caller's.
pub(crate) fn mdat_header(total: u64) -> Vec<u8> {
    let sample = sample_mp4(12_000);
    let boxes = sample.len() - (8 + b"pipevideo-emulator sample video".len());
    let mut out = sample[..boxes].to_vec();
    let rest = total.saturating_sub(boxes as u64);
    match u32::try_from(rest) {
        Ok(size) if size >= 8 => {
            out.extend_from_slice(&size.to_be_bytes());
            out.extend_from_slice(b"mdat");
        }
        _ => {
            out.extend_from_slice(&1u32.to_be_bytes());
            out.extend_from_slice(b"mdat");
            out.extend_from_slice(&rest.max(16).to_be_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_chain_to_the_end_of_the_file() {
        let bytes = sample_mp4(12_000);
        let mut at = 0;
        let mut kinds = Vec::new();
        while at < bytes.len() {
            let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            kinds.push(String::from_utf8(bytes[at + 4..at + 8].to_vec()).unwrap());
            assert!(size >= 8);
            at += size;
        }
        assert_eq!(at, bytes.len());
        assert_eq!(kinds, ["ftyp", "moov", "mdat"]);
        assert_eq!(&bytes[8..12], b"isom");
    }
}
