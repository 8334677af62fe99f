//! From a model's raw answer to what goes into the editor.
//!
//! Code: cut at stop sequences and chat-template tokens, drop an echoed
//! prompt and answer labels, take the code block in the target language out
//! of markdown fences (or the whole answer when there is none), drop a first
//! line that only repeats the request as a comment, re-indent to the
//! insertion indentation and strip trailing whitespace. An answer with no code
//! is [`ModelError::NoCode`], never an empty insert.
//!
//! Explanations keep their markdown; only the noise around it goes.

use super::ModelError;
use super::comment_marker;

/// Tokens of the models' chat templates that end (or must never be part of)
/// an answer.
pub const CHAT_TOKENS: &[&str] = &[
    "<|EOT|>",
    "<|endoftext|>",
    "<end_of_turn>",
    "<start_of_turn>",
    "<eos>",
    "<|im_end|>",
    "<|im_start|>",
    "</s>",
    "<|end|>",
    "<|eot_id|>",
    "<|file_separator|>",
    "<｜end▁of▁sentence｜>",
];

/// Tokens some servers leave at the very start of an answer.
const LEADING_TOKENS: &[&str] = &["<s>", "<bos>", "<|begin_of_text|>", "<｜begin▁of▁sentence｜>"];

/// Labels a model may put before its answer, echoing its prompt format.
const LABELS: &[&str] =
    &["### Response:", "Response:", "Output:", "Answer:", "Solution:", "A:", "<start_of_turn>model"];

/// What the code is for.
#[derive(Clone, Copy, Debug)]
pub struct CodeTarget<'a> {
    /// Language id of the document (`python`, `rust`, …).
    pub language: &'a str,
    /// Indentation of the insertion point, put before every line.
    pub indent: &'a str,
    /// The model's stop sequences.
    pub stop: &'a [String],
    /// The prompt text that was sent (to recognise an echo).
    pub sent_prompt: &'a str,
    /// The user's request (to recognise it repeated as a comment).
    pub request: &'a str,
}

/// The code to insert.
pub fn code(raw: &str, target: &CodeTarget<'_>) -> Result<String, ModelError> {
    let text = clean_edges(raw, target.stop, target.sent_prompt);
    let blocks = fenced_blocks(&text);
    let body = if blocks.is_empty() {
        let stray_fences: Vec<&str> = text.lines().filter(|l| !l.trim_start().starts_with("```")).collect();
        let body = stray_fences.join("\n");
        if looks_like_prose(&body) {
            return Err(ModelError::NoCode);
        }
        body
    } else {
        let chosen = blocks
            .iter()
            .find(|b| !b.content.trim().is_empty() && same_language(&b.tag, target.language))
            .or_else(|| blocks.iter().find(|b| !b.content.trim().is_empty() && b.tag.is_empty()))
            .or_else(|| blocks.iter().find(|b| !b.content.trim().is_empty()));
        match chosen {
            Some(b) => {
                if !b.tag.is_empty() && !same_language(&b.tag, target.language) {
                    tracing::debug!(tag = %b.tag, language = %target.language, "the model fenced its code as another language");
                }
                b.content.clone()
            }
            None => return Err(ModelError::NoCode),
        }
    };
    let body = drop_repeated_request(&body, target.request, target.language);
    let code = reindent(&body, target.indent);
    if code.trim().is_empty() {
        return Err(ModelError::NoCode);
    }
    Ok(code)
}

/// The explanation to show, markdown kept.
pub fn explanation(raw: &str, stop: &[String], sent_prompt: &str, language: &str) -> Result<String, ModelError> {
    let text = clean_edges(raw, stop, sent_prompt);
    let marker = comment_marker(language);
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let all_commented =
        !marker.is_empty() && lines.iter().filter(|l| !l.trim().is_empty()).all(|l| l.trim_start().starts_with(marker));
    let lines: Vec<&str> = if all_commented {
        lines
            .iter()
            .map(|l| {
                let rest = l.trim_start().strip_prefix(marker).unwrap_or(l);
                rest.strip_prefix(' ').unwrap_or(rest)
            })
            .collect()
    } else {
        lines
    };
    let text = lines.join("\n").trim_matches('\n').to_owned();
    if text.trim().is_empty() { Err(ModelError::NoExplanation) } else { Ok(text) }
}

