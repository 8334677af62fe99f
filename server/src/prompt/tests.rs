//! Fixture tests: `$0` marks the cursor; two `$0` mark a selection.

use super::*;

/// Parse a fixture into the text and the target.
fn fixture(src: &str) -> (Rope, Target) {
    let marks: Vec<usize> = src.match_indices("$0").map(|(i, _)| i).collect();
    assert!(!marks.is_empty() && marks.len() <= 2, "fixture needs one or two $0 markers");
    let text = src.replace("$0", "");
    let pos = |byte: usize, nth: usize| {
        let before = &src[..byte - 2 * nth];
        let line = before.matches('\n').count();
        let col = before.rsplit('\n').next().unwrap().chars().count();
        (line, col)
    };
    let target = if marks.len() == 1 {
        Target::Cursor(pos(marks[0], 0).0)
    } else {
        Target::from_range(pos(marks[0], 0), pos(marks[1], 1))
    };
    (Rope::from_str(&text), target)
}

/// Assert the prompt at the marker: its text, the insert line and indent.
#[track_caller]
fn check(lang: &str, src: &str, text: &str, insert_line: usize, indent: &str) {
    let (rope, target) = fixture(src);
    let got = find(&rope, lang, target).unwrap_or_else(|| panic!("no prompt found for {lang} in:\n{src}"));
    assert_eq!(
        (got.text.as_str(), got.insert_line, got.indent.as_str()),
        (text, insert_line, indent),
        "{lang}:\n{src}"
    );
}

#[track_caller]
fn none(lang: &str, src: &str) {
    let (rope, target) = fixture(src);
    assert_eq!(find(&rope, lang, target), None, "{lang}:\n{src}");
}

#[test]
fn python_hash_comment_block_is_joined() {
    check(
        "python",
        "import csv\n\n# read a CSV$0 file\n# and print the mean of column 2\nx = 1\n",
        "read a CSV file\nand print the mean of column 2",
        4,
        "",
    );
}

#[test]
fn python_indented_comment_and_docstring() {
    check("python", "def f():\n    # sort the $0list\n    pass\n", "sort the list", 2, "    ");
    check(
        "python",
        "def f():\n    \"\"\"\n    Return the $0n-th prime.\n    \"\"\"\n",
        "Return the n-th prime.",
        4,
        "    ",
    );
}

#[test]
fn python_hash_in_string_is_not_a_comment() {
    none("python", "s = \"# not a $0prompt\"\n");
    none("python", "s = '''\n# still a $0string\n'''\n");
    check("python", "s = \"#\"  # trailing $0prompt\n", "trailing prompt", 1, "");
}

#[test]
fn rust_line_doc_and_block_comments() {
    check("rust", "fn main() {\n    // parse the $0args\n}\n", "parse the args", 2, "    ");
    check("rust", "/// Adds two$0 numbers.\nfn add() {}\n", "Adds two numbers.", 1, "");
    check("rust", "//! Crate $0docs\n", "Crate docs", 1, "");
    check(
        "rust",
        "/**\n * Compute the\n * fibonacci$0 numbers\n */\nfn x() {}\n",
        "Compute the\nfibonacci numbers",
        4,
        "",
    );
    // Nested block comments.
    check("rust", "/* outer /* inner */ still$0 outer */\n", "outer /* inner */ still outer", 1, "");
    // A lifetime is not a character literal; the comment after it is found.
    check("rust", "fn f<'a>(x: &'a str) {} // lifetime $0ok\n", "lifetime ok", 1, "");
    none("rust", "let s = \"// not a $0comment\";\n");
    none("rust", "let c = '\"'; let s = \"// no$0\";\n");
}

#[test]
fn c_family() {
    for lang in ["c", "cpp", "java", "csharp", "kotlin", "scala", "swift", "go", "javascript", "typescript", "dart"] {
        check(lang, "int x;\n  // allocate a $0buffer\nint y;\n", "allocate a buffer", 2, "  ");
        check(lang, "/* read$0 input */\n", "read input", 1, "");
        none(lang, "s = \"// nope$0\";\n");
        // A line comment after a block comment that ends on its line is its own prompt.
        check(lang, "/* setup\n done */ // add $0one\n", "add one", 2, " ");
        check(lang, "x = 1; /* note */ // add $0one\n", "add one", 1, "");
    }
}

#[test]
fn javascript_template_strings_span_lines() {
    none("javascript", "const s = `\n// inside a $0template\n`;\n");
    check("typescript", "const s = `x`; // after $0template\n", "after template", 1, "");
}

