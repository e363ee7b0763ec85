//! Standard base64 (RFC 4648 §4, alphabet `A–Z a–z 0–9 + /`), the encoding of webhook
//! secrets (`whsec_…`) and of signatures (`v1,…`).
//!
//! Written here rather than taken from the `base64` crate: it is the last crate the core's
//! dependency budget (30 crates, see ARCHITECTURE.md) had no room for, and the core needs only
//! this one alphabet, one encoder and one decoder. It decodes exactly what the `base64` crate
//! decoded for the core before (`STANDARD` alphabet, padding optional, `DecodePaddingMode::
//! Indifferent`) and reports the same error at the same offset; a proptest below compares the
//! two on random input, and `tests/webhook_base64.rs` and the `webhook` fuzz target compare
//! them through [`WebhookSecret::new`](super::WebhookSecret::new). `base64` is a
//! dev-dependency only.
//!
//! What decodes:
//! - whole groups of four symbols, then a last group of two, three or four symbols;
//! - `=` padding is optional, but only after the second symbol of the last group, and only
//!   `=` may follow it (`QQ`, `QQ=`, `QQ==` are one byte; `QQ=Q`, `Q===`, `QQ==QQ==` are not);
//! - the bits a short last group carries beyond its bytes must be zero (`QR==` is refused,
//!   there is only one way to write each byte string).
//!
//! Anything else (another byte, `-`/`_` of the URL-safe alphabet, whitespace, a lone symbol in
//! the last group) is a [`Base64Error`].

/// Why a string is not standard base64, with the offset of the byte to blame when there is
/// one. Never carries the input (it may be a secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Base64Error {
    /// A byte outside the alphabet, or `=` where padding cannot be.
    UnexpectedByte {
        /// Its offset in the input.
        offset: usize,
    },
    /// A last group of one symbol: six bits cannot make a byte.
    LoneSymbol,
    /// The last symbol carries bits beyond the last byte that are not zero.
    TrailingBits {
        /// Its offset in the input.
        offset: usize,
    },
}