/// Cut at stops and chat tokens, drop an echoed prompt, leading tokens and labels.
fn clean_edges(raw: &str, stop: &[String], sent_prompt: &str) -> String {
    let mut text = raw.replace("\r\n", "\n");
    let prompt = sent_prompt.replace("\r\n", "\n");
    let prompt = prompt.trim();
    loop {
        let before = text.len();
        let trimmed = text.trim_start();
        let mut rest = trimmed;
        for t in LEADING_TOKENS {
            rest = rest.strip_prefix(t).unwrap_or(rest);
        }
        if !prompt.is_empty() {
            rest = rest.strip_prefix(prompt).unwrap_or(rest);
        }
        let rest = rest.trim_start();
        let rest = LABELS.iter().find_map(|l| rest.strip_prefix(l)).unwrap_or(rest);
        text = rest.to_owned();
        if text.len() == before {
            break;
        }
    }
    cut_at_first(&mut text, stop.iter().map(String::as_str).chain(CHAT_TOKENS.iter().copied()));
    text
}

/// An inline suggestion as a hosted server sent it, cut at the first stop
/// sequence: OpenAI-compatible servers take at most four.
pub fn suggestion(raw: &str, stop: &[String]) -> String {
    let mut text = raw.replace("\r\n", "\n");
    cut_at_first(&mut text, stop.iter().map(String::as_str));
    text
}

/// Cut `text` where the first of `stops` begins.
fn cut_at_first<'a>(text: &mut String, stops: impl Iterator<Item = &'a str>) {
    if let Some(at) = stops.filter(|s| !s.is_empty()).filter_map(|s| text.find(s)).min() {
        text.truncate(at);
    }
}

#[derive(Debug)]
struct Block {
    tag: String,
    content: String,
}

/// Fenced code blocks (```` ``` ```` or `~~~`); an unclosed last block runs to
/// the end (the answer was cut by the token limit).
fn fenced_blocks(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, &str, Vec<&str>)> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        match open.as_mut() {
            None => {
                for fence in ["```", "~~~"] {
                    if let Some(info) = trimmed.strip_prefix(fence) {
                        let tag = info.trim_start_matches(['`', '~']).split_whitespace().next().unwrap_or("");
                        open = Some((tag.trim_matches(['{', '}', '.']).to_ascii_lowercase(), fence, Vec::new()));
                        break;
                    }
                }
            }
            Some((tag, fence, lines)) => {
                if trimmed.trim_end().starts_with(*fence)
                    && trimmed.trim_end().trim_start_matches(['`', '~']).is_empty()
                {
                    blocks.push(Block { tag: std::mem::take(tag), content: lines.join("\n") });
                    open = None;
                } else {
                    lines.push(line);
                }
            }
        }
    }
    if let Some((tag, _, lines)) = open {
        blocks.push(Block { tag, content: lines.join("\n") });
    }
    blocks
}

/// Whether a fence tag names the target language (aliases included).
pub fn same_language(tag: &str, language: &str) -> bool {
    let (a, b) = (canonical_language(tag), canonical_language(language));
    !a.is_empty() && a == b
}

fn canonical_language(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    let canonical = match lower.as_str() {
        "py" | "python3" | "py3" => "python",
        "js" | "node" | "jsx" | "javascriptreact" | "mjs" => "javascript",
        "ts" | "tsx" | "typescriptreact" => "typescript",
        "rs" => "rust",
        "c++" | "cc" | "cxx" | "hpp" => "cpp",
        "c#" | "cs" => "csharp",
        "sh" | "bash" | "shell" | "zsh" => "shellscript",
        "golang" => "go",
        "kt" | "kts" => "kotlin",
        "rb" => "ruby",
        "yml" => "yaml",
        "md" => "markdown",
        "objc" | "objective-c" => "objective-c",
        other => other,
    };
    canonical.to_owned()
}

/// Every non-empty line reads like an English sentence (and there is no code).
fn looks_like_prose(text: &str) -> bool {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines.is_empty()
        || lines.iter().all(|l| {
            let words = l.split_whitespace().count();
            let first_upper = l.chars().next().is_some_and(|c| c.is_uppercase());
            let ends_sentence = l.ends_with(['.', '!', '?', ':']);
            let code_chars = l.contains(['(', ')', '{', '}', '[', ']', ';', '=', '<', '>', '_', '`', '"', '#', '/']);
            words >= 3 && first_upper && ends_sentence && !code_chars
        })
}