#[test]
fn go_raw_string() {
    none("go", "var s = `\n// raw $0string\n`\n");
}

#[test]
fn ruby_shell_yaml_r_perl() {
    check("ruby", "# make a $0hash\nh = {}\n", "make a hash", 1, "");
    check("ruby", "=begin\nlong $0comment\n=end\n", "long comment", 3, "");
    check("shellscript", "#!/bin/bash\n# list $0files\n", "list files", 2, "");
    none("shellscript", "#!/bin/bash$0\n");
    // Rust's inner attribute on the first line is code, and a comment
    // after it is a prompt.
    check("rust", "#![allow(dead_code)] // add two $0numbers\n", "add two numbers", 1, "");
    none("shellscript", "echo ${#arr[@]}$0\n");
    none("shellscript", "echo \"# no$0\"\n");
    check("yaml", "key: value\n# add a $0service\n", "add a service", 2, "");
    check("r", "#' Roxygen $0docs\nf <- function() {}\n", "Roxygen docs", 1, "");
    check("perl", "my $n = $#arr; # count $0them\n", "count them", 1, "");
}

#[test]
fn lua_haskell_sql_dashes() {
    check("lua", "-- print a $0table\n", "print a table", 1, "");
    check("lua", "--[[\nblock $0comment\n]]\nx = 1\n", "block comment", 3, "");
    check("haskell", "-- | Haddock $0docs\nf = 1\n", "Haddock docs", 1, "");
    check("haskell", "{- nested {- inner -} $0outer -}\n", "nested {- inner -} outer", 1, "");
    check("sql", "-- select all $0users\nSELECT 1;\n", "select all users", 1, "");
    check("sql", "/* join $0orders */\n", "join orders", 1, "");
    none("sql", "SELECT '-- not a $0comment';\n");
}

#[test]
fn php_html_css_markdown() {
    check("php", "<?php\n# hash $0style\n// slash style\n", "hash style\nslash style", 3, "");
    check("html", "<div>\n  <!-- a nav $0bar -->\n</div>\n", "a nav bar", 2, "  ");
    check("html", "<!--\n  a $0footer\n-->\n", "a footer", 3, "");
    check("css", ".a {}\n/* dark $0mode */\n", "dark mode", 2, "");
    check("markdown", "<!-- table of $0contents -->\n", "table of contents", 1, "");
}

#[test]
fn lisp_erlang_latex_matlab_vb_and_more() {
    check("clojure", ";; make a $0map\n", "make a map", 1, "");
    check("erlang", "%% spawn a $0process\n", "spawn a process", 1, "");
    check("latex", "% a $0table\n", "a table", 1, "");
    check("matlab", "% plot a $0sine\n", "plot a sine", 1, "");
    check("vb", "' open a $0file\n", "open a file", 1, "");
    check("ocaml", "(* fold a $0list *)\n", "fold a list", 1, "");
    check("fsharp", "// pipe $0it\n", "pipe it", 1, "");
    check("julia", "#= multi $0line =#\n", "multi line", 1, "");
    check("powershell", "<# get $0processes #>\n", "get processes", 1, "");
    check("elixir", "# a $0genserver\n", "a genserver", 1, "");
    check("dockerfile", "# install $0deps\nRUN true\n", "install deps", 1, "");
    check("toml", "# a $0table\n[a]\n", "a table", 1, "");
    check("terraform", "// an s3 $0bucket\n", "an s3 bucket", 1, "");
    check("zig", "// an $0allocator\n", "an allocator", 1, "");
}

#[test]
fn unknown_language_uses_fallback() {
    check("brainfsck", "// do $0it\n", "do it", 1, "");
    check("unknownlang", "# do $0it\n", "do it", 1, "");
    check("unknownlang", "-- do $0it\n", "do it", 1, "");
    none("unknownlang", "x = \"# not $0this\"\n");
    assert!(!syntax::is_known("unknownlang"));
    assert!(syntax::is_known("Python"));
}

#[test]
fn plain_code_and_empty_comments_are_not_prompts() {
    none("python", "x = 1$0\n");
    none("python", "#\n#$0\n");
    none("c", "/*************$0*/\n");
    none("python", "# prompt\n\n$0\n");
    none("python", "$0");
}

#[test]
fn decorations_and_rules_are_stripped() {
    check("c", "/*******************\n * Draw a $0box\n *******************/\n", "Draw a box", 3, "");
    check("python", "###########\n# banner $0text\n###########\n", "banner text", 3, "");
}

