//! Scrubbing secrets out of text the server sent, before it is stored in an error.
//!
//! A server (or a proxy, or an attacker's endpoint behind a wrong base URL) may echo the
//! `Authorization` header back in an error message or body. Everything the SDK keeps from the
//! server for people to read (an [`ApiError`](crate::ApiError)'s message and raw body, a
//! [`DecodeError`](crate::DecodeError)'s, a failed generation's message) passes through here:
//!
//! 1. every `pv_`-shaped token (`pv_` and at least [`TOKEN_MIN_TAIL`] letters, digits, `_` or
//!    `-`) is replaced, whatever key the client holds: the second line of defence, applied where
//!    the text is first stored;
//! 2. the client's own key, whatever its shape, is replaced where the client has it at hand
//!    (an error answer before its text is cut to its length limits; an undecodable 2xx after,
//!    with a piece of the key left at the cut scrubbed too; every generation it returns).
//!
//! Both replace with [`REDACTED`], so the text still reads as a sentence.

use std::borrow::Cow;

/// What a secret is replaced with.
pub(crate) const REDACTED: &str = "[redacted]";

/// How many characters after `pv_` make a token look like a key (real keys carry a long hex
/// string; short words such as `pv_x` in a message are left alone).
pub(crate) const TOKEN_MIN_TAIL: usize = 8;

/// `text` with every `pv_`-shaped token and every occurrence of `secret` (if given and not
/// empty) replaced by [`REDACTED`]. Borrows when there is nothing to replace.
pub(crate) fn scrub<'a>(text: &'a str, secret: Option<&str>) -> Cow<'a, str> {
    let mut out: Cow<'a, str> = Cow::Borrowed(text);
    if let Some(secret) = secret.filter(|s| !s.is_empty())
        && out.contains(secret)
    {
        out = Cow::Owned(out.replace(secret, REDACTED));
    }
    if out.contains("pv_") {
        out = Cow::Owned(scrub_tokens(&out));
    }
    out
}

/// In place: replaces `text` only if something was scrubbed.
pub(crate) fn scrub_in_place(text: &mut String, secret: Option<&str>) {
    if let Cow::Owned(clean) = scrub(text, secret) {
        *text = clean;
    }
}

/// [`scrub_in_place`] with `secret`, and also a piece of `secret` left at the very end of a
/// text that was cut to a length limit before the secret was known (at least
/// [`CUT_PIECE_MIN`] characters of its start).
pub(crate) fn scrub_cut_in_place(text: &mut String, secret: &str) {
    scrub_in_place(text, Some(secret));
    let body = text.strip_suffix('…').unwrap_or(text);
    let piece = (CUT_PIECE_MIN..secret.len())
        .rev()
        .filter(|&n| secret.is_char_boundary(n))
        .find(|&n| body.ends_with(&secret[..n]));
    if let Some(n) = piece {
        let start = body.len() - n;
        text.replace_range(start..start + n, REDACTED);
    }
}

/// The shortest start of a secret that [`scrub_cut_in_place`] treats as a cut-off piece of it.
pub(crate) const CUT_PIECE_MIN: usize = 4;

/// Every string inside a JSON value (object keys excepted), scrubbed in place.
pub(crate) fn scrub_value(value: &mut serde_json::Value, secret: Option<&str>) {
    match value {
        serde_json::Value::String(text) => scrub_in_place(text, secret),
        serde_json::Value::Array(items) => {
            for item in items {
                scrub_value(item, secret);
            }
        }
        serde_json::Value::Object(map) => {
            for item in map.values_mut() {
                scrub_value(item, secret);
            }
        }
        _ => {}
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn scrub_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("pv_") {
        // A token starts at a word boundary: `xpv_…` is some other word.
        let starts_word = rest[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !is_token_char(c));
        let tail = &rest[at + 3..];
        let tail_len = tail.find(|c: char| !is_token_char(c)).unwrap_or(tail.len());
        out.push_str(&rest[..at]);
        if starts_word && tail[..tail_len].chars().count() >= TOKEN_MIN_TAIL {
            out.push_str(REDACTED);
        } else {
            out.push_str(&rest[at..at + 3 + tail_len]);
        }
        rest = &tail[tail_len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pv_tokens_and_the_exact_secret_are_replaced() {
        let key = "pv_a1b2c3d4e5f6a7b8";
        assert_eq!(
            scrub(&format!("Invalid API key {key}."), None),
            "Invalid API key [redacted]."
        );
        assert_eq!(
            scrub(
                "key=sk-live-123456789 and pv_0123456789abcdef",
                Some("sk-live-123456789")
            ),
            "key=[redacted] and [redacted]"
        );
        // In JSON, between quotes, repeated.
        assert_eq!(
            scrub(&format!(r#"{{"k":"{key}","again":"{key}"}}"#), None),
            r#"{"k":"[redacted]","again":"[redacted]"}"#
        );
    }

    #[test]
    fn short_words_other_words_and_clean_text_are_kept_and_borrowed() {
        for text in [
            "pv_x is short",
            "spv_0123456789abcdef is another word",
            "no key here",
            "",
        ] {
            let out = scrub(text, Some("pv_secret_not_present"));
            assert_eq!(out, text);
        }
        assert!(matches!(scrub("nothing", Some("abc")), Cow::Borrowed(_)));
        // An empty secret scrubs nothing (it would match everywhere).
        assert_eq!(scrub("abc", Some("")), "abc");
    }

    #[test]
    fn a_piece_of_the_secret_left_by_a_cut_is_replaced_too() {
        let secret = "sk-live-abc123def456";
        for (text, want) in [
            ("echo sk-live-abc1", "echo [redacted]"),
            ("echo sk-live-abc123def4…", "echo [redacted]…"),
            (
                "echo sk-live-abc123def456 sk-l",
                "echo [redacted] [redacted]",
            ),
            // Fewer than CUT_PIECE_MIN characters: not taken for a piece of the key.
            ("ends in sk-", "ends in sk-"),
            ("nothing of it", "nothing of it"),
        ] {
            let mut text = text.to_owned();
            scrub_cut_in_place(&mut text, secret);
            assert_eq!(text, want);
        }
    }

    #[test]
    fn non_ascii_around_a_token_is_safe() {
        assert_eq!(scrub("é pv_0123456789 ü", None), "é [redacted] ü");
        assert_eq!(scrub("pv_é0123456789", None), "pv_é0123456789");
    }
}
