//! Comment and string syntax per language, as data.
//!
//! Only what is needed to tell comments from code and strings: line-comment
//! markers, block-comment pairs and string delimiters. Languages are looked
//! up by LSP language id (and a few common aliases); anything else gets a
//! fallback that knows the most common markers.

/// A block comment: `open … close`.
#[derive(Debug, Clone, Copy)]
pub struct Block {
    pub open: &'static str,
    pub close: &'static str,
    /// Blocks of this kind nest (`/* /* */ */` in Rust, `{- {- -} -}`).
    pub nested: bool,
    /// Only opens when nothing but whitespace precedes it on the line
    /// (Python docstrings, Ruby `=begin`).
    pub line_start: bool,
}

/// A string literal: `open … close`.
#[derive(Debug, Clone, Copy)]
pub struct Str {
    pub open: &'static str,
    pub close: &'static str,
    /// A backslash escapes the next character.
    pub escapes: bool,
    /// May span lines (otherwise it ends at the end of the line).
    pub multiline: bool,
    /// A short character literal: only a string when it closes within a few
    /// characters (`'a'`, `'\n'`); otherwise plain code (Rust lifetimes).
    pub char_literal: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct Syntax {
    pub line: &'static [&'static str],
    pub blocks: &'static [Block],
    pub strings: &'static [Str],
    /// Line comments start only at the beginning of a word (shell `#`,
    /// which also appears in `$#` and `${#x}`).
    pub line_needs_word_start: bool,
}

const fn b(open: &'static str, close: &'static str) -> Block {
    Block { open, close, nested: false, line_start: false }
}
const fn nested(open: &'static str, close: &'static str) -> Block {
    Block { open, close, nested: true, line_start: false }
}
const fn at_line_start(open: &'static str, close: &'static str) -> Block {
    Block { open, close, nested: false, line_start: true }
}
const fn s(q: &'static str) -> Str {
    Str { open: q, close: q, escapes: true, multiline: false, char_literal: false }
}
const fn raw(q: &'static str) -> Str {
    Str { open: q, close: q, escapes: false, multiline: false, char_literal: false }
}
const fn multi(q: &'static str) -> Str {
    Str { open: q, close: q, escapes: true, multiline: true, char_literal: false }
}
const fn raw_multi(q: &'static str) -> Str {
    Str { open: q, close: q, escapes: false, multiline: true, char_literal: false }
}
const CHAR: Str = Str { open: "'", close: "'", escapes: true, multiline: false, char_literal: true };

const C_BLOCK: &[Block] = &[b("/*", "*/")];
const C_NESTED: &[Block] = &[nested("/*", "*/")];
const SLASHES: &[&str] = &["//"];
const HASH: &[&str] = &["#"];
const DASHES: &[&str] = &["--"];
const SEMI: &[&str] = &[";"];
const PERCENT: &[&str] = &["%"];
const DQ_CHAR: &[Str] = &[s("\""), CHAR];
const DQ_SQ: &[Str] = &[s("\""), s("'")];

const fn syn(line: &'static [&'static str], blocks: &'static [Block], strings: &'static [Str]) -> Syntax {
    Syntax { line, blocks, strings, line_needs_word_start: false }
}

pub const C_LIKE: Syntax = syn(SLASHES, C_BLOCK, DQ_CHAR);
const RUST: Syntax = syn(SLASHES, C_NESTED, &[s("\""), CHAR]);
const JS: Syntax = syn(SLASHES, C_BLOCK, &[multi("`"), s("\""), s("'")]);
const GO: Syntax = syn(SLASHES, C_BLOCK, &[raw_multi("`"), s("\""), CHAR]);
const JVM: Syntax = syn(SLASHES, C_BLOCK, &[multi("\"\"\""), s("\""), CHAR]);
const SCALA: Syntax = syn(SLASHES, C_NESTED, &[multi("\"\"\""), s("\""), CHAR]);
const SWIFT: Syntax = syn(SLASHES, C_NESTED, &[multi("\"\"\""), s("\"")]);
const CSHARP: Syntax = syn(SLASHES, C_BLOCK, &[raw_multi("\"\"\""), s("\""), CHAR]);
const DART: Syntax = syn(SLASHES, C_NESTED, &[multi("\"\"\""), multi("'''"), s("\""), s("'")]);
const PYTHON: Syntax = syn(
    HASH,
    &[at_line_start("\"\"\"", "\"\"\""), at_line_start("'''", "'''")],
    &[multi("\"\"\""), multi("'''"), s("\""), s("'")],
);
const RUBY: Syntax =
    Syntax { line: HASH, blocks: &[at_line_start("=begin", "=end")], strings: DQ_SQ, line_needs_word_start: false };
