//! Finding the natural-language prompt in a comment.
//!
//! A small lexer walks the document from its start (so a marker inside a
//! string, or a line inside a block comment, is classified correctly) up to
//! the end of the comment under the cursor, and records every comment it
//! meets. Its state at every [`CHECKPOINT_EVERY`]th line start is kept per
//! document version ([`LexCache`]), and an edit keeps the checkpoints before
//! it: a code action lexes from the nearest checkpoint, not from the top. The prompt is the comment block at the cursor: a block comment, or
//! a run of consecutive line comments with nothing else on their lines,
//! with markers and doc-comment decorations stripped. The result says where
//! generated code goes: the line after the block, at the block's
//! indentation.

pub mod syntax;

use std::sync::Mutex;

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

/// Lines between two lexer checkpoints.
pub const CHECKPOINT_EVERY: usize = 256;

/// The lexer's state at the start of every [`CHECKPOINT_EVERY`]th line of
/// one version of one document (filled as lexing passes them).
#[derive(Debug, Default)]
pub struct LexCache {
    states: Mutex<Vec<State>>,
    /// The last prompt looked for in this version and what was found (a
    /// code action and then its command ask for the same one).
    last: Mutex<Option<(Target, Option<CommentPrompt>)>>,
}

impl LexCache {
    /// The checkpoints still true after an edit that starts on `line` (the
    /// state at a line start depends on the lines above it only), as a new
    /// cache: snapshots of the version before keep the old one.
    pub fn before_edit(&self, line: usize) -> LexCache {
        let states = self.lock();
        let keep = (line / CHECKPOINT_EVERY + 1).min(states.len());
        LexCache { states: Mutex::new(states[..keep].to_vec()), last: Mutex::default() }
    }