/// Drop a first line that is only the request repeated as a comment.
fn drop_repeated_request(body: &str, request: &str, language: &str) -> String {
    let norm = |s: &str| s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect::<String>();
    let wanted = norm(request);
    let mut lines = body.lines().peekable();
    while lines.peek().is_some_and(|l| l.trim().is_empty()) {
        lines.next();
    }
    if let Some(first) = lines.peek() {
        let t = first.trim_start();
        let marker = comment_marker(language);
        let is_comment = (!marker.is_empty() && t.starts_with(marker)) || t.starts_with("//") || t.starts_with('#');
        if is_comment && !wanted.is_empty() && norm(t) == wanted {
            lines.next();
        }
    }
    lines.collect::<Vec<_>>().join("\n")
}

/// Remove the common indentation, trailing whitespace and blank edges, then
/// put `indent` before every non-empty line.
///
/// Indentation is counted in characters, not bytes: a model may indent
/// with spaces that take several bytes (U+00A0, U+2003, U+3000, …).
pub fn reindent(body: &str, indent: &str) -> String {
    let lines: Vec<&str> = body.lines().map(str::trim_end).collect();
    let start = lines.iter().position(|l| !l.is_empty()).unwrap_or(lines.len());
    let end = lines.iter().rposition(|l| !l.is_empty()).map_or(start, |i| i + 1);
    let lines = &lines[start..end];
    let leading = |l: &str| l.chars().take_while(|c| c.is_whitespace()).count();
    let common = lines.iter().filter(|l| !l.is_empty()).map(|l| leading(l)).min().unwrap_or(0);
    lines
        .iter()
        .map(|l| {
            // Every line has at least `common` leading whitespace characters.
            let rest = l.char_indices().nth(common).map_or("", |(at, _)| &l[at..]);
            if l.is_empty() { String::new() } else { format!("{indent}{rest}") }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target<'a>(language: &'a str, indent: &'a str, stop: &'a [String], sent: &'a str) -> CodeTarget<'a> {
        CodeTarget { language, indent, stop, sent_prompt: sent, request: "add two numbers" }
    }

    #[test]
    fn fenced_block_in_target_language_is_taken() {
        let raw = "Sure! Here is the code:\n\n```java\nint add(int a, int b) { return a + b; }\n```\n\n```python\ndef add(a, b):\n    return a + b\n```\nThis adds two numbers.<|EOT|>";
        assert_eq!(code(raw, &target("python", "    ", &[], "")).unwrap(), "    def add(a, b):\n        return a + b");
    }

    #[test]
    fn aliases_unclosed_fences_and_wrong_language() {
        let raw = "```py\ndef f():\n    pass";
        assert_eq!(code(raw, &target("python", "", &[], "")).unwrap(), "def f():\n    pass");
        let raw = "```js\nconst x = 1;\n```";
        assert_eq!(code(raw, &target("python", "", &[], "")).unwrap(), "const x = 1;");
    }

    #[test]
    fn echo_labels_and_stops() {
        let stop = vec!["\nInstruct:".to_owned()];
        let sent = "Instruct: Write python code that does the following: add two numbers\nOutput:";
        let raw = format!("{sent} def add(a, b):\n    return a + b   \n\nInstruct: now do more");
        assert_eq!(code(&raw, &target("python", "", &stop, sent)).unwrap(), "def add(a, b):\n    return a + b");
        let raw = "<start_of_turn>model\n```rust\nfn add(a: i32, b: i32) -> i32 { a + b }\n```<end_of_turn>\n<start_of_turn>user";
        assert_eq!(code(raw, &target("rust", "\t", &[], "")).unwrap(), "\tfn add(a: i32, b: i32) -> i32 { a + b }");
    }

    #[test]
    fn repeated_request_comment_is_dropped() {
        let raw = "# Add two numbers\ndef add(a, b):\n    return a + b\n";
        assert_eq!(code(raw, &target("python", "", &[], "")).unwrap(), "def add(a, b):\n    return a + b");
    }

    #[test]
    fn no_code_is_an_error() {
        for raw in ["", "   \n", "<|endoftext|>", "I'm sorry, but I cannot help with that request.", "```python\n```"] {
            assert_eq!(code(raw, &target("python", "", &[], "")), Err(ModelError::NoCode), "{raw:?}");
        }
    }

    #[test]
    fn explanations_keep_markdown() {
        let raw = "### Response:\nThis function **adds** two numbers:\n\n- `a`: first\n- `b`: second\n<|EOT|>junk";
        assert_eq!(
            explanation(raw, &[], "", "python").unwrap(),
            "This function **adds** two numbers:\n\n- `a`: first\n- `b`: second"
        );
        let raw = "# It adds `a` and `b`.\n# Then returns the sum.\n";
        assert_eq!(explanation(raw, &[], "", "python").unwrap(), "It adds `a` and `b`.\nThen returns the sum.");
        assert_eq!(explanation("<|im_end|>", &[], "", "go"), Err(ModelError::NoExplanation));
    }

    #[test]
    fn non_ascii_spaces_indent_like_ascii_ones() {
        // U+00A0 (no-break space), U+2003 (em space), U+3000 (ideographic space).
        let raw = "```python\n\u{a0}def f():\n \u{3000}return 1\n\u{2003}\n```";
        assert_eq!(code(raw, &target("python", "  ", &[], "")).unwrap(), "  def f():\n  \u{3000}return 1");
        assert_eq!(reindent("\u{a0}a\n\tb", "\t"), "\ta\n\tb");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Text made of what trips up slicing: spaces of every width, tabs,
        /// line breaks, fences, multi-byte letters and emoji.
        fn tricky_text() -> impl Strategy<Value = String> {
            let piece = prop_oneof![
                Just(" ".to_owned()),
                Just("\t".to_owned()),
                Just("\u{a0}".to_owned()),
                Just("\u{2003}".to_owned()),
                Just("\u{3000}".to_owned()),
                Just("\n".to_owned()),
                Just("\r\n".to_owned()),
                Just("```".to_owned()),
                Just("```python\n".to_owned()),
                Just("# ".to_owned()),
                Just("<|EOT|>".to_owned()),
                Just("é".to_owned()),
                Just("日本".to_owned()),
                Just("🦀".to_owned()),
                "[a-z(){};=]{1,4}",
                any::<char>().prop_map(String::from),
            ];
            prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
        }

        fn any_text() -> impl Strategy<Value = String> {
            prop_oneof![tricky_text(), any::<String>()]
        }

        fn indent() -> impl Strategy<Value = String> {
            prop::collection::vec(prop::sample::select(vec![' ', '\t', '\u{a0}', '\u{3000}']), 0..4)
                .prop_map(|v| v.into_iter().collect())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn code_and_explanation_never_panic(
                raw in any_text(),
                indent in indent(),
                stop in any_text(),
                sent in any_text(),
                request in any_text(),
                language in prop::sample::select(vec!["python", "rust", "lua", "plaintext", ""]),
            ) {
                let stop = vec![stop];
                let target = CodeTarget { language, indent: &indent, stop: &stop, sent_prompt: &sent, request: &request };
                if let Ok(code) = code(&raw, &target) {
                    prop_assert!(!code.trim().is_empty());
                }
                if let Ok(text) = explanation(&raw, &stop, &sent, language) {
                    prop_assert!(!text.trim().is_empty());
                }
            }

            #[test]
            fn reindent_removes_the_common_indentation_and_keeps_the_rest(body in any_text(), indent in indent()) {
                let out = reindent(&body, &indent);
                let kept: Vec<&str> = body.lines().map(str::trim_end).filter(|l| !l.is_empty()).collect();
                let lines: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
                prop_assert_eq!(lines.len(), kept.len());
                for (line, before) in lines.iter().zip(&kept) {
                    let rest = line.strip_prefix(indent.as_str());
                    prop_assert!(rest.is_some(), "{:?} does not start with the indentation", line);
                    let rest = rest.unwrap();
                    prop_assert!(before.ends_with(rest), "{:?} is not the end of {:?}", rest, before);
                    prop_assert_eq!(rest.trim_start(), before.trim_start());
                }
                // The least indented line starts at the new indentation.
                if !lines.is_empty() {
                    let flush = lines.iter().any(|l| !l[indent.len()..].starts_with(char::is_whitespace));
                    prop_assert!(flush, "{:?}", out);
                }
                // Indenting again from nothing gives the same text.
                prop_assert_eq!(reindent(&reindent(&body, ""), &indent), out);
            }
        }
    }
}