#[test]
fn separate_blocks_are_separate_prompts() {
    check("python", "# first\n\n# second $0one\nx\n", "second one", 3, "");
    // Code between comments splits the run.
    check("python", "# first\nx = 1\n# second $0one\n", "second one", 3, "");
    // A trailing comment is its own prompt.
    check("python", "# above\nx = 1  # beside $0x\n# below\n", "beside x", 2, "");
}

#[test]
fn selections_inside_a_comment() {
    check("python", "# one\n# $0two\n# three$0\n# four\nx\n", "two\nthree", 4, "");
    // Whole lines selected: ends at column 0 of the next line.
    check("python", "$0# one\n# two\n$0x = 1\n", "one\ntwo", 2, "");
    // Leaving the comment: no prompt.
    none("python", "# one$0\nx = 1$0\n");
}

#[test]
fn crlf_tabs_and_unicode() {
    check("python", "x = 1\r\n\t# 日本語で$0 説明 😀\r\ny = 2\r\n", "日本語で 説明 😀", 2, "\t");
    check("javascript", "// émoji 😀 $0here", "émoji 😀 here", 1, "");
}

#[test]
fn comment_on_the_last_line_without_newline() {
    let (rope, target) = fixture("x = 1\n# at the $0end");
    let p = find(&rope, "python", target).unwrap();
    assert_eq!(p.insert_line, 2);
    assert_eq!(rope.len_lines(), 2);
}

#[test]
fn twenty_languages_are_known() {
    let langs = [
        "rust",
        "python",
        "javascript",
        "typescript",
        "go",
        "java",
        "c",
        "cpp",
        "csharp",
        "kotlin",
        "swift",
        "ruby",
        "php",
        "lua",
        "shellscript",
        "sql",
        "haskell",
        "html",
        "css",
        "yaml",
        "r",
        "scala",
    ];
    for l in langs {
        assert!(syntax::is_known(l), "{l}");
    }
}

/// `find_again` for the prompt found at the marker of `before`, in `after`:
/// the first line, insert line and indent of what it finds.
#[track_caller]
fn again(lang: &str, before: &str, after: &str) -> Option<(usize, usize, String)> {
    let (rope, target) = fixture(before);
    let text = find(&rope, lang, target).unwrap_or_else(|| panic!("no prompt in:\n{before}")).text;
    find_again(&Rope::from_str(after), lang, target, &text).map(|p| (p.first_line, p.insert_line, p.indent))
}

#[test]
fn find_again_keeps_the_prompt_where_it_still_is() {
    let before = "x = 1\n# sort $0the list\ny = 2\n";
    assert_eq!(again("python", before, "x = 1\n# sort the list\ny = 3\nz = 4\n"), Some((1, 2, "".into())));
}

#[test]
fn find_again_follows_a_moved_comment() {
    let before = "x = 1\n# sort $0the list\n# in place\ny = 2\n";
    // Two lines inserted above, and the comment indented.
    let after = "x = 1\na = 1\nb = 2\ndef f():\n    # sort the list\n    # in place\ny = 2\n";
    assert_eq!(again("python", before, after), Some((4, 6, "    ".into())));
    // Lines removed above.
    assert_eq!(again("rust", "fn a() {}\n\n\n// add $0one\n", "// add one\nfn a() {}\n"), Some((0, 1, "".into())));
}

#[test]
fn find_again_wants_exactly_the_same_text() {
    let before = "# sort $0the list\n";
    // Edited, extended by a line, merged into a bigger block, or gone.
    assert_eq!(again("python", before, "# sort the lists\n"), None);
    assert_eq!(again("python", before, "# sort the list\n# and print it\n"), None);
    assert_eq!(again("python", before, "x = 1\n"), None);
    // Still there, but no longer a comment.
    assert_eq!(again("python", before, "s = \"\"\"\n# sort the list\n\"\"\"\n"), None);
}

#[test]
fn find_again_takes_the_nearest_of_equal_comments() {
    let before = "a\nb\nc\nd\n# sort $0the list\n";
    let after = "# sort the list\na\nb\nc\nd\ne\n# sort the list\nf\n# sort the list\n";
    assert_eq!(again("python", before, after), Some((6, 7, "".into())));
    // A tie goes to the earlier one.
    let after = "a\nb\n# sort the list\nx\nd\ny\n# sort the list\n";
    assert_eq!(again("python", before, after), Some((2, 3, "".into())));
}