const SHELL: Syntax = Syntax { line: HASH, blocks: &[], strings: DQ_SQ, line_needs_word_start: true };
const PERL: Syntax = Syntax { line: HASH, blocks: &[], strings: DQ_SQ, line_needs_word_start: true };
const HASH_ONLY: Syntax = syn(HASH, &[], DQ_SQ);
const R: Syntax = syn(HASH, &[], &[s("\""), s("'"), raw("`")]);
const JULIA: Syntax = syn(HASH, &[nested("#=", "=#")], &[multi("\"\"\""), s("\""), CHAR]);
const PHP: Syntax = syn(&["//", "#"], C_BLOCK, DQ_SQ);
const LUA: Syntax =
    syn(DASHES, &[b("--[==[", "]==]"), b("--[=[", "]=]"), b("--[[", "]]")], &[raw_multi("[["), s("\""), s("'")]);
const SQL: Syntax = syn(DASHES, C_BLOCK, &[raw("'"), s("\""), raw("`")]);
const HASKELL: Syntax = syn(DASHES, &[nested("{-", "-}")], &[s("\""), CHAR]);
const ADA: Syntax = syn(DASHES, &[], &[s("\"")]);
const XML: Syntax = syn(&[], &[b("<!--", "-->")], &[]);
const CSS: Syntax = syn(&[], C_BLOCK, DQ_SQ);
const SCSS: Syntax = syn(SLASHES, C_BLOCK, DQ_SQ);
const LISP: Syntax = syn(SEMI, &[nested("#|", "|#")], &[multi("\"")]);
const CLOJURE: Syntax = syn(SEMI, &[], &[multi("\"")]);
const INI: Syntax = syn(&[";", "#"], &[], DQ_SQ);
const ASM: Syntax = syn(&[";", "#"], &[], DQ_SQ);
const ERLANG: Syntax = syn(PERCENT, &[], &[s("\"")]);
const MATLAB: Syntax = syn(PERCENT, &[at_line_start("%{", "%}")], &[s("\""), raw("'")]);
const TEX: Syntax = Syntax { line: PERCENT, blocks: &[], strings: &[], line_needs_word_start: false };
const OCAML: Syntax = syn(&[], &[nested("(*", "*)")], &[s("\"")]);
const FSHARP: Syntax = syn(SLASHES, &[nested("(*", "*)")], &[multi("\"\"\""), s("\"")]);
const VB: Syntax = syn(&["'"], &[], &[raw("\"")]);
const VIM: Syntax = syn(&["\""], &[], &[raw("'")]);
const POWERSHELL: Syntax =
    Syntax { line: HASH, blocks: &[b("<#", "#>")], strings: &[s("\""), raw("'")], line_needs_word_start: true };
const ELIXIR: Syntax = syn(HASH, &[], &[multi("\"\"\""), s("\""), s("'")]);
const NIM: Syntax = syn(HASH, &[nested("#[", "]#")], &[multi("\"\"\""), s("\""), CHAR]);
const HCL: Syntax = syn(&["#", "//"], C_BLOCK, &[s("\"")]);
const NIX: Syntax = syn(HASH, C_BLOCK, &[s("\""), raw_multi("''")]);
const FORTRAN: Syntax = syn(&["!"], &[], DQ_SQ);
const ZIG: Syntax = syn(SLASHES, &[], &[s("\""), CHAR]);
const MARKDOWN: Syntax = syn(&[], &[b("<!--", "-->")], &[]);
const VUE: Syntax = syn(SLASHES, &[b("<!--", "-->"), b("/*", "*/")], &[multi("`"), s("\""), s("'")]);

