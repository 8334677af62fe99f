//! Finding the natural-language prompt in a comment.
//!
//! A small lexer walks the document from its start (so a marker inside a
//! string, or a line inside a block comment, is classified correctly) up to
//! the end of the comment under the cursor, and records every comment it
//! meets. The prompt is the comment block at the cursor: a block comment, or
//! a run of consecutive line comments with nothing else on their lines,
//! with markers and doc-comment decorations stripped. The result says where
//! generated code goes: the line after the block, at the block's
//! indentation.

pub mod syntax;

use ropey::Rope;

use crate::documents::line_index::line_text;
use syntax::{Block, Str, Syntax};

/// The prompt found at a cursor or selection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommentPrompt {
    /// The prompt text, markers and decorations stripped, lines joined by `\n`.
    pub text: String,
    /// First and last line (zero-based, inclusive) of the comment block.
    pub first_line: usize,
    pub last_line: usize,
    /// Where generated code goes: the line after the block.
    pub insert_line: usize,
    /// Indentation for the generated code (the comment's own).
    pub indent: String,
}

/// What the lexer found on one line.
#[derive(Clone, Debug, Default)]
struct LineInfo {
    /// Non-whitespace code (not comment) on this line.
    has_code: bool,
    /// Comment pieces on this line: (comment id, text without markers).
    pieces: Vec<(usize, String)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Line,
    Block,
}

#[derive(Clone, Copy, Debug)]
enum State {
    Code,
    InBlock { block: Block, depth: u32, id: usize },
    InString { string: Str },
}

/// Where the user asked: a cursor line, or whole lines of a selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The prompt is the whole comment block under this line.
    Cursor(usize),
    /// The prompt is these lines (inclusive) of one comment block.
    Lines(usize, usize),
}

impl Target {
    /// The target for an editor range given as (line, column) pairs: a
    /// range within one line is a cursor; a range ending at column 0 does
    /// not include that line (that is how whole lines are selected).
    pub fn from_range(start: (usize, usize), end: (usize, usize)) -> Self {
        let (start, end) = if start <= end { (start, end) } else { (end, start) };
        let end_line = if end.1 == 0 && end.0 > start.0 { end.0 - 1 } else { end.0 };
        if end_line == start.0 { Target::Cursor(start.0) } else { Target::Lines(start.0, end_line) }
    }

    /// The first and last line (inclusive) of the target.
    fn lines(self) -> (usize, usize) {
        match self {
            Target::Cursor(l) => (l, l),
            Target::Lines(a, b) => (a.min(b), a.max(b)),
        }
    }
}

/// Find the comment prompt at `target`. `None` when it is not inside one
/// comment block, or the comment says nothing (no letter or digit).
pub fn find(rope: &Rope, language_id: &str, target: Target) -> Option<CommentPrompt> {
    let (start, end) = target.lines();
    if start >= rope.len_lines() {
        return None;
    }
    let lexed = lex(rope, language_id, Some(end));
    lexed.prompt_at(rope, target)
}

/// Find a prompt again in a document that changed since it was found:
/// at `target` when the comment there still says exactly `text`, else the
/// comment (or, for a selection, the same number of lines of a comment)
/// saying exactly `text` nearest to `target`, the earlier one on a tie.
/// `None` when no comment says `text` any more.
pub fn find_again(rope: &Rope, language_id: &str, target: Target, text: &str) -> Option<CommentPrompt> {
    if let Some(found) = find(rope, language_id, target).filter(|p| p.text == text) {
        return Some(found);
    }
    let (start, end) = target.lines();
    let span = end - start;
    let lexed = lex(rope, language_id, None);
    let mut best: Option<(usize, CommentPrompt)> = None;
    let mut n = 0;
    while n < lexed.lines.len() {
        let candidate = match target {
            Target::Cursor(_) => Target::Cursor(n),
            Target::Lines(..) => Target::Lines(n, n + span),
        };
        let found = lexed.prompt_at(rope, candidate);
        let mut next = n + 1;
        if let Some(p) = found {
            if matches!(target, Target::Cursor(_)) {
                // Every line of the block gives the same prompt: go on from
                // its last line, which may also hold another comment.
                next = next.max(p.last_line);
            }
            let distance = n.abs_diff(start);
            if p.text == text && best.as_ref().is_none_or(|(d, _)| distance < *d) {
                best = Some((distance, p));
            }
        }
        n = next;
    }
    best.map(|(_, p)| p)
}

/// The lines the lexer saw and the kind of every comment it met.
struct Lexed {
    lines: Vec<LineInfo>,
    kinds: Vec<Kind>,
}

