use super::*;

/// The shape at the `|` of a fixture, and the text after the cursor.
fn at(src: &str) -> (Shape, String) {
    let at = src.find('|').expect("a cursor marker");
    let text = src.replacen('|', "", 1);
    let rope = Rope::from_str(&text);
    let offset = text[..at].chars().count();
    (Shape::at(&rope, offset, 12), text[at..].to_owned())
}

fn suggest(src: &str, model_says: &str) -> String {
    let (shape, suffix) = at(src);
    trim_overlap(model_says, &shape, &suffix)
}

#[test]
fn inside_a_line_only_the_rest_of_the_line() {
    assert_eq!(suggest("x = max(|)\n", "a, b)\ny = 2\n"), "a, b");
    assert_eq!(suggest("print(\"|\")\n", "hello\")"), "hello");
    // A closing bracket of the suggestion that the line does not hold stays.
    assert_eq!(suggest("f(g(|))\n", "x)"), "x");
    assert_eq!(suggest("f(|):\n", "x)"), "x");
    // Letters are only cut when they are the whole rest of the line.
    assert_eq!(suggest("a = |b\n", "1 + b"), "1 + ");
    assert_eq!(suggest("a = |bc\n", "xb"), "xb");
}

#[test]
fn after_code_on_the_line_the_statement_ends_with_the_line() {
    assert_eq!(suggest("numbers = [1, 2|\n", ", 3]\nprint(numbers)\n"), ", 3]");
    assert_eq!(suggest("total = |", "a + b\n    return total"), "a + b");
    // The line is complete: the suggestion starts the next one.
    assert_eq!(suggest("def f(x):|", "\n    return x\n\ny = 1"), "\n    return x");
    let (shape, _) = at("x = [1,|");
    assert_eq!(boundary(" 2", &shape), None, "still on the line");
    assert_eq!(boundary(" 2]\n", &shape), Some(3));
}

#[test]
fn a_block_ends_where_its_indentation_does() {
    let src = "def add(a, b):|\n";
    assert_eq!(suggest(src, "\n    return a + b\n\ndef sub(a, b):\n    return a - b\n"), "\n    return a + b");
    // Inside a body: statements at the same level go on, a dedent ends it.
    let src = "def f(xs):\n    total = 0\n    |\n";
    assert_eq!(
        suggest(src, "for x in xs:\n        total += x\n    return total\n\nprint(f([1]))\n"),
        "for x in xs:\n        total += x\n    return total"
    );
    // At the top level, a blank line ends a run of statements.
    assert_eq!(suggest("import os\n|", "import sys\n\nprint(os.name)\n"), "import sys");
    // Two blank lines end anything.
    let src = "class A:\n    |";
    assert_eq!(suggest(src, "x = 1\n\n\n    y = 2"), "x = 1");
}

#[test]
fn boundary_waits_for_a_line_to_show_its_indentation() {
    let (shape, _) = at("def f():|\n");
    assert_eq!(boundary("\n    return 1", &shape), None);
    assert_eq!(boundary("\n    return 1\n", &shape), None, "the next line may still be in the block");
    assert_eq!(boundary("\n    return 1\n  ", &shape), None, "only spaces so far");
    assert_eq!(boundary("\n    return 1\nx", &shape), Some("\n    return 1".len()));
    let (shape, _) = at("x = [|]\n");
    assert_eq!(boundary("1, 2", &shape), None);
    assert_eq!(boundary("1, 2]\nmore", &shape), Some(5));
}

#[test]
fn the_line_limit_ends_long_suggestions() {
    let (mut shape, suffix) = at("def f():|\n");
    shape.max_lines = 3;
    let long: String = (0..10).map(|i| format!("\n    x{i} = {i}")).collect();
    assert_eq!(trim_overlap(&long, &shape, &suffix), "\n    x0 = 0\n    x1 = 1");
}

#[test]
fn lines_that_follow_the_cursor_are_not_suggested_again() {
    let src = "def f(x):\n    |\n    return y\n";
    assert_eq!(suggest(src, "y = x * 2\n    return y"), "y = x * 2");
    // Nothing new: nothing to suggest.
    assert_eq!(suggest(src, "return y"), "");
    // Trailing white space is dropped.
    assert_eq!(suggest("def f():|", "\n    pass\n\n"), "\n    pass");
}

