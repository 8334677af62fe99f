//! `textDocument/codeAction`: answered from a document snapshot, with no
//! I/O and no lock held beyond the copy.
//!
//! Kinds (hierarchical, so `only: ["refactor"]` includes them):
//! - `refactor.codegenie.generate`: "Generate code from comment" and
//!   "Generate with MODEL" on a comment line or a selection inside a comment;
//! - `refactor.codegenie.explain`: "Explain selection" on a non-empty selection.

use serde_json::json;
use tower_lsp_server::ls_types::{CodeAction, CodeActionKind, CodeActionOrCommand, Command, Range, Uri};

use super::commands::{EXPLAIN, GENERATE};
use super::convert;
use crate::documents::{Encoding, Snapshot, line_index};
use crate::models::Registry;
use crate::prompt::Target;

pub const KIND_ROOT: &str = "refactor.codegenie";
pub const KIND_GENERATE: &str = "refactor.codegenie.generate";
pub const KIND_EXPLAIN: &str = "refactor.codegenie.explain";

/// The CodeGenie actions for `range` in a document.
pub fn actions(
    uri: &Uri,
    doc: &Snapshot,
    range: Range,
    enc: Encoding,
    registry: &Registry,
    only: Option<&[CodeActionKind]>,
) -> Vec<CodeActionOrCommand> {
    let wanted = |kind: &str| {
        only.is_none_or(|only| only.iter().any(|o| kind == o.as_str() || kind.starts_with(&format!("{}.", o.as_str()))))
    };
    let (start, end) = convert::range(range);
    let start_char = line_index::to_char(&doc.rope, start, enc);
    let end_char = line_index::to_char(&doc.rope, end, enc);
    let mut out = Vec::new();

    if wanted(KIND_GENERATE) && doc.find_prompt(prompt_target(doc, range, enc)).is_some() {
        let default = registry.default_id();
        out.push(action("CodeGenie: Generate code from comment", KIND_GENERATE, GENERATE, uri, range, doc, None));
        for m in registry.all().iter().filter(|m| m.id != default) {
            out.push(action(
                &format!("CodeGenie: Generate with {}", m.id),
                KIND_GENERATE,
                GENERATE,
                uri,
                range,
                doc,
                Some(&m.id),
            ));
        }
    }
    if wanted(KIND_EXPLAIN) && start_char != end_char {
        let (lo, hi) = (start_char.min(end_char), start_char.max(end_char));
        if doc.rope.slice(lo..hi).chars().any(|c| !c.is_whitespace()) {
            out.push(action("CodeGenie: Explain selection", KIND_EXPLAIN, EXPLAIN, uri, range, doc, None));
        }
    }
    out
}

/// The prompt target of an editor range, in clamped coordinates so a range
/// past the end still works.
pub fn prompt_target(doc: &Snapshot, range: Range, enc: Encoding) -> Target {
    let (start, end) = convert::range(range);
    let a = line_index::to_pos(&doc.rope, line_index::to_char(&doc.rope, start, enc), Encoding::Utf32);
    let b = line_index::to_pos(&doc.rope, line_index::to_char(&doc.rope, end, enc), Encoding::Utf32);
    Target::from_range((a.line as usize, a.col as usize), (b.line as usize, b.col as usize))
}

fn action(
    title: &str,
    kind: &'static str,
    command: &str,
    uri: &Uri,
    range: Range,
    doc: &Snapshot,
    model: Option<&str>,
) -> CodeActionOrCommand {
    let mut arg = json!({"uri": uri.as_str(), "range": range, "version": doc.version});
    if let Some(model) = model {
        arg["model"] = json!(model);
    }
    CodeActionOrCommand::CodeAction(CodeAction {
        title: title.to_owned(),
        kind: Some(CodeActionKind::from(kind)),
        command: Some(Command { title: title.to_owned(), command: command.to_owned(), arguments: Some(vec![arg]) }),
        ..Default::default()
    })
}