impl Base64Error {
    /// The offset of the byte to blame, if one is.
    pub(super) fn offset(self) -> Option<usize> {
        match self {
            Self::UnexpectedByte { offset } | Self::TrailingBits { offset } => Some(offset),
            Self::LoneSymbol => None,
        }
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The six bits a symbol stands for.
fn value(symbol: u8) -> Option<u32> {
    let v = match symbol {
        b'A'..=b'Z' => symbol - b'A',
        b'a'..=b'z' => symbol - b'a' + 26,
        b'0'..=b'9' => symbol - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Encodes with padding: four symbols for every three bytes, the last group padded with `=`.
pub(super) fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let mut group = [0u8; 3];
        group[..chunk.len()].copy_from_slice(chunk);
        let n = u32::from(group[0]) << 16 | u32::from(group[1]) << 8 | u32::from(group[2]);
        // 2, 3 or 4 symbols for 1, 2 or 3 bytes; `=` for the rest.
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 0x3f) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64, padding optional (see the module documentation).
pub(super) fn decode(input: &[u8]) -> Result<Vec<u8>, Base64Error> {
    let len = input.len();
    if len == 0 {
        return Ok(Vec::new());
    }
    // A lone last symbol (length 4k + 1) that is not in the alphabet is blamed first, as the
    // `base64` crate does, before the groups before it are read.
    if len % 4 == 1 && input[len - 1] != b'=' && value(input[len - 1]).is_none() {
        return Err(Base64Error::UnexpectedByte { offset: len - 1 });
    }
    // The last group: the one to four bytes after the whole groups before it.
    let last_start = (len - 1) / 4 * 4;
    let mut out = Vec::with_capacity(len / 4 * 3 + 3);
    for (index, group) in input[..last_start].chunks_exact(4).enumerate() {
        let mut n = 0u32;
        for (i, &symbol) in group.iter().enumerate() {
            let v = value(symbol).ok_or(Base64Error::UnexpectedByte {
                offset: index * 4 + i,
            })?;
            n = n << 6 | v;
        }
        out.extend_from_slice(&n.to_be_bytes()[1..]);
    }

    let mut symbols = 0usize;
    let mut first_pad = None;
    let mut n = 0u32;
    for (i, &symbol) in input[last_start..].iter().enumerate() {
        let offset = last_start + i;
        if symbol == b'=' {
            // Padding may only stand for the third and fourth symbols.
            if i < 2 {
                return Err(Base64Error::UnexpectedByte { offset });
            }
            first_pad.get_or_insert(offset);
            continue;
        }
        if let Some(pad) = first_pad {
            // A symbol after padding: the padding is what is misplaced.
            return Err(Base64Error::UnexpectedByte { offset: pad });
        }
        n = n << 6 | value(symbol).ok_or(Base64Error::UnexpectedByte { offset })?;
        symbols += 1;
    }
    if symbols < 2 {
        return Err(Base64Error::LoneSymbol);
    }
    // 2, 3 or 4 symbols carry 12, 18 or 24 bits: 1, 2 or 3 bytes and 4, 2 or 0 spare bits.
    let bytes = symbols * 6 / 8;
    let spare = symbols * 6 - bytes * 8;
    if n & ((1 << spare) - 1) != 0 {
        return Err(Base64Error::TrailingBits {
            offset: last_start + symbols - 1,
        });
    }
    let n = n >> spare;
    out.extend((0..bytes).rev().map(|k| (n >> (8 * k)) as u8));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use proptest::prelude::*;

    use super::*;

    /// The engine the core used before.
    const REFERENCE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );

    fn reference(input: &[u8]) -> Result<Vec<u8>, Base64Error> {
        REFERENCE.decode(input).map_err(|e| match e {
            base64::DecodeError::InvalidByte(offset, _) => Base64Error::UnexpectedByte { offset },
            base64::DecodeError::InvalidLastSymbol(offset, _) => {
                Base64Error::TrailingBits { offset }
            }
            base64::DecodeError::InvalidLength(_) => Base64Error::LoneSymbol,
            base64::DecodeError::InvalidPadding => panic!("not with Indifferent padding"),
        })
    }

    #[test]
    fn the_rfc_4648_vectors() {
        for (bytes, text) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(bytes.as_bytes()), text);
            assert_eq!(decode(text.as_bytes()).unwrap(), bytes.as_bytes());
            let unpadded = text.trim_end_matches('=');
            assert_eq!(decode(unpadded.as_bytes()).unwrap(), bytes.as_bytes());
        }
        assert_eq!(encode(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn malformed_input_is_a_typed_error() {
        use Base64Error::*;
        for (text, want) in [
            ("Q", LoneSymbol),
            ("QUFB Q", UnexpectedByte { offset: 4 }),
            ("QUFBQ", LoneSymbol),
            ("=QQ=", UnexpectedByte { offset: 0 }),
            ("Q===", UnexpectedByte { offset: 1 }),
            ("QQ=Q", UnexpectedByte { offset: 2 }),
            ("QQ==QQ==", UnexpectedByte { offset: 2 }),
            ("QR==", TrailingBits { offset: 1 }),
            ("QUF=", TrailingBits { offset: 2 }),
            ("QUFB-_", UnexpectedByte { offset: 4 }),
            ("QUFB!", UnexpectedByte { offset: 4 }),
        ] {
            assert_eq!(decode(text.as_bytes()), Err(want), "{text}");
            assert_eq!(reference(text.as_bytes()), Err(want), "{text} (reference)");
        }
    }

    /// Base64-looking strings: mostly the alphabet, some `=`, now and then another byte.
    fn base64ish() -> impl Strategy<Value = Vec<u8>> {
        let symbol = prop_oneof![
            20 => proptest::sample::select(ALPHABET.to_vec()),
            3 => Just(b'='),
            1 => any::<u8>(),
        ];
        prop::collection::vec(symbol, 0..40)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn decodes_as_the_base64_crate(input in base64ish()) {
            prop_assert_eq!(decode(&input), reference(&input));
        }

        #[test]
        fn decodes_any_bytes_as_the_base64_crate(input in prop::collection::vec(any::<u8>(), 0..12)) {
            prop_assert_eq!(decode(&input), reference(&input));
        }

        #[test]
        fn encodes_as_the_base64_crate_and_round_trips(bytes in prop::collection::vec(any::<u8>(), 0..100)) {
            let text = encode(&bytes);
            prop_assert_eq!(&text, &REFERENCE.encode(&bytes));
            prop_assert_eq!(decode(text.as_bytes()).unwrap(), bytes);
        }
    }
}
