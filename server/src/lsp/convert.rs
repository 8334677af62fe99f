//! Conversions between LSP types and the plain types of the rest of the
//! server, in one place.

use tower_lsp_server::ls_types::{Position, Range, TextDocumentContentChangeEvent};

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