/// Lex `rope` from its start up to line `end` and on while the comment
/// run there may continue; the whole document when `end` is `None`.
fn lex(rope: &Rope, language_id: &str, end: Option<usize>) -> Lexed {
    let syntax = syntax::for_language(language_id);
    let mut lexer = Lexer::new(syntax);
    let mut lines: Vec<LineInfo> = Vec::with_capacity(end.map_or(rope.len_lines(), |e| e + 2));
    for (n, slice) in rope.lines().enumerate() {
        if let Some(end) = end
            && n > end
        {
            let prev = &lines[n - 1];
            let continuing = matches!(lexer.state, State::InBlock { .. })
                || (!prev.has_code && prev.pieces.iter().any(|(id, _)| lexer.kinds[*id] == Kind::Line));
            if !continuing {
                break;
            }
        }
        let text: std::borrow::Cow<str> = slice.into();
        let text = text.trim_end_matches(['\n', '\r']);
        let mut info = lexer.line(text);
        if n == 0 && text.starts_with("#!") {
            // A shebang line is an instruction to the system, not a comment.
            info = LineInfo { has_code: true, pieces: Vec::new() };
        }
        lines.push(info);
    }
    Lexed { lines, kinds: lexer.kinds }
}

impl Lexed {
    /// The prompt at `target`, from lexed lines that reach past it.
    fn prompt_at(&self, rope: &Rope, target: Target) -> Option<CommentPrompt> {
        let (lines, kinds) = (&self.lines, &self.kinds);
        let (start, end) = target.lines();
        if end >= lines.len() {
            return None;
        }
        // The comment under the start of the range.
        let id = lines[start].pieces.last().map(|(id, _)| *id)?;
        let (first, last) = match kinds[id] {
            Kind::Block => {
                let first = (0..=start).rev().take_while(|&n| lines[n].pieces.iter().any(|(i, _)| *i == id)).last()?;
                let last =
                    (start..lines.len()).take_while(|&n| lines[n].pieces.iter().any(|(i, _)| *i == id)).last()?;
                (first, last)
            }
            Kind::Line => {
                let own_line = |n: usize| {
                    !lines[n].has_code && lines[n].pieces.len() == 1 && kinds[lines[n].pieces[0].0] == Kind::Line
                };
                if own_line(start) {
                    let first = (0..=start).rev().take_while(|&n| own_line(n)).last()?;
                    let last = (start..lines.len()).take_while(|&n| own_line(n)).last()?;
                    (first, last)
                } else {
                    (start, start) // a trailing comment after code
                }
            }
        };
        // A selection must stay inside the block.
        if end > last {
            return None;
        }
        let (from, to) = match target {
            Target::Cursor(_) => (first, last),
            Target::Lines(..) => (start, end),
        };
        let raw: Vec<&str> = (from..=to)
            .flat_map(|n| {
                // Line comments of a run each have their own id; a block
                // comment ending on the line is not part of them.
                lines[n]
                    .pieces
                    .iter()
                    .filter(|(i, _)| *i == id || (kinds[id] == Kind::Line && kinds[*i] == Kind::Line))
                    .map(|(_, t)| t.as_str())
            })
            .collect();
        let text = clean(&raw, kinds[id]);
        if !text.chars().any(char::is_alphanumeric) {
            return None;
        }
        // The prompt covers the selected part; the code goes after the whole block.
        let indent: String = line_text(rope, first).chars().take_while(|c| *c == ' ' || *c == '\t').collect();
        Some(CommentPrompt { text, first_line: first, last_line: last, insert_line: last + 1, indent })
    }
}

/// Strip decorations: doc-comment markers (`///`, `//!`, `/**`, ` * `,
/// `#'`, `-- |`), box-drawing rules (`*****`, `-----`), and surrounding
/// blank lines.
fn clean(raw: &[&str], kind: Kind) -> String {
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for piece in raw {
        let mut t = piece.trim();
        t = match kind {
            // `///` `//!` `#'` `##` `-- |` `;;;` `%%`: the extra marker characters.
            Kind::Line => t.trim_start_matches(['/', '#', '!', '\'', '-', ';', '%', '|']),
            // `/**` `/*!` and Javadoc's leading ` * `; `**/` at the end.
            Kind::Block => t.trim_start_matches(['*', '!']).trim_end_matches('*'),
        }
        .trim();
        // A rule line (only punctuation) is decoration.
        if !t.is_empty() && t.chars().all(|c| "*-=_#/~+".contains(c)) {
            t = "";
        }
        out.push(t.to_owned());
    }
    let first = out.iter().position(|l| !l.is_empty()).unwrap_or(out.len());
    let last = out.iter().rposition(|l| !l.is_empty()).map_or(first, |p| p + 1);
    out[first..last].join("\n")
}

struct Lexer {
    syntax: Syntax,
    state: State,
    /// Kind of each comment seen, by id.
    kinds: Vec<Kind>,
    /// First bytes of every opener: anything else is plain code.
    starts: [bool; 256],
}

impl Lexer {
    fn new(syntax: Syntax) -> Self {
        let mut starts = [false; 256];
        let firsts = syntax
            .line
            .iter()
            .copied()
            .chain(syntax.blocks.iter().map(|b| b.open))
            .chain(syntax.strings.iter().map(|s| s.open));
        for opener in firsts {
            if let Some(b) = opener.as_bytes().first() {
                starts[*b as usize] = true;
            }
        }
        Self { syntax, state: State::Code, kinds: Vec::new(), starts }
    }