/// For an unknown language: the markers most languages use.
pub const FALLBACK: Syntax = Syntax {
    line: &["//", "#", "--", ";"],
    blocks: &[b("/*", "*/"), b("<!--", "-->")],
    strings: DQ_SQ,
    line_needs_word_start: true,
};

/// The syntax for an LSP language id (case-insensitive), or the fallback.
pub fn for_language(language_id: &str) -> Syntax {
    lookup(&language_id.to_ascii_lowercase()).unwrap_or(FALLBACK)
}

/// Whether a language id is known (not served by the fallback).
pub fn is_known(language_id: &str) -> bool {
    lookup(&language_id.to_ascii_lowercase()).is_some()
}

fn lookup(id: &str) -> Option<Syntax> {
    Some(match id {
        "c" | "cpp" | "c++" | "cuda-cpp" | "objective-c" | "objective-cpp" | "java" | "kotlin" | "groovy" | "glsl"
        | "hlsl" | "solidity" | "proto" | "proto3" | "protobuf" | "d" | "jsonc" | "arduino" => {
            if matches!(id, "java" | "kotlin" | "groovy") { JVM } else { C_LIKE }
        }
        "rust" => RUST,
        "javascript" | "javascriptreact" | "typescript" | "typescriptreact" | "js" | "ts" | "jsx" | "tsx" => JS,
        "svelte" | "vue" | "astro" => VUE,
        "go" => GO,
        "csharp" | "cs" => CSHARP,
        "scala" => SCALA,
        "swift" => SWIFT,
        "dart" => DART,
        "python" | "py" | "starlark" | "bazel" | "gdscript" | "mojo" => PYTHON,
        "ruby" | "rb" | "crystal" => RUBY,
        "shellscript" | "sh" | "bash" | "zsh" | "fish" | "ksh" => SHELL,
        "perl" | "perl6" | "raku" => PERL,
        "yaml" | "toml" | "dockerfile" | "makefile" | "cmake" | "graphql" | "coffeescript" | "gitignore" | "ignore"
        | "properties" | "conf" | "tcl" | "awk" | "just" => HASH_ONLY,
        "r" | "rmd" => R,
        "julia" => JULIA,
        "php" => PHP,
        "lua" | "luau" => LUA,
        "sql" | "mysql" | "postgres" | "plsql" | "pgsql" | "sqlite" => SQL,
        "haskell" | "elm" | "purescript" | "idris" | "agda" => HASKELL,
        "ada" | "vhdl" => ADA,
        "html" | "xml" | "xsl" | "svg" | "vue-html" | "razor" => XML,
        "markdown" | "mdx" => MARKDOWN,
        "css" => CSS,
        "scss" | "less" | "sass" => SCSS,
        "lisp" | "commonlisp" | "scheme" | "racket" | "emacs-lisp" | "elisp" | "fennel" => LISP,
        "clojure" | "edn" => CLOJURE,
        "ini" | "editorconfig" | "systemd" => INI,
        "asm" | "nasm" | "gas" | "assembly" => ASM,
        "erlang" | "prolog" => ERLANG,
        "matlab" | "octave" => MATLAB,
        "latex" | "tex" | "bibtex" => TEX,
        "ocaml" | "reason" | "pascal" | "sml" => OCAML,
        "fsharp" => FSHARP,
        "vb" | "vbnet" | "vba" | "vbscript" => VB,
        "vim" | "viml" => VIM,
        "powershell" | "ps1" => POWERSHELL,
        "elixir" => ELIXIR,
        "nim" => NIM,
        "terraform" | "hcl" | "terraform-vars" => HCL,
        "nix" => NIX,
        "fortran" | "fortran-modern" => FORTRAN,
        "zig" => ZIG,
        _ => return None,
    })
}
