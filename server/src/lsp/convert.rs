//! Conversions between LSP types and the plain types of the rest of the
//! server, in one place.

use tower_lsp_server::ls_types::{Position, Range, TextDocumentContentChangeEvent, Uri};

use crate::documents::{Change, Pos};

pub fn pos(p: Position) -> Pos {
    Pos::new(p.line, p.character)
}

pub fn position(p: Pos) -> Position {
    Position::new(p.line, p.col)
}

pub fn range(r: Range) -> (Pos, Pos) {
    (pos(r.start), pos(r.end))
}

pub fn change(c: TextDocumentContentChangeEvent) -> Change {
    Change { range: c.range.map(range), text: c.text }
}

/// The last part of a document's URI, percent-decoded, for messages and
/// titles: `file:///src/my%20app.py` → `my app.py`, `untitled:Untitled-1`
/// → `Untitled-1`. The whole URI when it has no such part.
pub fn file_name(uri: &str) -> String {
    let path = match uri.parse::<Uri>() {
        Ok(parsed) => parsed.path().decode().to_string_lossy().into_owned(),
        Err(_) => uri.to_owned(),
    };
    match path.rsplit('/').next() {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn file_names_are_decoded_and_never_empty() {
        assert_eq!(file_name("file:///src/my%20app.py"), "my app.py");
        assert_eq!(file_name("file:///C%3A/work/na%C3%AFve.rs"), "naïve.rs");
        assert_eq!(file_name("untitled:Untitled-1"), "Untitled-1");
        assert_eq!(file_name("file:///src/"), "file:///src/");
        assert_eq!(file_name("not a uri"), "not a uri");
    }
}
