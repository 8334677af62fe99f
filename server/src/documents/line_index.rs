//! The one place where editor positions become text offsets and back.
//!
//! A position is a zero-based line and a column counted in the negotiated
//! encoding: UTF-8 bytes, UTF-16 code units (the LSP default) or Unicode
//! scalar values. Lines end at `\n`, `\r\n` or `\r`, exactly as the LSP
//! specification says (the rope is built without Unicode line breaks for
//! that reason). Out-of-range positions are clamped: a line past the end
//! means the end of the document, a column past the end of a line means the
//! end of that line (before its line break), and a column inside a
//! multi-unit character means the start of that character.

use ropey::Rope;

/// How columns are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Encoding {
    Utf8,
    #[default]
    Utf16,
    Utf32,
}

impl Encoding {
    /// The units `c` takes in this encoding.
    pub fn len(self, c: char) -> usize {
        match self {
            Encoding::Utf8 => c.len_utf8(),
            Encoding::Utf16 => c.len_utf16(),
            Encoding::Utf32 => 1,
        }
    }

    /// The LSP name of this encoding.
    pub fn as_lsp(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Utf16 => "utf-16",
            Encoding::Utf32 => "utf-32",
        }
    }

    pub fn from_lsp(name: &str) -> Option<Self> {
        match name {
            "utf-8" => Some(Encoding::Utf8),
            "utf-16" => Some(Encoding::Utf16),
            "utf-32" => Some(Encoding::Utf32),
            _ => None,
        }
    }
}

/// A position in the editor's terms: line and column in some [`Encoding`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl Pos {
    pub const fn new(line: u32, col: u32) -> Self {
        Self { line, col }
    }
}

/// Number of lines as the editor counts them: a trailing line break starts
/// an (empty) last line.
pub fn line_count(rope: &Rope) -> usize {
    rope.len_lines()
}

/// The char index of the end of `line`'s content (before its line break).
pub fn line_end_char(rope: &Rope, line: usize) -> usize {
    let start = rope.line_to_char(line);
    let slice = rope.line(line);
    let mut len = slice.len_chars();
    // Strip "\n", "\r\n" or "\r".
    if len > 0 && slice.char(len - 1) == '\n' {
        len -= 1;
    }
    if len > 0 && slice.char(len - 1) == '\r' {
        len -= 1;
    }
    start + len
}

/// Position → char index into the rope, clamped as described above.
pub fn to_char(rope: &Rope, pos: Pos, enc: Encoding) -> usize {
    let lines = rope.len_lines();
    let line = pos.line as usize;
    if line >= lines {
        return rope.len_chars();
    }
    let start = rope.line_to_char(line);
    let end = line_end_char(rope, line);
    let want = pos.col as usize;
    let mut units = 0usize;
    let mut idx = start;
    for c in rope.slice(start..end).chars() {
        let next = units + enc.len(c);
        if next > want {
            break;
        }
        units = next;
        idx += 1;
    }
    idx
}

/// Char index → position, clamped to the end of the document.
pub fn to_pos(rope: &Rope, char_idx: usize, enc: Encoding) -> Pos {
    let char_idx = char_idx.min(rope.len_chars());
    let line = rope.char_to_line(char_idx);
    let start = rope.line_to_char(line);
    let col: usize = match enc {
        Encoding::Utf32 => char_idx - start,
        Encoding::Utf8 => rope.char_to_byte(char_idx) - rope.line_to_byte(line),
        Encoding::Utf16 => rope.char_to_utf16_cu(char_idx) - rope.char_to_utf16_cu(start),
    };
    Pos::new(line as u32, col as u32)
}

/// The text of `line` without its line break (empty past the end).
pub fn line_text(rope: &Rope, line: usize) -> String {
    if line >= rope.len_lines() {
        return String::new();
    }
    rope.slice(rope.line_to_char(line)..line_end_char(rope, line)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip_all(text: &str, enc: Encoding) {
        let rope = Rope::from_str(text);
        for i in 0..=rope.len_chars() {
            // Positions between \r and \n are not representable in LSP.
            if i > 0 && i < rope.len_chars() && rope.char(i - 1) == '\r' && rope.char(i) == '\n' {
                continue;
            }
            let p = to_pos(&rope, i, enc);
            assert_eq!(to_char(&rope, p, enc), i, "char {i} -> {p:?} in {text:?} ({enc:?})");
        }
    }

    #[test]
    fn roundtrips_in_every_encoding() {
        let text = "fn main() {\r\n\tlet 😀 = \"日本語\";\r\n}\n# ✓ 𝄞\rlast";
        for enc in [Encoding::Utf8, Encoding::Utf16, Encoding::Utf32] {
            roundtrip_all(text, enc);
        }
    }

    #[test]
    fn emoji_counts_by_encoding() {
        let rope = Rope::from_str("a😀b");
        assert_eq!(to_pos(&rope, 2, Encoding::Utf16), Pos::new(0, 3));
        assert_eq!(to_pos(&rope, 2, Encoding::Utf8), Pos::new(0, 5));
        assert_eq!(to_pos(&rope, 2, Encoding::Utf32), Pos::new(0, 2));
        // Inside the surrogate pair: the start of the emoji.
        assert_eq!(to_char(&rope, Pos::new(0, 2), Encoding::Utf16), 1);
        assert_eq!(to_char(&rope, Pos::new(0, 3), Encoding::Utf16), 2);
    }

    #[test]
    fn cjk_and_tabs() {
        let rope = Rope::from_str("\t日本\tx");
        assert_eq!(to_char(&rope, Pos::new(0, 4), Encoding::Utf16), 4);
        assert_eq!(to_char(&rope, Pos::new(0, 7), Encoding::Utf8), 3);
        assert_eq!(to_pos(&rope, 5, Encoding::Utf8), Pos::new(0, 9));
    }

    #[test]
    fn clamps_past_the_end() {
        let rope = Rope::from_str("ab\r\ncd");
        // Past the end of a line: before its CRLF.
        assert_eq!(to_char(&rope, Pos::new(0, 99), Encoding::Utf16), 2);
        // Past the last line: the end of the document.
        assert_eq!(to_char(&rope, Pos::new(9, 0), Encoding::Utf16), 6);
        assert_eq!(to_pos(&rope, 999, Encoding::Utf16), Pos::new(1, 2));
    }

    #[test]
    fn line_breaks_follow_lsp() {
        // U+2028 and NEL are not line breaks in LSP; CR alone is.
        let rope = Rope::from_str("a\u{2028}b\u{85}c\rd\ne");
        assert_eq!(line_count(&rope), 3);
        assert_eq!(line_text(&rope, 0), "a\u{2028}b\u{85}c");
        assert_eq!(line_text(&rope, 1), "d");
        assert_eq!(line_text(&rope, 2), "e");
        assert_eq!(line_text(&rope, 3), "");
    }
}