    fn new_comment(&mut self, kind: Kind) -> usize {
        self.kinds.push(kind);
        self.kinds.len() - 1
    }

    /// Lex one line (without its line break), carrying state across lines.
    /// Works on bytes: every marker is ASCII, and ASCII bytes never occur
    /// inside a multi-byte UTF-8 character, so byte offsets found here are
    /// always character boundaries.
    fn line(&mut self, line: &str) -> LineInfo {
        let bytes = line.as_bytes();
        let mut info = LineInfo::default();
        let mut i = 0;
        // Where the text of a block comment starts on this line.
        let mut block_from = 0;
        let mut seen_code = false;
        while i < bytes.len() {
            match self.state {
                State::InBlock { block, depth, id } => {
                    if bytes[i..].starts_with(block.close.as_bytes()) {
                        if depth > 1 {
                            self.state = State::InBlock { block, depth: depth - 1, id };
                        } else {
                            info.pieces.push((id, line[block_from..i].to_owned()));
                            self.state = State::Code;
                        }
                        i += block.close.len();
                    } else if block.nested && bytes[i..].starts_with(block.open.as_bytes()) {
                        i += block.open.len();
                        self.state = State::InBlock { block, depth: depth + 1, id };
                    } else {
                        i += 1;
                    }
                }
                State::InString { string } => {
                    if string.escapes && bytes[i] == b'\\' {
                        i += 2;
                    } else if bytes[i..].starts_with(string.close.as_bytes()) {
                        i += string.close.len();
                        self.state = State::Code;
                    } else {
                        i += 1;
                    }
                }
                State::Code => {
                    let c = bytes[i];
                    if c.is_ascii_whitespace() {
                        i += 1;
                        continue;
                    }
                    if !self.starts[c as usize] {
                        info.has_code = true;
                        seen_code = true;
                        i += 1;
                        continue;
                    }
                    let word_start = i == 0 || bytes[i - 1].is_ascii_whitespace();
                    match self.opener(&bytes[i..], !seen_code, word_start) {
                        Some(Opener::Line(marker)) => {
                            let id = self.new_comment(Kind::Line);
                            info.pieces.push((id, line[i + marker.len()..].to_owned()));
                            i = bytes.len();
                        }
                        Some(Opener::Block(block)) => {
                            let id = self.new_comment(Kind::Block);
                            i += block.open.len();
                            block_from = i;
                            self.state = State::InBlock { block, depth: 1, id };
                        }
                        Some(Opener::Str(string)) => {
                            info.has_code = true;
                            seen_code = true;
                            if string.char_literal {
                                // A lifetime or a quote in prose is plain code.
                                i += char_literal_len(&line[i..]).unwrap_or(1);
                                continue;
                            }
                            i += string.open.len();
                            self.state = State::InString { string };
                        }
                        None => {
                            info.has_code = true;
                            seen_code = true;
                            i += 1;
                        }
                    }
                }
            }
        }
        match self.state {
            State::InBlock { id, .. } => info.pieces.push((id, line[block_from.min(line.len())..].to_owned())),
            State::InString { string } if !string.multiline => self.state = State::Code,
            _ => {}
        }
        info
    }

    /// The longest opener at the start of `rest`; blocks before line
    /// comments before strings on a tie (Lua `--[[` over `--`).
    fn opener(&self, rest: &[u8], at_line_start: bool, word_start: bool) -> Option<Opener> {
        let mut best: Option<(usize, Opener)> = None;
        let mut consider = |len: usize, o: Opener| {
            if best.as_ref().is_none_or(|(l, _)| len > *l) {
                best = Some((len, o));
            }
        };
        for block in self.syntax.blocks {
            if (!block.line_start || at_line_start) && rest.starts_with(block.open.as_bytes()) {
                consider(block.open.len(), Opener::Block(*block));
            }
        }
        if word_start || !self.syntax.line_needs_word_start {
            for marker in self.syntax.line {
                if rest.starts_with(marker.as_bytes()) {
                    consider(marker.len(), Opener::Line(marker));
                }
            }
        }
        for string in self.syntax.strings {
            if rest.starts_with(string.open.as_bytes()) {
                consider(string.open.len(), Opener::Str(*string));
            }
        }
        best.map(|(_, o)| o)
    }
}

enum Opener {
    Line(&'static str),
    Block(Block),
    Str(Str),
}

/// Byte length of a character literal at the start of `rest` (`'a'`,
/// `'é'`, `'\n'`, `'\u{1F600}'`), or `None` when the quote starts none.
fn char_literal_len(rest: &str) -> Option<usize> {
    let mut chars = rest.char_indices().skip(1);
    match chars.next()? {
        (_, '\\') => chars.take(11).find(|(_, c)| *c == '\'').map(|(j, _)| j + 1),
        (_, '\'') => None,
        _ => chars.next().filter(|(_, c)| *c == '\'').map(|(j, _)| j + 1),
    }
}

#[cfg(test)]
mod tests;
