//! `textDocument/inlineCompletion` (LSP 3.18): ghost text at the cursor.
//!
//! The handler checks the settings (on or off, the language deny list) and
//! the cursor (not inside a string or a comment unless the user asked with
//! `triggerKind: Invoked`), then asks the completion use-case, with the
//! item selected in the editor's completion list applied when there is one
//! (`selectedCompletionInfo`: the suggestion extends it). A newer
//! request cancels the one before it; `$/cancelRequest` drops the handler's
//! future, which cancels its decoding too. No account is needed and nothing
//! is recorded in the history. A problem (a model that fails, a model file
//! not downloaded) is told to the user once, not on every keystroke.

use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types::*;

use super::{Server, convert};
use crate::completion::{self, Request, Skip};
use crate::documents::line_index;
use crate::models::ModelError;
use crate::prompt::{Inside, inside_at};

pub const METHOD: &str = "textDocument/inlineCompletion";

/// The longest selected completion item taken into the text.
const MAX_SELECTED_CHARS: usize = 1000;

impl Server {
    pub async fn inline_completion(&self, params: InlineCompletionParams) -> Result<Option<InlineCompletionResponse>> {
        let config = self.config();
        let settings = &config.settings.completion;
        let at = params.text_document_position;
        let Some(doc) = self.docs.snapshot(at.text_document.uri.as_str()) else {
            return Ok(None);
        };
        if !completion::enabled(settings, &config.registry) || settings.denies(&doc.language_id) {
            return Ok(None);
        }
        let enc = self.encoding();
        let offset = line_index::to_char(&doc.rope, convert::pos(at.position), enc);
        let line = doc.rope.char_to_line(offset);
        if params.context.trigger_kind != InlineCompletionTriggerKind::INVOKED {
            let col = doc.rope.slice(doc.rope.line_to_char(line)..offset).len_bytes();
            if inside_at(&doc.rope, &doc.language_id, line, col, Some(&doc.lex)) != Inside::Code {
                return Ok(None);
            }
        }
        // The editor's completion list is open on an item: the suggestion
        // goes on from that item as if it were accepted, and replaces the
        // same range (editors show nothing else as a preview). An item that
        // does not cover the cursor (or too long a one) would hide any
        // suggestion: the model is not asked.
        let (rope, offset) = match &params.context.selected_completion_info {
            Some(info) => {
                let start = line_index::to_char(&doc.rope, convert::pos(info.range.start), enc);
                let end = line_index::to_char(&doc.rope, convert::pos(info.range.end), enc);
                let chars = info.text.chars().count();
                if !(start <= offset && offset <= end && chars <= MAX_SELECTED_CHARS) {
                    return Ok(None);
                }
                let mut rope = doc.rope.clone();
                rope.remove(start..end);
                rope.insert(start, &info.text);
                (rope, start + chars)
            }
            None => (doc.rope.clone(), offset),
        };
        let cancel = self.completer.begin();
        // `$/cancelRequest` drops this future: the decoding stops too.
        let _stop = cancel.clone().drop_guard();
        let req = Request { doc: at.text_document.uri.as_str(), rope: &rope, offset, language: &doc.language_id };
        let answer = self.completer.complete(&config.assistant, settings, req, &cancel).await;
        let suggestion = match answer {
            Ok(Ok(suggestion)) if !suggestion.text.trim().is_empty() => suggestion,
            Ok(Ok(_)) => return Ok(None),
            Ok(Err(skip)) => {
                self.skipped(skip).await;
                return Ok(None);
            }
            Err(ModelError::Cancelled) => {
                return Err(Error {
                    code: ErrorCode::RequestCancelled,
                    message: "a newer inline completion request replaced this one".into(),
                    data: None,
                });
            }
            Err(e) => {
                tracing::warn!("inline completion failed: {e}");
                // Told once per kind of problem: the text of one (a token
                // count, a server's request id) may change every keystroke.
                if self.completer.first_time(e.kind()) {
                    let text = format!("CodeGenie inline completion failed: {e}");
                    self.client.show_message(MessageType::WARNING, text).await;
                }
                return Ok(None);
            }
        };
        let (insert_text, range) = match &params.context.selected_completion_info {
            Some(info) => (format!("{}{}", info.text, suggestion.text), info.range),
            None => {
                let cursor = line_index::to_pos(&doc.rope, offset, enc);
                let cursor = Position::new(cursor.line, cursor.col);
                (suggestion.text, Range::new(cursor, cursor))
            }
        };
        Ok(Some(InlineCompletionResponse::List(InlineCompletionList {
            items: vec![InlineCompletionItem {
                insert_text,
                filter_text: None,
                range: Some(range),
                command: None,
                insert_text_format: Some(InsertTextFormat::PLAIN_TEXT),
            }],
        })))
    }

    /// Tell the user, once, why suggestions cannot come.
    async fn skipped(&self, skip: Skip) {
        let text = match &skip {
            Skip::NotDownloaded(model) => format!(
                "CodeGenie inline completion needs the model file of `{model}`, which is not downloaded yet \
                 (nothing is downloaded while you type): run `codegenie models pull {model}` or generate once"
            ),
            Skip::Unsupported(model) => format!(
                "CodeGenie: `{model}` has no inline completion (an instruct model without fill-in-the-middle \
                 tokens); set `completion.model` to a model that has (see `codegenie models`)"
            ),
            Skip::Hosted(model) => format!(
                "CodeGenie: `{model}` is a hosted chat API, which cannot complete inline. Set \
                 `completion.model` to a local model, or to a hosted one that takes plain text \
                 (api `tgi`, `hf-inference`, or `openai` with `chat = false`)"
            ),
            Skip::Budget => {
                tracing::debug!(?skip, "no inline suggestion");
                return;
            }
        };
        tracing::info!("{text}");
        if self.completer.first_time(&text) {
            self.client.show_message(MessageType::INFO, text).await;
        }
    }
}
