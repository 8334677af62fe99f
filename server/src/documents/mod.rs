//! The open documents: one rope per document, keyed by URI.
//!
//! Handlers never hold an entry across an `.await`: they take a
//! [`Snapshot`] (a rope clone is O(1)) and work on that.

pub mod line_index;

use std::sync::Arc;

use dashmap::DashMap;
use ropey::Rope;

use crate::prompt::LexCache;

pub use line_index::{Encoding, Pos};

/// One open document.
#[derive(Clone, Debug)]
pub struct Document {
    pub rope: Rope,
    pub version: i32,
    pub language_id: Arc<str>,
    /// The prompt lexer's checkpoints for this version.
    pub lex: Arc<LexCache>,
}

impl Document {
    /// The comment prompt at `target` (see [`crate::prompt::find`]), lexed
    /// from this version's nearest checkpoint.
    pub fn find_prompt(&self, target: crate::prompt::Target) -> Option<crate::prompt::CommentPrompt> {
        crate::prompt::find_cached(&self.rope, &self.language_id, target, Some(&self.lex))
    }
}

/// A cheap, immutable copy of a document at one version.
pub type Snapshot = Document;

/// A change as the editor sends it: a range (in the negotiated encoding)
/// and its replacement, or the whole text when `range` is `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub range: Option<(Pos, Pos)>,
    pub text: String,
}

/// Why a change could not be applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DocError {
    #[error("{0} is not open")]
    NotOpen(String),
}

/// All open documents, keyed by URI string.
#[derive(Debug, Default)]
pub struct Documents {
    docs: DashMap<String, Document>,
}

impl Documents {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn open(&self, uri: &str, language_id: &str, version: i32, text: &str) {
        self.docs.insert(
            uri.to_owned(),
            Document { rope: Rope::from_str(text), version, language_id: Arc::from(language_id), lex: Arc::default() },
        );
    }

    pub fn close(&self, uri: &str) -> bool {
        self.docs.remove(uri).is_some()
    }

    /// Apply changes in order, as LSP says each applies to the result of the
    /// one before. Ranges are clamped and an inverted range is read as the
    /// same range the right way round, so no input can panic.
    pub fn change(&self, uri: &str, version: i32, changes: &[Change], enc: Encoding) -> Result<(), DocError> {
        let mut doc = self.docs.get_mut(uri).ok_or_else(|| DocError::NotOpen(uri.to_owned()))?;
        // The lines above the first changed one keep their lexer checkpoints.
        let unchanged = changes.iter().map(|c| c.range.map_or(0, |(a, b)| a.line.min(b.line) as usize)).min();
        for change in changes {
            apply(&mut doc.rope, change, enc);
        }
        if let Some(line) = unchanged {
            doc.lex = Arc::new(doc.lex.before_edit(line));
        }
        doc.version = version;
        Ok(())
    }

    /// A copy of the document, taken without holding any lock afterwards.
    pub fn snapshot(&self, uri: &str) -> Option<Snapshot> {
        self.docs.get(uri).map(|d| d.clone())
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }
}

/// Apply one change to a rope.
pub fn apply(rope: &mut Rope, change: &Change, enc: Encoding) {
    match change.range {
        None => *rope = Rope::from_str(&change.text),
        Some((a, b)) => {
            let a = line_index::to_char(rope, a, enc);
            let b = line_index::to_char(rope, b, enc);
            let (start, end) = if a <= b { (a, b) } else { (b, a) };
            if start < end {
                rope.remove(start..end);
            }
            if !change.text.is_empty() {
                rope.insert(start, &change.text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(l1: u32, c1: u32, l2: u32, c2: u32, text: &str) -> Change {
        Change { range: Some((Pos::new(l1, c1), Pos::new(l2, c2))), text: text.to_owned() }
    }

    fn text(docs: &Documents, uri: &str) -> String {
        docs.snapshot(uri).unwrap().rope.to_string()
    }

    #[test]
    fn incremental_edits_apply_exactly() {
        let docs = Documents::new();
        docs.open("file:///a.py", "python", 1, "# hello\nprint(1)\n");
        docs.change("file:///a.py", 2, &[edit(0, 2, 0, 7, "bonjour 😀")], Encoding::Utf16).unwrap();
        assert_eq!(text(&docs, "file:///a.py"), "# bonjour 😀\nprint(1)\n");
        // After the emoji (2 UTF-16 units) on line 0.
        docs.change("file:///a.py", 3, &[edit(0, 12, 0, 12, "!")], Encoding::Utf16).unwrap();
        assert_eq!(text(&docs, "file:///a.py"), "# bonjour 😀!\nprint(1)\n");
        docs.change("file:///a.py", 4, &[edit(1, 6, 1, 7, "2"), edit(1, 0, 1, 0, "\t")], Encoding::Utf16).unwrap();
        assert_eq!(text(&docs, "file:///a.py"), "# bonjour 😀!\n\tprint(2)\n");
        assert_eq!(docs.snapshot("file:///a.py").unwrap().version, 4);
    }

    #[test]
    fn utf8_edits_with_cjk_and_crlf() {
        let docs = Documents::new();
        docs.open("u", "c", 1, "// 日本語\r\nint x;\r\n");
        // "日本" is 6 bytes; replace "本" (bytes 6..9 after "// ").
        docs.change("u", 2, &[edit(0, 6, 0, 9, "x")], Encoding::Utf8).unwrap();
        assert_eq!(text(&docs, "u"), "// 日x語\r\nint x;\r\n");
        // Replace the first line break.
        docs.change("u", 3, &[edit(0, 10, 1, 0, " ")], Encoding::Utf8).unwrap();
        assert_eq!(text(&docs, "u"), "// 日x語 int x;\r\n");
    }

    #[test]
    fn edits_at_and_past_the_end_are_clamped() {
        let docs = Documents::new();
        docs.open("u", "rust", 1, "ab\ncd");
        docs.change("u", 2, &[edit(1, 2, 1, 2, "\nef")], Encoding::Utf16).unwrap();
        assert_eq!(text(&docs, "u"), "ab\ncd\nef");
        docs.change("u", 3, &[edit(40, 9, 99, 99, "!")], Encoding::Utf16).unwrap();
        assert_eq!(text(&docs, "u"), "ab\ncd\nef!");
        // Inverted range: read the right way round.
        docs.change("u", 4, &[edit(1, 2, 0, 1, "")], Encoding::Utf16).unwrap();
        assert_eq!(text(&docs, "u"), "a\nef!");
        docs.change("u", 5, &[Change { range: None, text: "new".into() }], Encoding::Utf16).unwrap();
        assert_eq!(text(&docs, "u"), "new");
    }

    #[test]
    fn changes_to_unknown_documents_are_errors() {
        let docs = Documents::new();
        assert_eq!(docs.change("nope", 1, &[], Encoding::Utf16), Err(DocError::NotOpen("nope".into())));
        assert!(!docs.close("nope"));
    }
}