    /// How many checkpoints are known (tests).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<State>> {
        self.states.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Find the comment prompt at `target`. `None` when it is not inside one
/// comment block, or the comment says nothing (no letter or digit).
pub fn find(rope: &Rope, language_id: &str, target: Target) -> Option<CommentPrompt> {
    find_cached(rope, language_id, target, None)
}

/// [`find`], lexing from the nearest checkpoint of `cache` (the cache must
/// belong to this version of this document) and adding the ones it passes.
pub fn find_cached(rope: &Rope, language_id: &str, target: Target, cache: Option<&LexCache>) -> Option<CommentPrompt> {
    let Some(cache) = cache else {
        return find_from_checkpoints(rope, language_id, target, None);
    };
    if let Some((at, found)) = &*cache.last.lock().unwrap_or_else(|e| e.into_inner())
        && *at == target
    {
        return found.clone();
    }
    let found = find_from_checkpoints(rope, language_id, target, Some(cache));
    *cache.last.lock().unwrap_or_else(|e| e.into_inner()) = Some((target, found.clone()));
    found
}

fn find_from_checkpoints(
    rope: &Rope,
    language_id: &str,
    target: Target,
    cache: Option<&LexCache>,
) -> Option<CommentPrompt> {
    let (start, end) = target.lines();
    if start >= rope.len_lines() {
        return None;
    }
    let known = cache.map(|c| c.lock().len()).unwrap_or(0);
    // The checkpoint at or before the target; an earlier one when the
    // comment there began before it.
    let mut checkpoint = (start / CHECKPOINT_EVERY).min(known.saturating_sub(1));
    loop {
        let from = match cache {
            Some(c) if checkpoint > 0 => Some((checkpoint * CHECKPOINT_EVERY, c.lock()[checkpoint])),
            _ => None,
        };
        let lexed = lex(rope, language_id, Some(end), from, cache);
        match lexed.prompt_at(rope, target) {
            Err(BeganEarlier) => checkpoint -= 1,
            Ok(found) => return found,
        }
    }
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
    let lexed = lex(rope, language_id, None, None, None);
    let mut best: Option<(usize, CommentPrompt)> = None;
    let mut n = 0;
    while n < lexed.lines.len() {
        let candidate = match target {
            Target::Cursor(_) => Target::Cursor(n),
            Target::Lines(..) => Target::Lines(n, n + span),
        };
        let found = lexed.prompt_at(rope, candidate).unwrap_or_default();
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

/// What the text at a cursor is part of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inside {
    Code,
    Comment,
    String,
}

/// Line `line` is a shebang (`#!/usr/bin/env python`), an instruction to
/// the system, not a comment; Rust's inner attribute (`#![…]`, `#! […]`)
/// is code.
fn is_shebang(line: usize, text: &str) -> bool {
    line == 0 && text.strip_prefix("#!").is_some_and(|rest| !rest.trim_start().starts_with('['))
}

/// Whether the cursor at byte `col` of `line` is in code, a comment or a
/// string literal, lexing from the nearest checkpoint of `cache` (which
/// must belong to this version of this document) and adding the ones it
/// passes.
pub fn inside_at(rope: &Rope, language_id: &str, line: usize, col: usize, cache: Option<&LexCache>) -> Inside {
    if line >= rope.len_lines() {
        return Inside::Code;
    }
    let mut lexer = Lexer::new(syntax::for_language(language_id));
    let known = cache.map(|c| c.lock().len()).unwrap_or(0);
    let checkpoint = (line / CHECKPOINT_EVERY).min(known.saturating_sub(1));
    let mut from = 0;
    if let Some(c) = cache.filter(|_| checkpoint > 0) {
        from = checkpoint * CHECKPOINT_EVERY;
        lexer.state = match c.lock()[checkpoint] {
            State::InBlock { block, depth, .. } => State::InBlock { block, depth, id: lexer.new_comment(Kind::Block) },
            other => other,
        };
    }
    let mut found = Vec::new();
    let mut next = if cache.is_some() { known } else { usize::MAX };
    for (n, slice) in rope.lines_at(from).enumerate().map(|(i, s)| (i + from, s)).take(line - from) {
        if n % CHECKPOINT_EVERY == 0 && n / CHECKPOINT_EVERY == next {
            found.push(lexer.state);
            next += 1;
        }
        let text: std::borrow::Cow<str> = slice.into();
        // As `lex` does (the checkpoints are shared): a shebang line is lexed too.
        lexer.line(text.trim_end_matches(['\n', '\r']));
    }
    if line.is_multiple_of(CHECKPOINT_EVERY) && line / CHECKPOINT_EVERY == next {
        found.push(lexer.state);
        next += 1;
    }
    if let Some(cache) = cache.filter(|_| !found.is_empty()) {
        let mut states = cache.lock();
        if states.len() + found.len() == next {
            states.extend(found);
        }
    }
    let text = line_text(rope, line);
    let mut col = col.min(text.len());
    while !text.is_char_boundary(col) {
        col -= 1;
    }
    if is_shebang(line, &text) {
        return Inside::Comment;
    }
    let info = lexer.scan(&text[..col]);
    match lexer.state {
        State::InBlock { .. } => Inside::Comment,
        State::InString { .. } => Inside::String,
        State::Code if info.pieces.iter().any(|(id, _)| lexer.kinds[*id] == Kind::Line) => Inside::Comment,
        State::Code => Inside::Code,
    }
}

/// The lines the lexer saw (from line `offset` on) and the kind of every
/// comment it met.
struct Lexed {
    offset: usize,
    lines: Vec<LineInfo>,
    kinds: Vec<Kind>,
}

/// The comment at the target reaches above the first lexed line: lex from
/// an earlier checkpoint.
#[derive(Debug)]
struct BeganEarlier;

/// Lex `rope` from line `from` (with the lexer's state there; the start when
/// `None`) up to line `end` and on while the comment run there may continue;
/// to the end when `end` is `None`. Checkpoints passed are added to `cache`.
fn lex(
    rope: &Rope,
    language_id: &str,
    end: Option<usize>,
    from: Option<(usize, State)>,
    cache: Option<&LexCache>,
) -> Lexed {
    let syntax = syntax::for_language(language_id);
    let mut lexer = Lexer::new(syntax);
    let offset = from.map_or(0, |(line, _)| line);
    if let Some((_, state)) = from {
        // Comment ids are this run's own: a comment open at the checkpoint
        // gets the first one.
        lexer.state = match state {
            State::InBlock { block, depth, .. } => State::InBlock { block, depth, id: lexer.new_comment(Kind::Block) },
            other => other,
        };
    }
    let mut found = Vec::new();
    let mut known = cache.map(|c| c.lock().len()).unwrap_or(usize::MAX);
    let mut lines: Vec<LineInfo> = Vec::with_capacity(end.map_or(rope.len_lines(), |e| e + 2).saturating_sub(offset));
    for (n, slice) in rope.lines_at(offset).enumerate().map(|(i, s)| (i + offset, s)) {
        if n % CHECKPOINT_EVERY == 0 && n / CHECKPOINT_EVERY == known {
            found.push(lexer.state);
            known += 1;
        }
        if let Some(end) = end
            && n > end
        {
            let prev = &lines[n - 1 - offset];
            let continuing = matches!(lexer.state, State::InBlock { .. })
                || (!prev.has_code && prev.pieces.iter().any(|(id, _)| lexer.kinds[*id] == Kind::Line));
            if !continuing {
                break;
            }
        }
        let text: std::borrow::Cow<str> = slice.into();
        let text = text.trim_end_matches(['\n', '\r']);
        let mut info = lexer.line(text);
        if is_shebang(n, text) {
            // A shebang line is an instruction to the system, not a comment.
            info = LineInfo { has_code: true, pieces: Vec::new() };
        }
        lines.push(info);
    }
    if let Some(cache) = cache.filter(|_| !found.is_empty()) {
        let mut states = cache.lock();
        // Another request may have added them meanwhile.
        if states.len() + found.len() == known {
            states.extend(found);
        }
    }
    Lexed { offset, lines, kinds: lexer.kinds }
}

impl Lexed {
    /// The prompt at `target`, from lexed lines that reach past it.
    fn prompt_at(&self, rope: &Rope, target: Target) -> Result<Option<CommentPrompt>, BeganEarlier> {
        let offset = self.offset;
        let line = |n: usize| &self.lines[n - offset];
        let kinds = &self.kinds;
        let (start, end) = target.lines();
        let total = offset + self.lines.len();
        if end >= total || start < offset {
            return Ok(None);
        }
        // The comment under the start of the range.
        let Some(id) = line(start).pieces.last().map(|(id, _)| *id) else { return Ok(None) };
        let (first, last) = match kinds[id] {
            Kind::Block => {
                let in_it = |n: usize| line(n).pieces.iter().any(|(i, _)| *i == id);
                let first = (offset..=start).rev().take_while(|&n| in_it(n)).last().unwrap_or(start);
                let last = (start..total).take_while(|&n| in_it(n)).last().unwrap_or(start);
                (first, last)
            }
            Kind::Line => {
                let own_line = |n: usize| {
                    let l = line(n);
                    !l.has_code && l.pieces.len() == 1 && kinds[l.pieces[0].0] == Kind::Line
                };
                if own_line(start) {
                    let first = (offset..=start).rev().take_while(|&n| own_line(n)).last().unwrap_or(start);
                    let last = (start..total).take_while(|&n| own_line(n)).last().unwrap_or(start);
                    (first, last)
                } else {
                    (start, start) // a trailing comment after code
                }
            }
        };
        if first == offset && offset > 0 {
            return Err(BeganEarlier);
        }
        // A selection must stay inside the block.
        if end > last {
            return Ok(None);
        }
        let (from, to) = match target {
            Target::Cursor(_) => (first, last),
            Target::Lines(..) => (start, end),
        };
        let raw: Vec<&str> = (from..=to)
            .flat_map(|n| {
                // Line comments of a run each have their own id; a block
                // comment ending on the line is not part of them.
                line(n)
                    .pieces
                    .iter()
                    .filter(|(i, _)| *i == id || (kinds[id] == Kind::Line && kinds[*i] == Kind::Line))
                    .map(|(_, t)| t.as_str())
            })
            .collect();
        let text = clean(&raw, kinds[id]);
        if !text.chars().any(char::is_alphanumeric) {
            return Ok(None);
        }
        // The prompt covers the selected part; the code goes after the whole block.
        let indent: String = line_text(rope, first).chars().take_while(|c| *c == ' ' || *c == '\t').collect();
        Ok(Some(CommentPrompt { text, first_line: first, last_line: last, insert_line: last + 1, indent }))
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
    fn line(&mut self, line: &str) -> LineInfo {
        let info = self.scan(line);
        if let State::InString { string } = self.state
            && !string.multiline
        {
            self.state = State::Code;
        }
        info
    }

    /// Lex text up to a point of a line: a string that ends with the line
    /// is still open.
    /// Works on bytes: every marker is ASCII, and ASCII bytes never occur
    /// inside a multi-byte UTF-8 character, so byte offsets found here are
    /// always character boundaries.
    fn scan(&mut self, line: &str) -> LineInfo {
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
        if let State::InBlock { id, .. } = self.state {
            info.pieces.push((id, line[block_from.min(line.len())..].to_owned()));
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