#[test]
fn the_window_keeps_its_start_while_the_user_types() {
    let mut text: String = (0..400).map(|i| format!("line_{i} = {i}\n")).collect();
    let rope = Rope::from_str(&text);
    let end = rope.len_chars();
    let w = Window::around(&rope, end, 1000, 100, None);
    assert!(w.prefix.len() <= 1000 && w.prefix.len() >= 600, "{}", w.prefix.len());
    assert!(w.prefix.starts_with("line_"), "starts at a line: {:?}", &w.prefix[..20]);
    assert_eq!(w.suffix, "");
    // Typing a few characters keeps the start: the prompt grows at its end.
    text.push_str("def ");
    let rope = Rope::from_str(&text);
    let w2 = Window::around(&rope, rope.len_chars(), 1000, 100, Some(w.anchor));
    assert_eq!(w2.anchor, w.anchor);
    assert_eq!(w2.prefix, format!("{}def ", w.prefix));
    // Past the budget it moves to a later line start.
    text.push_str(&"x".repeat(600));
    let rope = Rope::from_str(&text);
    let w3 = Window::around(&rope, rope.len_chars(), 1000, 100, Some(w.anchor));
    assert!(w3.anchor > w.anchor && w3.prefix.chars().count() <= 1000);
    // A stale anchor inside a line is not used.
    let w4 = Window::around(&rope, rope.len_chars(), 1000, 100, Some(w.anchor + 1));
    assert_eq!(rope.line_to_char(rope.char_to_line(w4.anchor)), w4.anchor);
}

#[test]
fn the_suffix_ends_at_a_line_end() {
    let text = "a = 1\nb = 2\nc = 3\nd = 4\n";
    let rope = Rope::from_str(text);
    let w = Window::around(&rope, 4, 100, 9, None);
    assert_eq!(w.prefix, "a = ");
    assert_eq!(w.line_start, 0);
    assert_eq!(w.suffix, "1\nb = 2\n");
    let w = Window::around(&rope, 4, 100, 0, None);
    assert_eq!(w.suffix, "");
    let w = Window::around(&rope, 4, 100, 1000, None);
    assert_eq!(w.suffix, "1\nb = 2\nc = 3\nd = 4\n");
    // The cursor's line is marked in the prefix.
    let w = Window::around(&rope, 10, 100, 0, None);
    assert_eq!((&w.prefix[..w.line_start], &w.prefix[w.line_start..]), ("a = 1\n", "b = "));
    // A line that starts before the window: all of the prefix is that line.
    let long = format!("x = [{}]\n", "1, ".repeat(100));
    let rope = Rope::from_str(&long);
    let w = Window::around(&rope, 200, 100, 0, None);
    assert_eq!((w.line_start, w.prefix.chars().count()), (0, 75));
}

#[test]
fn typing_through_a_suggestion_answers_from_memory() {
    let last = Last { model: "m".into(), prefix: "def f(".into(), suffix: "\n".into(), text: "a, b):".into() };
    let w =
        |prefix: &str, suffix: &str| Window { anchor: 0, prefix: prefix.into(), line_start: 0, suffix: suffix.into() };
    assert_eq!(typed_through(&last, "m", &w("def f(a", "\n")).as_deref(), Some(", b):"));
    assert_eq!(typed_through(&last, "m", &w("def f(", "\n")).as_deref(), Some("a, b):"), "asked again");
    let none = Last { text: String::new(), ..last.clone() };
    assert_eq!(typed_through(&none, "m", &w("def f(", "\n")).as_deref(), Some(""), "no answer is an answer");
    assert_eq!(typed_through(&last, "m", &w("def f(x", "\n")), None, "typed something else");
    assert_eq!(typed_through(&last, "m", &w("def f(a", "\nmore\n")), None, "the text after changed");
    assert_eq!(typed_through(&last, "other", &w("def f(a", "\n")), None, "another model");
    assert_eq!(typed_through(&last, "m", &w("def f(a, b):", "\n")), None, "all of it typed");
}

#[test]
fn a_newer_request_cancels_the_one_before() {
    let c = Completer::new();
    let first = c.begin();
    assert!(!first.is_cancelled());
    let second = c.begin();
    assert!(first.is_cancelled(), "superseded");
    assert!(!second.is_cancelled());
}

#[test]
fn the_budget_counts_model_calls_per_minute() {
    let c = Completer::new();
    assert!(c.spend(2));
    assert!(c.spend(2));
    assert!(!c.spend(2), "the third call in a minute is refused");
    assert!(c.spend(3));
}