#[test]
fn find_again_finds_block_comments_and_selections() {
    let before = "int x;\n/* compute\n * the $0sum\n */\n";
    let after = "int x;\nint y;\n\n/* compute\n * the sum\n */\n";
    assert_eq!(again("c", before, after), Some((3, 6, "".into())));
    // A selection of two lines of a longer block: the same two lines elsewhere.
    let before = "# one\n# $0two\n# three$0\n# four\nx\n";
    let after = "x\n\n# zero\n# one\n# two\n# three\n# four\n";
    assert_eq!(again("python", before, after), Some((2, 7, "".into())));
    // A trailing comment after code.
    let before = "int x; // add $0one\n";
    assert_eq!(again("c", before, "/* add\n one */\nint y;\nint x; // add one\n"), Some((3, 4, "".into())));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Text made of comment and string markers, escapes, line breaks,
    /// spaces of every width and multi-byte characters, to trip up the
    /// byte-wise lexer.
    fn source() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            6 => prop::sample::select(vec![
                "//", "/*", "*/", "#", "--", "--[[", "]]", "\"", "'", "\"\"\"", "\\", "\\\"", "`", "<!--", "-->", "\n",
                "\r\n", "\r", " ", "\t", "\u{a0}", "\u{3000}", "é", "日本", "🦀", "x = 1", "fn f()",
                "\n// add two numbers\n", "\n# sort a list é\n", "\n-- 日本 note\n", "\n/* a block\n 🦀 */\n",
                "\n    // indented\n", "\n\u{a0}# nbsp\n",
            ])
            .prop_map(str::to_owned),
            1 => any::<char>().prop_map(String::from),
        ];
        prop::collection::vec(piece, 0..60).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn finding_a_prompt_never_panics(
            text in source(),
            language in prop::sample::select(vec!["rust", "python", "lua", "html", "sql", "haskell", "plaintext"]),
            a in 0usize..12,
            b in 0usize..12,
        ) {
            let rope = Rope::from_str(&text);
            for target in [Target::Cursor(a), Target::Lines(a.min(b), a.max(b))] {
                if let Some(found) = find(&rope, language, target) {
                    prop_assert!(found.first_line <= found.last_line && found.last_line < rope.len_lines());
                    prop_assert!(found.indent.chars().all(|c| c == ' ' || c == '\t'));
                    let again = find_again(&rope, language, target, &found.text);
                    prop_assert_eq!(again.map(|p| p.text), Some(found.text));
                }
            }
        }
    }

    /// A document of several checkpoints' worth of lines made of [`source`]
    /// pieces: comments and strings that span checkpoints.
    fn long_source() -> impl Strategy<Value = String> {
        prop::collection::vec(source(), 40..120).prop_map(|parts| {
            let text = parts.concat();
            // Lines enough to pass a few checkpoints.
            let mut long = String::new();
            while long.matches('\n').count() < 3 * CHECKPOINT_EVERY {
                long.push_str(&text);
                long.push_str("\n/* spans\n");
            }
            long
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn checkpoints_find_what_lexing_from_the_top_finds(
            text in long_source(),
            language in prop::sample::select(vec!["rust", "python", "lua", "javascript", "haskell"]),
            lines in prop::collection::vec(0usize..2_000, 1..12),
            edit_line in 0usize..1_000,
        ) {
            let docs = crate::documents::Documents::new();
            docs.open("file:///t", language, 1, &text);
            for round in 0..2 {
                let doc = docs.snapshot("file:///t").unwrap();
                let n_lines = doc.rope.len_lines();
                // One cache for every query of this version, in any order.
                for &line in &lines {
                    let target = Target::Cursor(line % n_lines);
                    prop_assert_eq!(doc.find_prompt(target), find(&doc.rope, language, target), "line {} round {}", line % n_lines, round);
                }
                // An edit keeps the checkpoints above it only.
                let at = crate::documents::Pos::new((edit_line % n_lines) as u32, 0);
                let change = crate::documents::Change { range: Some((at, at)), text: "/* x\n\"y\n".to_owned() };
                docs.change("file:///t", 2 + round, &[change], crate::documents::Encoding::Utf16).unwrap();
            }
        }
    }
}

#[test]
fn a_code_action_at_the_end_of_a_long_file_lexes_from_a_checkpoint() {
    let docs = crate::documents::Documents::new();
    let mut text = "x = 1\n".repeat(100_000);
    text.push_str("# reverse a string\n");
    docs.open("file:///big.py", "python", 1, &text);
    let doc = docs.snapshot("file:///big.py").unwrap();
    let found = doc.find_prompt(Target::Cursor(100_000)).unwrap();
    assert_eq!(found.text, "reverse a string");
    assert_eq!(
        doc.lex.len(),
        100_000 / CHECKPOINT_EVERY + 1,
        "the first search leaves a checkpoint every {CHECKPOINT_EVERY} lines"
    );
    // Typing at the end keeps every checkpoint before it.
    let end = crate::documents::Pos::new(100_000, 18);
    let typing = crate::documents::Change { range: Some((end, end)), text: " in place".to_owned() };
    docs.change("file:///big.py", 2, &[typing], crate::documents::Encoding::Utf16).unwrap();
    let doc = docs.snapshot("file:///big.py").unwrap();
    assert_eq!(doc.lex.len(), 100_000 / CHECKPOINT_EVERY + 1);
    assert_eq!(doc.find_prompt(Target::Cursor(100_000)).unwrap().text, "reverse a string in place");
    // An edit in the middle keeps the checkpoints above it; the old
    // version's snapshot keeps all of its own.
    let middle = crate::documents::Pos::new(50_000, 0);
    let opening = crate::documents::Change { range: Some((middle, middle)), text: "\"\"\"\n".to_owned() };
    docs.change("file:///big.py", 3, &[opening], crate::documents::Encoding::Utf16).unwrap();
    let edited = docs.snapshot("file:///big.py").unwrap();
    assert_eq!(edited.lex.len(), 50_000 / CHECKPOINT_EVERY + 1);
    assert_eq!(doc.lex.len(), 100_000 / CHECKPOINT_EVERY + 1);
    // The prompt is now the docstring opened at line 50,000: found by
    // going back checkpoint by checkpoint to where it begins.
    let found = edited.find_prompt(Target::Cursor(100_001)).unwrap();
    assert_eq!((found.first_line, found.last_line), (50_000, 100_002));
    assert_eq!(Some(found), find(&edited.rope, "python", Target::Cursor(100_001)));
}

/// `inside_at` on a fixture whose `|` marks the cursor.
fn inside(lang: &str, src: &str) -> Inside {
    let at = src.find('|').expect("a cursor marker");
    let text = src.replacen('|', "", 1);
    let rope = Rope::from_str(&text);
    let line = text[..at].matches('\n').count();
    let col = at - text[..at].rfind('\n').map_or(0, |i| i + 1);
    let plain = inside_at(&rope, lang, line, col, None);
    let cache = LexCache::default();
    assert_eq!(inside_at(&rope, lang, line, col, Some(&cache)), plain, "the cache changes nothing");
    assert_eq!(inside_at(&rope, lang, line, col, Some(&cache)), plain, "nor does a filled one");
    plain
}

#[test]
fn cursor_in_code_comment_or_string() {
    assert_eq!(inside("python", "def f(x):\n    return x|\n"), Inside::Code);
    assert_eq!(inside("python", "x = 1  # a note|\n"), Inside::Comment);
    assert_eq!(inside("python", "x = \"abc|\"\n"), Inside::String);
    assert_eq!(inside("python", "x = \"abc\"|\n"), Inside::Code);
    assert_eq!(inside("python", "x = '#'|\n"), Inside::Code);
    assert_eq!(inside("python", "def f():\n    \"\"\"Doc\n    more|\n    \"\"\"\n"), Inside::Comment);
    assert_eq!(inside("python", "s = f(\"\"\"\nline|\n\"\"\")\n"), Inside::String);
    assert_eq!(inside("rust", "/* a\n b| */ fn f() {}\n"), Inside::Comment);
    assert_eq!(inside("rust", "/* a\n b */ fn f() {|}\n"), Inside::Code);
    assert_eq!(inside("rust", "let s = \"é|\";\n"), Inside::String);
    assert_eq!(inside("javascript", "const t = `a\n${b}|`;\n"), Inside::String);
    // A shebang line is no place for code; Rust's inner attribute is code.
    assert_eq!(inside("python", "#!/usr/bin/env py|\n"), Inside::Comment);
    assert_eq!(inside("rust", "#![allow(dead_code)]|\n"), Inside::Code);
}

#[test]
fn cursor_context_far_down_uses_checkpoints() {
    let mut text = String::from("/*\n");
    for i in 0..(CHECKPOINT_EVERY * 3) {
        text.push_str(&format!("line {i}\n"));
    }
    text.push_str("*/\nint x = 1;\n");
    let rope = Rope::from_str(&text);
    let cache = LexCache::default();
    let last = rope.len_lines() - 2;
    assert_eq!(inside_at(&rope, "c", last, 5, Some(&cache)), Inside::Code);
    assert!(cache.len() >= 3, "checkpoints were kept: {}", cache.len());
    assert_eq!(inside_at(&rope, "c", last - 2, 2, Some(&cache)), Inside::Comment, "inside the long block");
    assert_eq!(inside_at(&rope, "c", last, 5, Some(&cache)), Inside::Code);
}
