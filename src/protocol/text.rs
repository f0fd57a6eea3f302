//! What text from a peer may contain before it reaches another person: one rule for chat
//! lines relayed to other terminals and for file names stored on disk and listed later.
//!
//! A terminal obeys more than ASCII's control bytes: C1 controls (U+0080–U+009F, among them
//! CSI, U+009B, which starts an escape sequence like `ESC [`), and an editor or a file
//! manager obeys the Unicode bidirectional controls, so `"\u{202e}txt.exe"` shows as
//! `exe.txt`. Line and paragraph separators (U+2028, U+2029) break a line where no newline
//! is seen. None of these has a place in a chat line or a file name.

/// Whether `c` can rewrite what a reader sees: a control character (C0, DEL, C1), a
/// bidirectional formatting character, or a line or paragraph separator. A tab is not.
pub(crate) fn is_deceptive(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(c,
            '\u{061c}'                  // Arabic letter mark
            | '\u{200e}' | '\u{200f}'   // left-to-right and right-to-left marks
            | '\u{2028}' | '\u{2029}'   // line and paragraph separators
            | '\u{202a}'..='\u{202e}'   // embeddings and overrides
            | '\u{2066}'..='\u{2069}') // isolates
}

/// Appends `bytes` to `out` as text safe to show another person: every character that
/// [`is_deceptive`] becomes `?`, and every byte that is not UTF-8 (a raw `0x9b`, which some
/// terminals take as CSI) becomes U+FFFD.
pub(crate) fn defuse_into(bytes: &[u8], out: &mut Vec<u8>) {
    for chunk in bytes.utf8_chunks() {
        let valid = chunk.valid();
        if !valid.chars().any(is_deceptive) {
            out.extend_from_slice(valid.as_bytes());
        } else {
            for c in valid.chars() {
                let c = if is_deceptive(c) { '?' } else { c };
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            }
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice(
                char::REPLACEMENT_CHARACTER
                    .encode_utf8(&mut [0; 4])
                    .as_bytes(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defuse(bytes: &[u8]) -> String {
        let mut out = Vec::new();
        defuse_into(bytes, &mut out);
        String::from_utf8(out).expect("always UTF-8")
    }

    #[test]
    fn plain_text_passes_unchanged() {
        for text in ["hello", "tab\there", "héllo wörld ✓", "日本語", ""] {
            assert_eq!(defuse(text.as_bytes()), text);
        }
    }

    #[test]
    fn controls_bidi_and_separators_become_question_marks() {
        let cases: [(&str, &str); 8] = [
            ("a\x1b[2Jb", "a?[2Jb"),
            ("a\rb", "a?b"),
            ("a\u{7f}b", "a?b"),
            ("a\u{9b}2Jb", "a?2Jb"),
            ("a\u{85}b", "a?b"),
            ("a\u{2028}b", "a?b"),
            ("\u{202e}txt.exe", "?txt.exe"),
            ("x\u{2066}y\u{2069}", "x?y?"),
        ];
        for (raw, want) in cases {
            assert_eq!(defuse(raw.as_bytes()), want, "{raw:?}");
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_become_replacement_characters() {
        assert_eq!(defuse(b"a\x9b2Jb"), "a\u{fffd}2Jb");
        assert_eq!(defuse(b"\xff\xfe"), "\u{fffd}\u{fffd}");
    }
}
